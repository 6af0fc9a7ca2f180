"""The centre's HTTP API and dashboard routes (FastAPI).

Every ``/api`` route but the session's needs a token (``Authorization: Bearer ...`` or
the session cookie set by ``POST /api/session``) whose role grants the route's
permission; the page, its static files, ``/healthz``, ``/metrics`` (for the scraper) and
the OpenAPI docs answer without one. Refusals are plain:
401 without a valid token, 403 naming the role and what it may not do, 404 for unknown
ids, 409 for a change in the wrong state, 413 for a body over the size limit (before it
is parsed), 422 for malformed bodies and for plans that break a junction's safety rules
(with the field and the rule). Refusals quote what was sent only as a short prefix.

Tokens are long-lived API keys (see ``centre.auth``): logging out drops the session
cookie in that browser and revokes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from centre import schemas
from centre.auth import GRANTS, Permission, User
from centre.desk import SHOWN_CHARS, ChangeConflict, UnknownItem, shown
from centre.preview import (POLL_S, NothingToPreview, PreviewCancelled, PreviewFailed,
                            PreviewJob, run_preview)
from centre.safety import PlanRefused, Refusal, check_greens, released_conflicts
from centre.service import Centre

log = logging.getLogger("nhip.centre.api")

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "nhip_session"
KEEPALIVE_S = 15.0

TAGS = [
    {"name": "session", "description": "Log in and out; who am I."},
    {"name": "junctions", "description": "Junctions, their live state and charts."},
    {"name": "plans", "description": "Plan changes: propose, preview, approve, reject."},
    {"name": "incidents", "description": "Incidents and violations from the incident bus."},
    {"name": "audit", "description": "The hash-chained audit log of every write."},
    {"name": "live", "description": "Server-sent events for dashboards."},
    {"name": "operations", "description": "Health and Prometheus metrics."},
]


def create_app(centre: Centre, manage_lifecycle: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if manage_lifecycle:
            centre.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                centre.stop()

    app = FastAPI(
        title="Nhịp traffic centre",
        version="1",
        description="Operator API of the Đồng Nai signal centre: live junction state, "
                    "plan changes with approval and SUMO preview, incidents, audit.",
        openapi_tags=TAGS, lifespan=lifespan,
        responses={401: {"model": schemas.Problem, "description": "No valid token"},
                   403: {"model": schemas.Problem,
                         "description": "The caller's role lacks the permission"},
                   413: {"model": schemas.Problem,
                         "description": "The request body is over the size limit"}})
    app.state.centre = centre
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _errors(app)
    # Added before the metrics middleware, so it runs inside it and 413s are counted.
    app.add_middleware(BodyLimit, max_bytes=centre.settings.max_body_bytes)
    app.add_middleware(RequestMetrics, centre=centre)
    _session_routes(app, centre)
    _junction_routes(app, centre)
    _plan_routes(app, centre)
    _incident_routes(app, centre)
    _other_routes(app, centre)
    return app


# Request size -----------------------------------------------------------------------

class BodyTooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes an HTTPException on as it is."""


class BodyLimit:
    """Refuses a request body over ``max_bytes`` with 413 before anything parses it: at
    once when Content-Length says so, and as soon as a chunked body passes the limit."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(scope, send, 400, "Content-Length is not a number")
                return
            if int(declared) > self.max_bytes:
                await self._refuse(scope, send, 413, self._message(int(declared)))
                return
        received = 0
        started = False

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(413, self._message(None))
            return message

        async def watched(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            # Normally answered by the app's HTTPException handler; this is for a body
            # read where no handler stands between (a middleware, a streaming route).
            if not started:
                await self._refuse(scope, send, 413, self._message(None))

    def _message(self, size: int | None) -> str:
        if size is None:
            return f"the request body is over the limit of {self.max_bytes} bytes"
        return (f"the request body of {size} bytes is over the limit of "
                f"{self.max_bytes} bytes")

    async def _refuse(self, scope, send, status: int, message: str) -> None:
        response = JSONResponse({"detail": message}, status_code=status,
                                headers={"Connection": "close"})
        await response(scope, _no_body, send)


async def _no_body() -> dict:
    return {"type": "http.request", "body": b"", "more_body": False}


# Authentication ---------------------------------------------------------------------

def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get(COOKIE)


def need(permission: Permission):
    """A dependency that returns the caller if their role grants ``permission``."""

    def check(request: Request) -> User:
        centre: Centre = request.app.state.centre
        user = centre.users.authenticate(_token(request))
        if user is None:
            raise HTTPException(401, "a valid token is required (Authorization: Bearer "
                                "TOKEN, or log in)", headers={"WWW-Authenticate": "Bearer"})
        request.state.user = user
        if not user.may(permission):
            allowed = ", ".join(sorted(r.value for r in GRANTS[permission]))
            raise HTTPException(403, f"role {user.role.value} may not {permission.value} "
                                f"(allowed: {allowed})")
        return user

    return Depends(check)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(PlanRefused)
    async def refused(request: Request, exc: PlanRefused) -> JSONResponse:
        detail = [{"loc": [*exc.where, *r.field], "msg": r.message,
                   "type": f"safety.{r.rule}"} for r in exc.refusals]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = []
        for error in exc.errors():
            error = dict(error)
            # A NaN or Infinity sent in would make the answer itself invalid JSON.
            if not _all_finite(error.get("input")):
                del error["input"]
            elif "input" in error:
                error["input"] = _prefix(error["input"])
            error["loc"] = [_prefix(part) if isinstance(part, str) else part
                            for part in error.get("loc", ())]
            detail.append(error)
        return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)

    @app.exception_handler(UnknownItem)
    async def unknown(request: Request, exc: UnknownItem) -> JSONResponse:
        return JSONResponse({"detail": exc.args[0]}, status_code=404)

    @app.exception_handler(ChangeConflict)
    async def conflict(request: Request, exc: ChangeConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)


class RequestMetrics:
    """Counts and times every request and logs writes and refusals, one line each.

    A plain ASGI layer rather than ``@app.middleware("http")``: that one hands the
    endpoint a receive channel on which a client's disconnect never shows, so a preview
    whose asker left could not be stopped."""

    def __init__(self, app, centre: Centre) -> None:
        self.app = app
        self.centre = centre

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def watched(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope, status: int, elapsed: float) -> None:
        method = scope["method"]
        template = getattr(scope.get("route"), "path", "unmatched")
        self.centre.metrics.observe_request(method, template, status, elapsed)
        user = (scope.get("state") or {}).get("user")
        # Writes and refusals at INFO, one line each; plain reads only at DEBUG.
        level = logging.INFO if method != "GET" or status >= 400 else logging.DEBUG
        log.log(level, "%s %s -> %d", method, template, status,
                extra={"method": method, "route": template, "path": scope["path"],
                       "status": status, "ms": round(elapsed * 1000, 2),
                       "user": user.name if user else None,
                       "role": user.role.value if user else None})


# Routes -------------------------------------------------------------------------------

def _user_out(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role.value,
            "permissions": [p.name.lower() for p in Permission if user.may(p)],
            "junctions": None if user.junctions is None else sorted(user.junctions)}


def _session_routes(app: FastAPI, centre: Centre) -> None:
    @app.post("/api/session", tags=["session"], response_model=schemas.UserOut,
              responses={401: {"model": schemas.Problem}})
    def log_in(body: schemas.LoginRequest, response: Response) -> dict[str, Any]:
        """Checks a token and keeps it in an HttpOnly, same-site session cookie."""
        user = centre.users.authenticate(body.token)
        if user is None:
            raise HTTPException(401, "unknown token")
        response.set_cookie(COOKIE, body.token, httponly=True, samesite="strict",
                            max_age=12 * 3600)
        log.info("%s logged in as %s", user.name, user.role.value)
        return _user_out(user)

    @app.delete("/api/session", tags=["session"], status_code=204)
    def log_out(response: Response) -> Response:
        """Drops this browser's session cookie. The token itself stays valid: tokens are
        long-lived API keys, revoked by taking the user out of the users file."""
        response.delete_cookie(COOKIE)
        response.status_code = 204
        return response

    @app.get("/api/me", tags=["session"], response_model=schemas.UserOut)
    def me(user: Annotated[User, need(Permission.READ_LIVE)]) -> dict[str, Any]:
        return _user_out(user)


def _junction_summary(centre: Centre, junction_id: str) -> dict[str, Any]:
    fj = centre.junctions[junction_id]
    geometry = centre.geometry[junction_id]
    layout = fj.layout
    return {
        "id": junction_id, "scenario": fj.scenario, "x": geometry.x, "y": geometry.y,
        "approaches": geometry.approaches,
        "phases": [{"id": p.id, "groups": list(p.group_ids), "min_green_s": p.min_green_s,
                    "max_green_s": p.max_green_s, "yellow_s": p.yellow_s,
                    "all_red_s": p.all_red_s} for p in layout.phases],
        "min_cycle_s": layout.min_cycle_s, "max_cycle_s": layout.max_cycle_s,
        "config": centre.desk.config(junction_id),
        "state": centre.hub.latest.get(junction_id),
    }


def _junction_routes(app: FastAPI, centre: Centre) -> None:
    @app.get("/api/junctions", tags=["junctions"])
    def junctions(user: Annotated[User, need(Permission.READ_LIVE)]) -> list[dict[str, Any]]:
        """Every junction with its layout, approved configuration and latest state."""
        return [_junction_summary(centre, j) for j in sorted(centre.junctions)]

    @app.get("/api/junctions/{junction_id}", tags=["junctions"],
             responses={404: {"model": schemas.Problem}})
    def junction(junction_id: str, user: Annotated[User, need(Permission.READ_LIVE)]) -> dict:
        centre.desk.layout(junction_id)
        return _junction_summary(centre, junction_id)

    @app.get("/api/junctions/{junction_id}/state", tags=["junctions"])
    def state(junction_id: str, user: Annotated[User, need(Permission.READ_LIVE)]) -> dict:
        """The newest state: phase, stage, time in stage, plan, signals, queues, delay."""
        centre.desk.layout(junction_id)
        latest = centre.hub.latest.get(junction_id)
        if latest is None:
            raise HTTPException(404, f"no state from junction {junction_id} yet")
        return latest

    @app.get("/api/junctions/{junction_id}/chart", tags=["junctions"])
    def chart(junction_id: str,
              user: Annotated[User, need(Permission.READ_LIVE)]) -> list[dict]:
        """Mean delay and longest queue every 10 simulated seconds, last hour."""
        centre.desk.layout(junction_id)
        return centre.hub.chart(junction_id)

    @app.post("/api/junctions/{junction_id}/state", tags=["junctions"], status_code=202)
    def report_state(junction_id: str, body: schemas.ControllerStateReport,
                     user: Annotated[User, need(Permission.PUSH_STATE)]) -> dict[str, Any]:
        """A field controller reports its state; dashboards see it like the simulation's.

        Signal groups shown green or yellow together although the junction's conflict
        matrix says they conflict are accepted (it is what the street shows) but raise
        an alarm: an ``alarm`` event on the stream, an error in the log, and
        ``conflicts`` in the state and in this answer.

        ``signals`` must give every signal group of the junction and no other, as the
        controller shows them all at every instant; a controller user that names the
        junctions it serves may report only for those (403)."""
        layout = centre.desk.layout(junction_id)
        if not user.serves(junction_id):
            raise HTTPException(403, f"controller {user.name} does not serve junction "
                                f"{junction_id} (it serves: "
                                f"{', '.join(sorted(user.junctions or ())) or 'none'})")
        _check_signals(junction_id, layout, body.signals)
        if body.phase_index >= len(layout.phases):
            raise PlanRefused([Refusal(("phase_index",), "phase_count",
                                       f"junction {junction_id} has {len(layout.phases)} "
                                       f"phases; index {body.phase_index} does not exist")])
        fj = centre.junctions[junction_id]
        conflicts = [list(pair) for pair in
                     released_conflicts(fj.conflicting_groups, body.signals)]
        event = {"type": "state", "junction_id": junction_id, "source": user.name,
                 "scenario": fj.scenario, "published_unix": time.time(),
                 "phase_id": layout.phases[body.phase_index].id, **body.model_dump(),
                 "conflicts": conflicts}
        centre.hub.publish(event)
        if conflicts:
            shown = "; ".join(f"{a} and {b}" for a, b in conflicts)
            log.error("junction %s: %s reports conflicting signal groups released "
                      "together: %s", junction_id, user.name, shown,
                      extra={"junction_id": junction_id, "conflicts": conflicts})
            centre.metrics.count("nhip_centre_conflict_alarms_total")
            centre.hub.publish({"type": "alarm", "rule": "conflict",
                                "junction_id": junction_id, "source": user.name,
                                "sim_time_s": body.sim_time_s, "conflicts": conflicts,
                                "published_unix": time.time(),
                                "message": f"{junction_id}: conflicting signal groups "
                                           f"released together: {shown}"})
        return {"status": "accepted", "conflicts": conflicts}


def _check_signals(junction_id: str, layout, signals: dict[str, str]) -> None:
    groups = [g.id for g in layout.groups]
    refusals = [Refusal(("signals", _prefix(name)), "signal_group",
                        f"junction {junction_id} has no signal group {shown(name)}")
                for name in signals if name not in groups]
    missing = [g for g in groups if g not in signals]
    if missing:
        refusals.append(Refusal(("signals",), "every_group",
                                f"a report gives every signal group of junction "
                                f"{junction_id}; missing: {', '.join(missing)}"))
    if refusals:
        raise PlanRefused(refusals)


def _plan_routes(app: FastAPI, centre: Centre) -> None:
    desk = centre.desk
    refusals = {404: {"model": schemas.Problem}, 403: {"model": schemas.Problem},
                422: {"model": schemas.Problem}}

    @app.put("/api/junctions/{junction_id}/plan", tags=["plans"],
             response_model=schemas.ChangeOut, responses=refusals)
    def set_plan(junction_id: str, body: schemas.PlanRequest,
                 user: Annotated[User, need(Permission.PROPOSE_PLAN)]) -> dict:
        """Proposes a manual plan. An operator's waits for a supervisor; a supervisor's
        is approved at once. It runs from the junction's next cycle."""
        return desk.propose(user, junction_id, "plan", body.model_dump(), body.note)

    @app.put("/api/junctions/{junction_id}/bounds", tags=["plans"],
             response_model=schemas.ChangeOut, responses=refusals)
    def set_bounds(junction_id: str, body: schemas.BoundsRequest,
                   user: Annotated[User, need(Permission.PROPOSE_PLAN)]) -> dict:
        """Narrows each phase's green range; adaptive plans are held inside it."""
        return desk.propose(user, junction_id, "bounds", body.model_dump(), body.note)

    @app.put("/api/junctions/{junction_id}/schedule", tags=["plans"],
             response_model=schemas.ChangeOut, responses=refusals)
    def set_schedule(junction_id: str, body: schemas.ScheduleRequest,
                     user: Annotated[User, need(Permission.PROPOSE_PLAN)]) -> dict:
        """A time-of-day schedule of plans (local time, UTC+7)."""
        return desk.propose(user, junction_id, "schedule", body.model_dump(), body.note)

    @app.put("/api/junctions/{junction_id}/mode", tags=["plans"],
             response_model=schemas.ChangeOut, responses=refusals)
    def set_mode(junction_id: str, body: schemas.ModeRequest,
                 user: Annotated[User, need(Permission.PROPOSE_PLAN)]) -> dict:
        """Switches between adaptive control, the manual plan and the schedule."""
        if body.mode == "adaptive" and centre.settings.optimizer_address is None:
            raise ChangeConflict("no optimizer is configured, so adaptive control is "
                                 "unavailable")
        return desk.propose(user, junction_id, "mode", body.model_dump(), body.note)

    @app.post("/api/junctions/{junction_id}/proposals/optimizer", tags=["plans"],
              response_model=schemas.ChangeOut, responses=refusals)
    def optimizer_proposal(junction_id: str,
                           user: Annotated[User, need(Permission.PROPOSE_PLAN)]) -> dict:
        """Asks the optimizer (Webster, on the last cycle's counts) for a plan and files
        it as a proposal for a supervisor to approve or reject."""
        layout = desk.layout(junction_id)
        state = centre.hub.latest.get(junction_id)
        if not state or not state.get("last_cycle_counts"):
            raise ChangeConflict(f"junction {junction_id} has not reported a full cycle "
                                 "of counts yet")
        greens, reason = optimizer_greens(layout, state["last_cycle_counts"],
                                          float(state.get("last_cycle_s") or 90.0),
                                          desk.config(junction_id).get("bounds"))
        return desk.propose(user, junction_id, "plan", {"greens_s": greens},
                            f"optimizer: {reason}", origin="optimizer")

    @app.post("/api/junctions/{junction_id}/plan/preview", tags=["plans"],
              response_model=schemas.PreviewResult, responses=refusals)
    async def preview(junction_id: str, body: schemas.PreviewRequest, request: Request,
                      user: Annotated[User, need(Permission.PROPOSE_PLAN)]) -> dict:
        """Runs the current and the proposed plan in SUMO on the junction's recent
        demand and returns both mean delays (about 10-30 s). A preview whose asker
        leaves is stopped."""
        job = await asyncio.to_thread(_preview_job, junction_id, body)
        if not await asyncio.to_thread(centre.preview_lock.acquire, True, 1.0):
            raise HTTPException(429, "another preview is running; try again shortly")
        gone = threading.Event()

        async def watch() -> None:
            while not gone.is_set():
                if await request.is_disconnected():
                    gone.set()
                    log.info("preview of %s stopped: its asker left", junction_id)
                    return
                await asyncio.sleep(POLL_S)

        watcher = asyncio.create_task(watch())
        try:
            result = await asyncio.to_thread(run_preview, job,
                                             centre.settings.preview_timeout_s, gone.is_set)
        except NothingToPreview as exc:
            raise ChangeConflict(str(exc)) from exc
        except PreviewCancelled as exc:
            raise HTTPException(499, str(exc)) from exc
        except PreviewFailed as exc:
            raise HTTPException(504, str(exc)) from exc
        finally:
            watcher.cancel()
            centre.preview_lock.release()
        result["delay_change_s"] = (result["candidate"]["mean_time_loss_s"]
                                    - result["current"]["mean_time_loss_s"])
        return result

    def _preview_job(junction_id: str, body: schemas.PreviewRequest) -> PreviewJob:
        """Checks a preview request against the junction and its field; the job to run."""
        layout = desk.layout(junction_id)
        config = desk.config(junction_id)
        candidate = check_greens(layout, body.greens_s, config.get("bounds"))
        fj = centre.junctions[junction_id]
        info = centre.field_info(fj.scenario)
        if not info.get("route_file"):
            raise ChangeConflict(f"the field of {fj.scenario} is not running; nothing to "
                                 "preview against")
        state = centre.hub.latest.get(junction_id) or {}
        current = (state.get("plan") or {}).get("greens_s") or config["greens_s"]
        # The window ends at the field's own clock: a field controller's report may carry
        # any clock, and the route file holds traffic still to come.
        field_time_s = centre.hub.field_time_s.get(junction_id)
        if field_time_s is None:
            raise ChangeConflict(f"the field of {fj.scenario} has not reported {junction_id} "
                                 "yet; nothing to preview against")
        return PreviewJob(fj.scenario, junction_id, info["route_file"], field_time_s,
                          body.window_s, tuple(current), tuple(candidate),
                          str(centre.settings.workdir / "preview" / f"{time.time_ns()}"),
                          centre.settings.seed)

    @app.get("/api/junctions/{junction_id}/plans", tags=["plans"],
             response_model=list[schemas.ChangeOut])
    def plan_history(junction_id: str,
                     user: Annotated[User, need(Permission.READ_LIVE)]) -> list:
        """Every plan change of the junction, newest first."""
        return desk.history(junction_id)

    @app.get("/api/plan-changes", tags=["plans"], response_model=list[schemas.ChangeOut])
    def pending(user: Annotated[User, need(Permission.READ_LIVE)]) -> list:
        """Changes waiting for a supervisor."""
        return desk.pending()

    @app.post("/api/plan-changes/{change_id}/approve", tags=["plans"],
              response_model=schemas.ChangeOut, responses=refusals)
    def approve(change_id: int, body: schemas.DecisionRequest,
                user: Annotated[User, need(Permission.APPROVE_PLAN)]) -> dict:
        return desk.approve(user, change_id, body.note)

    @app.post("/api/plan-changes/{change_id}/reject", tags=["plans"],
              response_model=schemas.ChangeOut, responses=refusals)
    def reject(change_id: int, body: schemas.RejectRequest,
               user: Annotated[User, need(Permission.APPROVE_PLAN)]) -> dict:
        return desk.reject(user, change_id, body.reason)


def optimizer_greens(layout, counts: dict[str, dict[str, float]], interval_s: float,
                     bounds: list[list[float]] | None = None) -> tuple[list[float], str]:
    """Webster greens from one interval's counts, by the optimizer's own code, held
    inside the junction's limits and the operators' bounds."""
    from controller.plans import registration
    from optimizer.junction import junction_from_request
    from optimizer.service import JunctionState, SignalOptimizerService
    from protos import optimizer_v1_pb2 as pb

    service = SignalOptimizerService()
    service.junctions[layout.tls_id] = JunctionState(
        junction_from_request(registration(layout, pb.WEBSTER)))
    request = pb.PlanRequest(
        junction_id=layout.tls_id, interval_s=max(interval_s, 1.0), policy=pb.WEBSTER,
        movements=[pb.MovementReport(signal_group_id=gid, counts=pb.ClassCounts(**c))
                   for gid, c in counts.items()])
    plan = service.plan(request)
    limits = bounds or [(p.min_green_s, p.max_green_s) for p in layout.phases]
    greens = [float(round(min(max(g.green_s, p.min_green_s, lo), p.max_green_s, hi)))
              for g, p, (lo, hi) in zip(plan.greens, layout.phases, limits)]
    return greens, plan.reason


def _incident_routes(app: FastAPI, centre: Centre) -> None:
    @app.get("/api/incidents", tags=["incidents"])
    def incidents(user: Annotated[User, need(Permission.READ_INCIDENTS)],
                  category: str | None = None, limit: int = 200) -> list[dict]:
        """Incidents and violations, newest first; ``category`` is incident or violation."""
        if category not in (None, "incident", "violation"):
            raise HTTPException(422, "category must be incident or violation")
        return centre.board.list(category, max(1, min(limit, 1000)))

    @app.post("/api/incidents/{incident_id}/ack", tags=["incidents"],
              responses={404: {"model": schemas.Problem}, 409: {"model": schemas.Problem}})
    def acknowledge(incident_id: str, body: schemas.AckRequest,
                    user: Annotated[User, need(Permission.ACK_INCIDENT)]) -> dict:
        return centre.board.acknowledge(user, incident_id, body.note)


def _other_routes(app: FastAPI, centre: Centre) -> None:
    @app.get("/api/audit", tags=["audit"], response_model=list[schemas.AuditEntry])
    def audit(user: Annotated[User, need(Permission.READ_AUDIT)], since: int = 0) -> list:
        return centre.audit.entries(max(since, 0))

    @app.get("/api/audit/verify", tags=["audit"], response_model=schemas.AuditCheck)
    def verify(user: Annotated[User, need(Permission.READ_AUDIT)]) -> dict:
        """Recomputes the hash chain; names the first entry that does not fit, and the
        store it read (``memory``: this process only, empty again after a restart)."""
        return {**vars(centre.audit.verify()), "store": centre.audit.store}

    @app.get("/api/audit/head", tags=["audit"])
    def head(user: Annotated[User, need(Permission.READ_AUDIT)]) -> dict:
        """The newest entry's hash: keep a copy elsewhere to detect a cut-off tail."""
        entries = centre.audit.entries()
        return {"entries": len(entries), "hash": entries[-1]["hash"] if entries else None}

    @app.get("/api/stream", tags=["live"])
    async def stream(request: Request, user: Annotated[User, need(Permission.READ_LIVE)]):
        """Server-sent events: a snapshot of every junction's state, then live events
        (state, change, applied, incident) as they happen."""
        inbox = centre.hub.subscribe()
        show_incidents = user.may(Permission.READ_INCIDENTS)

        async def events():
            try:
                for state in list(centre.hub.latest.values()):
                    yield _sse(state)
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(inbox.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if event.get("type") == "incident" and not show_incidents:
                        continue
                    yield _sse(event)
            finally:
                centre.hub.unsubscribe(inbox)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    def metrics() -> str:
        """Prometheus text format. Known limit: open to anyone who reaches the port; bind
        the centre to loopback or a management network."""
        return centre.metrics.render()

    @app.get("/healthz", tags=["operations"])
    def health() -> dict[str, Any]:
        return {"status": "ok", "junctions": len(centre.junctions),
                "live": sorted(centre.hub.latest)}

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html")


def _prefix(value: Any) -> Any:
    """A value sent in, as a refusal may quote it: whole when short, else the start of
    its text with an ellipsis."""
    text = value if isinstance(value, str) else json.dumps(jsonable_encoder(value))
    if len(text) <= SHOWN_CHARS:
        return value
    return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def _all_finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_all_finite(v) for v in value)
    return True


def _finite_or_null(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_null(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_null(v) for v in value]
    return value


def _sse(event: dict[str, Any]) -> str:
    # Browsers' JSON.parse rejects NaN and Infinity; such a value is sent as null. Each
    # event goes out once per subscriber, so the rare event carrying one is the only one
    # walked; the others are refused by the encoder itself at no extra cost.
    try:
        data = json.dumps(event, allow_nan=False)
    except ValueError:
        data = json.dumps(_finite_or_null(event))
    return f"event: {event.get('type', 'message')}\ndata: {data}\n\n"
