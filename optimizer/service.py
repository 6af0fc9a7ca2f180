"""The SignalOptimizer gRPC servicer: registration, plans and emergency corridors.

State per junction (layout, last plan, smoothed flows, corridor priority) lives in a
store (``optimizer.state_store``): this process's memory by default, or Redis, which lets
several replicas behind one load balancer serve the same junctions. Phase decisions keep
no state; they only read a corridor's priority.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import replace

import grpc

from optimizer.adaptive import adaptive_timing
from optimizer.bandwidth import plan_corridor_bands
from optimizer.decision import decide, reply_message, request_from_message
from optimizer.junction import (
    Demand,
    Junction,
    RequestError,
    finite,
    identifier,
    demand_from_request,
    junction_from_request,
)
from optimizer.state_store import (
    JunctionState,
    MemoryStore,
    Priority,
    StateStore,
    StoreUnavailable,
)
from optimizer.timing import PolicyPlan, expected_delay_s, fit_greens, round_timing
from optimizer.traffic import PcuFactors
from optimizer.webster import webster_timing
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

log = logging.getLogger("nhip.optimizer")

# The longest an emergency corridor may hold priority before it must be asked again.
MAX_CORRIDOR_S = 1800.0
# Weight of the newest report in the smoothed flows. Counts over one cycle are noisy
# (a few cars per movement); half-and-half follows a trend within two cycles.
FLOW_SMOOTHING = 0.5

_STATUS = {
    "invalid": grpc.StatusCode.INVALID_ARGUMENT,
    "precondition": grpc.StatusCode.FAILED_PRECONDITION,
}


class SignalOptimizerService(pb_grpc.SignalOptimizerServicer):
    def __init__(self, factors: PcuFactors | None = None, authorizer=None,
                 store: StateStore | None = None) -> None:
        self.factors = factors or PcuFactors()
        # With the default store this dict is the state itself, and in-process callers
        # may fill it and call plan() directly; with a Redis store it stays empty.
        self.junctions: dict[str, JunctionState] = {}
        self.store = store if store is not None else MemoryStore(self.junctions)
        # Calls served, by method: logged at shutdown, so a bench can see the balance.
        self.calls: Counter[str] = Counter()
        self._band_slot = asyncio.Semaphore(1)
        # On TLS links an optimizer.tls.Authorizer: each controller acts only on its own
        # junction. None on the plain-text loopback link, where every caller is local.
        self.authorizer = authorizer

    def _authorize(self, context, junction_ids: list[str], action: str) -> None:
        if self.authorizer is None:
            return
        refusal = self.authorizer.refusal(context, junction_ids, action)
        if refusal is not None:
            log.warning("refused %s from %s: %s", action, context.peer(), refusal)
            raise _Denied(refusal)

    async def RegisterJunction(self, request, context):  # noqa: N802 - gRPC's name
        self.calls["RegisterJunction"] += 1
        return await _answer(context, request.junction_id or "?",
                             self._register(request, context))

    async def _register(self, request, context) -> pb.RegisterJunctionResponse:
        self._authorize(context, [request.junction_id], "register")
        junction = junction_from_request(request)
        await self.store.register(request, junction)
        log.info("registered junction %s: %d groups, %d phases, lost time %g s",
                 junction.id, len(junction.groups), len(junction.phases), junction.lost_time_s)
        return pb.RegisterJunctionResponse(
            junction_id=junction.id,
            lost_time_s=junction.lost_time_s,
            min_feasible_cycle_s=junction.min_feasible_cycle_s,
        )

    async def ComputePlan(self, request, context):  # noqa: N802
        self.calls["ComputePlan"] += 1
        return await _answer(context, request.junction_id, self._compute(request, context))

    async def _compute(self, request, context) -> pb.Plan:
        self._authorize(context, [request.junction_id], "plan")
        state = await self._load(request.junction_id)
        plan = self._advance(state, request)
        plan.plan_version = await self.store.save_plan(state)
        return plan

    def plan(self, request: pb.PlanRequest) -> pb.Plan:
        """The next plan, for in-process callers that keep junctions in ``junctions``."""
        return self._advance(self._state(request.junction_id), request)

    def _advance(self, state: JunctionState, request: pb.PlanRequest) -> pb.Plan:
        """The next plan for a junction; moves ``state`` on to it."""
        junction = state.junction
        demand = smoothed(state, demand_from_request(junction, request, self.factors))
        policy = request.policy or junction.policy
        priority = state.priority
        if priority is not None and priority.expires_at < time.monotonic():
            log.info("corridor %s lapsed at junction %s", priority.corridor_id, junction.id)
            state.priority = priority = None
        if priority is not None:
            result = _priority_timing(junction, priority)
        elif policy == pb.WEBSTER:
            result = webster_timing(junction, demand)
        else:
            result = adaptive_timing(junction, demand, state.previous)
            policy = pb.ADAPTIVE
        timing, reason = result.timing, result.reason
        # The junction's state moves on only once a plan exists for it.
        state.smoothed_flow_pcu = dict(demand.flow_pcu_per_s)
        state.smoothed_flow_veh = dict(demand.flow_veh_per_s)
        state.previous = timing
        state.version += 1
        return pb.Plan(
            junction_id=junction.id,
            plan_version=state.version,
            cycle_s=timing.cycle_s,
            greens=[pb.PhaseGreen(phase_id=p.id, green_s=g)
                    for p, g in zip(junction.phases, timing.greens_s)],
            offset_s=0.0,
            expected_delay_s=expected_delay_s(junction, demand, timing),
            reason=reason,
            policy=policy,
            explanation=_explanation(demand, result),
        )

    async def RequestCorridor(self, request, context):  # noqa: N802
        self.calls["RequestCorridor"] += 1

        async def work() -> pb.CorridorResponse:
            self._authorize(context, [s.junction_id for s in request.steps], "corridor")
            return await self.request_corridor(request)

        return await _answer(context, request.corridor_id or "?", work())

    async def request_corridor(self, request: pb.CorridorRequest) -> pb.CorridorResponse:
        identifier(request.corridor_id, "corridor_id")
        if request.incident_id:
            identifier(request.incident_id, "incident_id")
        if not request.steps:
            raise RequestError("steps", "must list at least one junction")
        finite(request.duration_s, "duration_s", strict=True, maximum=MAX_CORRIDOR_S)
        states, seen = [], set()
        for i, step in enumerate(request.steps):
            state = await self._load(step.junction_id, f"steps[{i}].junction_id")
            if step.junction_id in seen:
                raise RequestError(f"steps[{i}].junction_id",
                                   f"junction {step.junction_id!r} appears twice in the route")
            seen.add(step.junction_id)
            finite(step.eta_s, f"steps[{i}].eta_s", maximum=MAX_CORRIDOR_S)
            if step.signal_group_id not in state.junction.serving:
                raise RequestError(
                    f"steps[{i}].signal_group_id",
                    f"junction {step.junction_id!r} has no signal group {step.signal_group_id!r}",
                )
            states.append((state, step))
        await self.store.release(request.corridor_id)
        await self.store.grant(request.corridor_id,
                               [(step.junction_id, step.signal_group_id) for _, step in states],
                               request.duration_s)
        ids = [s.junction_id for s in request.steps]
        log.warning("emergency corridor %s for incident %s: priority at %s for %g s",
                    request.corridor_id, request.incident_id or "-", ", ".join(ids),
                    request.duration_s)
        return pb.CorridorResponse(corridor_id=request.corridor_id, active=True,
                                   junction_ids=ids)

    async def CancelCorridor(self, request, context):  # noqa: N802
        self.calls["CancelCorridor"] += 1

        async def work() -> pb.CorridorResponse:
            # Who may ask comes first: a caller without the right learns nothing more.
            self._authorize(context, [], "cancel_corridor")
            identifier(request.corridor_id, "corridor_id")
            released = await self.store.release(request.corridor_id)
            if released:
                log.info("corridor %s cancelled; normal plans resume at %s",
                         request.corridor_id, ", ".join(released))
            return pb.CorridorResponse(corridor_id=request.corridor_id, active=False,
                                       junction_ids=released)

        return await _answer(context, request.corridor_id or "?", work())

    async def DecidePhase(self, request, context):  # noqa: N802
        self.calls["DecidePhase"] += 1

        async def work() -> pb.PhaseDecision:
            self._authorize(context, [request.junction_id], "decide")
            return await self.decide_phase(request)

        return await _answer(context, request.junction_id or "?", work())

    async def decide_phase(self, request: pb.PhaseDecisionRequest) -> pb.PhaseDecision:
        """Hold or move on, from the request alone; an emergency corridor held at this
        junction (when it is registered) makes its phase the priority."""
        wanted = request_from_message(request)
        priority = await self.store.priority(request.junction_id)
        if priority is not None and priority.expires_at < time.monotonic():
            priority = None
        if priority is not None:
            serving = [i for i, p in enumerate(wanted.phases)
                       if priority.group_id in p.group_ids]
            if serving:
                wanted = replace(wanted, priority_phase=serving[0])
        return reply_message(request.junction_id, wanted, decide(wanted))

    async def PlanCorridorBands(self, request, context):  # noqa: N802
        self.calls["PlanCorridorBands"] += 1

        async def work() -> pb.CorridorBands:
            # Computes and changes nothing, so any caller may ask, about any junctions.
            self._authorize(context, [], "corridor_bands")
            # The solver runs off the event loop (it releases the GIL while it searches),
            # one at a time: building models holds the GIL, and a crowd of them would make
            # phase decisions miss their 100 ms deadline.
            async with self._band_slot:
                bands = await asyncio.to_thread(plan_corridor_bands, request)
            log.info("corridor %s: %d signals, cycle %.1f s, bands %.1f s out, %.1f s in "
                     "(%s)", bands.corridor_id, len(bands.offsets_s), bands.cycle_s,
                     bands.outbound_band_s, bands.inbound_band_s, bands.status)
            return bands

        return await _answer(context, request.corridor_id or "?", work())

    async def _load(self, junction_id: str, field_path: str = "junction_id") -> JunctionState:
        return _registered(await self.store.load(junction_id), junction_id, field_path)

    def _state(self, junction_id: str, field_path: str = "junction_id") -> JunctionState:
        return _registered(self.junctions.get(junction_id), junction_id, field_path)


def _registered(state: JunctionState | None, junction_id: str, field_path: str) -> JunctionState:
    if state is None:
        raise RequestError(
            field_path,
            f"junction {junction_id!r} is not registered; call RegisterJunction first",
            kind="precondition",
        )
    return state


def smoothed(state: JunctionState, demand: Demand) -> Demand:
    """The report's flows blended with the junction's smoothed flows (state unchanged)."""
    if state.smoothed_flow_pcu is None:
        return demand
    a = FLOW_SMOOTHING
    pcu = {g: a * q + (1 - a) * state.smoothed_flow_pcu[g] if g in demand.reported
           else state.smoothed_flow_pcu[g] for g, q in demand.flow_pcu_per_s.items()}
    veh = {g: a * q + (1 - a) * state.smoothed_flow_veh[g] if g in demand.reported
           else state.smoothed_flow_veh[g] for g, q in demand.flow_veh_per_s.items()}
    return replace(demand, flow_pcu_per_s=pcu, flow_veh_per_s=veh)


def _explanation(demand: Demand, result: PolicyPlan) -> pb.PlanExplanation:
    return pb.PlanExplanation(
        inputs=[pb.GroupInput(signal_group_id=g, flow_pcu_per_h=q * 3600.0,
                              queue_pcu=demand.queue_pcu.get(g, 0.0),
                              spilled=g in demand.spilled, reported=g in demand.reported)
                for g, q in demand.flow_pcu_per_s.items()],
        objective=result.objective, objective_unit=result.unit, binding=list(result.binding))


def _priority_timing(junction: Junction, priority: Priority) -> PolicyPlan:
    """Longest green for the phases serving the emergency vehicle, shortest for the rest."""
    serving = set(junction.serving[priority.group_id])
    wanted = [p.max_green_s if i in serving else p.shortest_green_s
              for i, p in enumerate(junction.phases)]
    room = junction.max_feasible_cycle_s - junction.lost_time_s
    timing = round_timing(junction, fit_greens(junction, wanted, min(sum(wanted), room)))
    reason = (f"emergency priority: corridor {priority.corridor_id} holds green for "
              f"{priority.group_id}")
    return PolicyPlan(timing, reason, 0.0, "", (f"emergency corridor {priority.corridor_id}: "
                                                 f"longest green for {priority.group_id}",))


class _Denied(Exception):
    """A caller on a TLS link asked for what its certificate does not allow."""


async def _answer(context, subject: str, work):
    """Runs one call's ``work`` and returns its answer; a refusal ends the call with the
    status it deserves instead: a refused request with INVALID_ARGUMENT or
    FAILED_PRECONDITION naming the field (logged with ``subject``), a caller without the
    right with PERMISSION_DENIED, an unreachable store with UNAVAILABLE.

    The status is set on the context rather than raised with ``context.abort``: grpc's
    abort exception ties the call's state, its frames and so the whole request into a
    reference cycle, and with the collector tuned for latency (``optimizer.server``)
    every refused request stayed in memory, about three times its size."""
    try:
        return await work
    except RequestError as error:
        status, details = _STATUS[error.kind], str(error)
        # The text, not the exception: a handler keeping records would keep its frames.
        log.warning("refused request for %s: %s", _loggable(subject), details)
    except _Denied as error:
        status, details = grpc.StatusCode.PERMISSION_DENIED, str(error)
    except StoreUnavailable as error:
        status, details = grpc.StatusCode.UNAVAILABLE, str(error)
    context.set_code(status)
    context.set_details(details)
    return None


def _loggable(subject: str, limit: int = 64) -> str:
    """A caller's identifier as it may appear in the log: refused ids are unchecked, and
    one with a line break could forge a log line, a huge one flood the log."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                    for c in subject[:limit])
    return shown + ("..." if len(subject) > limit else "")
