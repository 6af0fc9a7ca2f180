"""The SignalOptimizer gRPC servicer: registration, plans and emergency corridors.

State per junction (layout, last plan, smoothed flows, corridor priority) lives in this
process.
Known shortcoming: that state is not shared, so several replicas behind one load
balancer would each keep their own plan history; a Redis-backed store is the way out.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import grpc

from optimizer.adaptive import adaptive_timing
from optimizer.junction import (
    Demand,
    Junction,
    RequestError,
    finite,
    identifier,
    demand_from_request,
    junction_from_request,
)
from optimizer.timing import Timing, expected_delay_s, fit_greens, round_timing
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


@dataclass
class Priority:
    corridor_id: str
    group_id: str
    expires_at: float  # time.monotonic()


@dataclass
class JunctionState:
    junction: Junction
    version: int = 0
    previous: Timing | None = None
    smoothed_flow_pcu: dict[str, float] | None = None
    smoothed_flow_veh: dict[str, float] | None = None
    priority: Priority | None = None
    corridors: set[str] = field(default_factory=set)


class SignalOptimizerService(pb_grpc.SignalOptimizerServicer):
    def __init__(self, factors: PcuFactors | None = None, authorizer=None) -> None:
        self.factors = factors or PcuFactors()
        self.junctions: dict[str, JunctionState] = {}
        # On TLS links an optimizer.tls.Authorizer: each controller acts only on its own
        # junction. None on the plain-text loopback link, where every caller is local.
        self.authorizer = authorizer

    async def _authorize(self, context, junction_ids: list[str], action: str) -> None:
        if self.authorizer is None:
            return
        refusal = self.authorizer.refusal(context, junction_ids, action)
        if refusal is not None:
            log.warning("refused %s from %s: %s", action, context.peer(), refusal)
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)

    async def RegisterJunction(self, request, context):  # noqa: N802 - gRPC's name
        await self._authorize(context, [request.junction_id], "register")
        try:
            junction = junction_from_request(request)
        except RequestError as error:
            await _abort(context, error, request.junction_id or "?")
        self.junctions[junction.id] = JunctionState(junction)
        log.info("registered junction %s: %d groups, %d phases, lost time %g s",
                 junction.id, len(junction.groups), len(junction.phases), junction.lost_time_s)
        return pb.RegisterJunctionResponse(
            junction_id=junction.id,
            lost_time_s=junction.lost_time_s,
            min_feasible_cycle_s=junction.min_feasible_cycle_s,
        )

    async def ComputePlan(self, request, context):  # noqa: N802
        await self._authorize(context, [request.junction_id], "plan")
        try:
            return self.plan(request)
        except RequestError as error:
            await _abort(context, error, request.junction_id)

    def plan(self, request: pb.PlanRequest) -> pb.Plan:
        state = self._state(request.junction_id)
        junction = state.junction
        demand = smoothed(state, demand_from_request(junction, request, self.factors))
        policy = request.policy or junction.policy
        priority = state.priority
        if priority is not None and priority.expires_at < time.monotonic():
            log.info("corridor %s lapsed at junction %s", priority.corridor_id, junction.id)
            state.priority = priority = None
        if priority is not None:
            timing, reason = _priority_timing(junction, priority)
        elif policy == pb.WEBSTER:
            timing, reason = webster_timing(junction, demand)
        else:
            timing, reason = adaptive_timing(junction, demand, state.previous)
            policy = pb.ADAPTIVE
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
        )

    async def RequestCorridor(self, request, context):  # noqa: N802
        await self._authorize(context, [s.junction_id for s in request.steps], "corridor")
        try:
            return self.request_corridor(request)
        except RequestError as error:
            await _abort(context, error, request.corridor_id or "?")

    def request_corridor(self, request: pb.CorridorRequest) -> pb.CorridorResponse:
        identifier(request.corridor_id, "corridor_id")
        if not request.steps:
            raise RequestError("steps", "must list at least one junction")
        finite(request.duration_s, "duration_s", strict=True, maximum=MAX_CORRIDOR_S)
        states, seen = [], set()
        for i, step in enumerate(request.steps):
            state = self._state(step.junction_id, f"steps[{i}].junction_id")
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
        self._release(request.corridor_id)
        expires = time.monotonic() + request.duration_s
        for state, step in states:
            state.priority = Priority(request.corridor_id, step.signal_group_id, expires)
            state.corridors.add(request.corridor_id)
        ids = [s.junction_id for s in request.steps]
        log.warning("emergency corridor %s for incident %s: priority at %s for %g s",
                    request.corridor_id, request.incident_id or "-", ", ".join(ids),
                    request.duration_s)
        return pb.CorridorResponse(corridor_id=request.corridor_id, active=True,
                                   junction_ids=ids)

    async def CancelCorridor(self, request, context):  # noqa: N802
        try:
            identifier(request.corridor_id, "corridor_id")
        except RequestError as error:
            await _abort(context, error, "?")
        await self._authorize(context, [], "cancel_corridor")
        released = self._release(request.corridor_id)
        if released:
            log.info("corridor %s cancelled; normal plans resume at %s",
                     request.corridor_id, ", ".join(released))
        return pb.CorridorResponse(corridor_id=request.corridor_id, active=False,
                                   junction_ids=released)

    def _release(self, corridor_id: str) -> list[str]:
        released = []
        for jid, state in self.junctions.items():
            if corridor_id in state.corridors:
                state.corridors.discard(corridor_id)
                if state.priority and state.priority.corridor_id == corridor_id:
                    state.priority = None
                released.append(jid)
        return released

    def _state(self, junction_id: str, field_path: str = "junction_id") -> JunctionState:
        state = self.junctions.get(junction_id)
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


def _priority_timing(junction: Junction, priority: Priority) -> tuple[Timing, str]:
    """Longest green for the phases serving the emergency vehicle, shortest for the rest."""
    serving = set(junction.serving[priority.group_id])
    wanted = [p.max_green_s if i in serving else p.shortest_green_s
              for i, p in enumerate(junction.phases)]
    room = junction.max_feasible_cycle_s - junction.lost_time_s
    timing = round_timing(junction, fit_greens(junction, wanted, min(sum(wanted), room)))
    reason = (f"emergency priority: corridor {priority.corridor_id} holds green for "
              f"{priority.group_id}")
    return timing, reason


async def _abort(context, error: RequestError, subject: str) -> None:
    log.warning("refused request for %s: %s", subject, error)
    await context.abort(_STATUS[error.kind], str(error))
