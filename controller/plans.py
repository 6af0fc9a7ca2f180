"""Where a controller's cycle plans come from: a fixed plan, or the optimizer over gRPC.

The gRPC source never blocks a junction: every call has a deadline, and when the
optimizer is slow, down or answers with a plan that breaks the junction's bounds, the
controller keeps the plan it already runs and the log says so.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import grpc

from controller.detectors import GroupReading
from controller.timer import CyclePlan
from controller.topology import JunctionLayout
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

log = logging.getLogger("nhip.controller")

DEFAULT_DEADLINE_S = 0.25
# After consecutive failures the source waits 15, 30, then 60 s of controller time
# between attempts, so a dead optimizer costs at most one deadline a minute, and a
# restarted one is back in use within about a minute and a cycle.
BACKOFF_BASE_S = 15.0
BACKOFF_MAX_S = 60.0
# gRPC's own reconnect backoff defaults to 1 s doubling to 120 s of wall time; a
# restarted optimizer should be found within about a second.
CHANNEL_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 200),
                   ("grpc.min_reconnect_backoff_ms", 200),
                   ("grpc.max_reconnect_backoff_ms", 1000))


def open_channel(address: str, credentials: grpc.ChannelCredentials | None = None,
                 target_name: str | None = None) -> grpc.Channel:
    """A channel to the optimizer: TLS with ``credentials``, else plain text (which the
    optimizer allows on loopback only); ``target_name`` overrides the name checked in the
    server's certificate."""
    options = list(CHANNEL_OPTIONS)
    if target_name:
        options.append(("grpc.ssl_target_name_override", target_name))
    if credentials is not None:
        return grpc.secure_channel(address, credentials, options=options)
    return grpc.insecure_channel(address, options=options)


class PlanRejected(ValueError):
    """A plan that breaks the junction's own timing bounds."""


def checked_plan(layout: JunctionLayout, greens: list[float], version: int,
                 source: str) -> CyclePlan:
    """Accepts a plan only if every green is a whole, bounded number of seconds."""
    if len(greens) != len(layout.phases):
        raise PlanRejected(f"plan has {len(greens)} greens for {len(layout.phases)} phases")
    for phase, green in zip(layout.phases, greens):
        if not math.isfinite(green) or green != round(green):
            raise PlanRejected(f"{phase.id}: green {green} s is not a whole number of seconds")
        if green < phase.min_green_s - 1e-9:
            raise PlanRejected(f"{phase.id}: green {green:g} s is below its minimum "
                               f"{phase.min_green_s:g} s")
        if green > phase.max_green_s + 1e-9:
            raise PlanRejected(f"{phase.id}: green {green:g} s is above its maximum "
                               f"{phase.max_green_s:g} s")
    return CyclePlan(tuple(float(g) for g in greens), version, source)


class FixedPlanSource:
    """Always the same plan: the fixed-time baseline."""

    def __init__(self, plan: CyclePlan) -> None:
        self.plan = plan

    def register(self, layout: JunctionLayout) -> None:
        checked_plan(layout, list(self.plan.greens_s), self.plan.version, self.plan.source)

    def next_plan(self, layout, readings, interval_s, time_s) -> CyclePlan | None:
        return self.plan


@dataclass
class SourceStats:
    plans: int = 0
    failures: int = 0
    rejected: int = 0
    latencies_ms: list[float] | None = None
    skipped: int = 0  # cycles not asked for while backing off


class GrpcPlanSource:
    """Asks the optimizer for each cycle's plan, within a deadline."""

    def __init__(self, address: str, policy: int = pb.ADAPTIVE,
                 deadline_s: float = DEFAULT_DEADLINE_S, namespace: str = "",
                 credentials: grpc.ChannelCredentials | None = None,
                 target_name: str | None = None) -> None:
        """``credentials``: TLS with this controller's certificate (optimizer.tls);
        without them the link is plain text, which the optimizer allows on loopback
        only. ``target_name`` overrides the name checked in the server's certificate."""
        self.address = address
        # Prefixes the junction ids this source registers, so that simulations running
        # side by side on one optimizer never share a junction's state.
        self.namespace = namespace
        self.policy = policy
        self.deadline_s = deadline_s
        self.channel = open_channel(address, credentials, target_name)
        self.stub = pb_grpc.SignalOptimizerStub(self.channel)
        self.registered = False
        self.stats = SourceStats(latencies_ms=[])
        self._failing = False
        self._consecutive_failures = 0
        self._next_try_s = float("-inf")

    def register(self, layout: JunctionLayout) -> None:
        try:
            self.stub.RegisterJunction(
                registration(layout, self.policy, self.namespace + layout.tls_id),
                timeout=self.deadline_s * 4)
            self.registered = True
        except grpc.RpcError as error:
            self._failed(layout, error, "registration")

    def next_plan(self, layout: JunctionLayout, readings: dict[str, GroupReading],
                  interval_s: float, time_s: float) -> CyclePlan | None:
        if time_s < self._next_try_s:
            self.stats.skipped += 1
            return None
        if not self.registered:
            self.register(layout)
            if not self.registered:
                self._schedule_retry(time_s)
                return None
        request = pb.PlanRequest(junction_id=self.namespace + layout.tls_id,
                                 interval_s=interval_s,
                                 timestamp_s=time_s, policy=self.policy,
                                 movements=movement_reports(readings))
        try:
            try:
                plan = self._compute(request)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                    raise
                # The optimizer answers but restarted and forgot us: register again
                # and ask once more, without waiting for the next cycle.
                self.registered = False
                self.register(layout)
                if not self.registered:
                    self._schedule_retry(time_s)
                    return None
                plan = self._compute(request)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self.registered = False
            self._failed(layout, error, "plan")
            self._schedule_retry(time_s)
            return None
        try:
            _check_identity(layout, plan, self.namespace + layout.tls_id)
            accepted = checked_plan(layout, [g.green_s for g in plan.greens],
                                    plan.plan_version, "optimizer")
        except PlanRejected as error:
            self.stats.rejected += 1
            log.error("junction %s: rejected optimizer plan v%d (%s); keeping current plan",
                      layout.tls_id, plan.plan_version, error)
            return None
        if self._failing:
            log.info("junction %s: optimizer at %s answers again; adaptive control resumes",
                     layout.tls_id, self.address)
            self._failing = False
        self._consecutive_failures = 0
        self._next_try_s = float("-inf")
        self.stats.plans += 1
        return accepted

    def _compute(self, request: pb.PlanRequest) -> pb.Plan:
        call_started = time.perf_counter()
        plan = self.stub.ComputePlan(request, timeout=self.deadline_s)
        self.stats.latencies_ms.append((time.perf_counter() - call_started) * 1000)
        return plan

    def _schedule_retry(self, time_s: float) -> None:
        wait = min(BACKOFF_BASE_S * 2 ** (self._consecutive_failures - 1), BACKOFF_MAX_S)
        self._next_try_s = time_s + wait

    def _failed(self, layout: JunctionLayout, error: grpc.RpcError, what: str) -> None:
        self.stats.failures += 1
        self._consecutive_failures += 1
        if not self._failing:
            log.warning("junction %s: optimizer at %s failed the %s call (%s: %s); "
                        "keeping the last safe plan", layout.tls_id, self.address, what,
                        error.code().name, error.details())
        self._failing = True

    def close(self) -> None:
        self.channel.close()


def _check_identity(layout: JunctionLayout, plan: pb.Plan, junction_id: str) -> None:
    """A plan must name our junction and our phases in our order."""
    if plan.junction_id != junction_id:
        raise PlanRejected(f"plan is for junction {plan.junction_id!r}, not {junction_id!r}")
    ids = [g.phase_id for g in plan.greens]
    expected = [p.id for p in layout.phases]
    if any(ids) and ids != expected:
        raise PlanRejected(f"plan phases {ids} do not match the junction's {expected}")


def registration(layout: JunctionLayout, policy: int,
                 junction_id: str | None = None) -> pb.RegisterJunctionRequest:
    return pb.RegisterJunctionRequest(
        junction_id=junction_id or layout.tls_id,
        signal_groups=[pb.SignalGroup(id=g.id, lanes=g.lanes, approach=g.approach, turn=g.turn)
                       for g in layout.groups],
        phases=[pb.PhaseTiming(id=p.id, signal_group_ids=list(p.group_ids),
                               permissive_signal_group_ids=list(p.permissive_group_ids),
                               min_green_s=p.min_green_s, max_green_s=p.max_green_s,
                               yellow_s=p.yellow_s, all_red_s=p.all_red_s)
                for p in layout.phases],
        min_cycle_s=layout.min_cycle_s,
        max_cycle_s=layout.max_cycle_s,
        policy=policy,
    )


def movement_reports(readings: dict[str, GroupReading]) -> list[pb.MovementReport]:
    return [
        pb.MovementReport(signal_group_id=gid, counts=pb.ClassCounts(**r.counts),
                          queue_m=r.queue_m, occupancy=min(r.occupancy_sum, 1.0),
                          detection_length_m=r.view_m)
        for gid, r in readings.items()
    ]

