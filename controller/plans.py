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


class GrpcPlanSource:
    """Asks the optimizer for each cycle's plan, within a deadline."""

    def __init__(self, address: str, policy: int = pb.ADAPTIVE,
                 deadline_s: float = DEFAULT_DEADLINE_S) -> None:
        self.address = address
        self.policy = policy
        self.deadline_s = deadline_s
        self.channel = grpc.insecure_channel(address)
        self.stub = pb_grpc.SignalOptimizerStub(self.channel)
        self.registered = False
        self.stats = SourceStats(latencies_ms=[])
        self._failing = False

    def register(self, layout: JunctionLayout) -> None:
        try:
            self.stub.RegisterJunction(registration(layout, self.policy),
                                       timeout=self.deadline_s * 4)
            self.registered = True
        except grpc.RpcError as error:
            self._failed(layout, error, "registration")

    def next_plan(self, layout: JunctionLayout, readings: dict[str, GroupReading],
                  interval_s: float, time_s: float) -> CyclePlan | None:
        if not self.registered:
            self.register(layout)
            if not self.registered:
                return None
        request = pb.PlanRequest(junction_id=layout.tls_id, interval_s=interval_s,
                                 timestamp_s=time_s, policy=self.policy,
                                 movements=movement_reports(readings))
        try:
            call_started = time.perf_counter()
            plan = self.stub.ComputePlan(request, timeout=self.deadline_s)
            self.stats.latencies_ms.append((time.perf_counter() - call_started) * 1000)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.FAILED_PRECONDITION:
                self.registered = False  # the optimizer restarted and forgot us
            self._failed(layout, error, "plan")
            return None
        try:
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
        self.stats.plans += 1
        return accepted

    def _failed(self, layout: JunctionLayout, error: grpc.RpcError, what: str) -> None:
        self.stats.failures += 1
        if not self._failing:
            log.warning("junction %s: optimizer at %s failed the %s call (%s: %s); "
                        "keeping the last safe plan", layout.tls_id, self.address, what,
                        error.code().name, error.details())
        self._failing = True

    def close(self) -> None:
        self.channel.close()


def registration(layout: JunctionLayout, policy: int) -> pb.RegisterJunctionRequest:
    return pb.RegisterJunctionRequest(
        junction_id=layout.tls_id,
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

