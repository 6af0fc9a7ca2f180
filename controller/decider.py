"""Phase decisions from the optimizer over gRPC, for ``controller.realtime``.

Each call carries the whole picture (phases, bounds, observations), so any optimizer
replica can answer it. A decision must come fast or not at all: the call has a short
deadline, and after a failure the decider stops asking for a while, so that a dead
optimizer costs one deadline now and then, not one per decision. Every failure raises
``DecisionUnavailable``; the controller then decides locally with the same rule.
"""

from __future__ import annotations

import logging
import math
import time

import grpc

from controller.plans import open_channel, registration
from controller.topology import JunctionLayout
from optimizer.decision import Decision, DecisionRequest
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

log = logging.getLogger("nhip.controller")

# A decision is due every couple of seconds; one that takes longer than this is late.
DEFAULT_DECISION_DEADLINE_S = 0.1
# Wall-clock seconds to stop asking after a failure.
RETRY_AFTER_S = 5.0


class DecisionUnavailable(RuntimeError):
    """The optimizer gave no usable decision in time."""


class GrpcDecider:
    def __init__(self, address: str, junction_id: str,
                 deadline_s: float = DEFAULT_DECISION_DEADLINE_S,
                 credentials: grpc.ChannelCredentials | None = None,
                 channel: grpc.Channel | None = None) -> None:
        self.address = address
        self.junction_id = junction_id
        self.deadline_s = deadline_s
        self._own_channel = channel is None
        self.channel = channel if channel is not None else open_channel(address, credentials)
        self.stub = pb_grpc.SignalOptimizerStub(self.channel)
        self.answered = 0
        self.failures = 0
        self.latencies_ms: list[float] = []
        self._retry_at = -math.inf
        # The cause of the outage in progress (None while the optimizer answers) and the
        # calls it has failed, so that its end is logged with its length.
        self._outage: str | None = None
        self._outage_failures = 0

    def register(self, layout: JunctionLayout) -> None:
        """Tells the optimizer the junction's layout, so that an emergency corridor can
        name it; decisions do not need it. A failure is logged and otherwise ignored."""
        try:
            self.stub.RegisterJunction(registration(layout, pb.ADAPTIVE, self.junction_id),
                                       timeout=self.deadline_s * 4)
        except grpc.RpcError as error:
            log.warning("junction %s: could not register with the optimizer at %s (%s); "
                        "phase decisions go on, emergency corridors cannot name it yet",
                        self.junction_id, self.address, error.code().name)

    def __call__(self, request: DecisionRequest) -> Decision:
        now = time.monotonic()
        if now < self._retry_at:
            raise DecisionUnavailable(f"optimizer failed recently ({self._outage}); "
                                      "not asking yet")
        message = request_message(self.junction_id, request)
        try:
            started = time.perf_counter()
            answer = self.stub.DecidePhase(message, timeout=self.deadline_s)
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
        except grpc.RpcError as error:
            self.failures += 1
            self._outage_failures += 1
            self._retry_at = now + RETRY_AFTER_S
            # The start of an outage, a change of status and every 50th failure are
            # logged (the details of one status vary from call to call).
            cause = error.code().name
            if cause != self._outage or self._outage_failures % 50 == 0:
                log.warning("junction %s: optimizer at %s gave no decision (%s: %s); "
                            "deciding locally for %g s (%d failed calls in this outage)",
                            self.junction_id, self.address, cause, error.details(),
                            RETRY_AFTER_S, self._outage_failures)
            self._outage = cause
            raise DecisionUnavailable(error.code().name) from error
        if answer.next_phase >= len(request.phases):
            self.failures += 1
            raise DecisionUnavailable(f"decision names phase {answer.next_phase + 1} of "
                                      f"{len(request.phases)}")
        if self._outage is not None:
            log.info("junction %s: optimizer at %s decides again, after %d failed calls",
                     self.junction_id, self.address, self._outage_failures)
            self._outage, self._outage_failures = None, 0
        self.answered += 1
        return Decision(answer.hold, answer.next_phase, answer.binding, tuple(answer.pressures))

    def close(self) -> None:
        if self._own_channel:
            self.channel.close()


def request_message(junction_id: str, request: DecisionRequest) -> pb.PhaseDecisionRequest:
    served = {gid for phase in request.phases for gid in phase.group_ids}
    return pb.PhaseDecisionRequest(
        junction_id=junction_id,
        phases=[pb.PhaseTiming(id=str(i + 1), signal_group_ids=list(p.group_ids),
                               permissive_signal_group_ids=list(p.permissive_group_ids),
                               yields=[pb.YieldPair(signal_group_id=turn, yields_to=to)
                                       for turn, to in p.yields],
                               min_green_s=p.min_green_s, max_green_s=p.max_green_s,
                               yellow_s=p.yellow_s, all_red_s=p.all_red_s)
                for i, p in enumerate(request.phases)],
        current_phase=request.current_phase,
        green_elapsed_s=request.green_elapsed_s,
        groups=[pb.GroupObservation(
            signal_group_id=g.id, queue_pcu=g.queue_pcu, arriving_pcu=g.arriving_pcu,
            downstream_pcu=g.downstream_pcu,
            downstream_room_pcu=g.downstream_room_pcu if math.isfinite(g.downstream_room_pcu)
            else 0.0, downstream_full=g.downstream_room_pcu < 1.0, red_s=g.red_s,
            saturation_pcu_per_s=g.saturation_pcu_per_s, lanes=g.lanes,
            start_up_loss_s=g.start_up_loss_s,
            imminent_pcu=g.imminent_pcu if math.isfinite(g.imminent_pcu) else None)
            # Groups no phase serves (links always red) are left out: the optimizer
            # refuses observations it could not act on.
            for g in request.groups.values() if g.id in served],
        interval_s=request.interval_s,
        max_red_s=request.max_red_s,
        horizon_s=request.horizon_s if request.horizon_s > 0 else -1.0,
    )
