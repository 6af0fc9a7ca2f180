"""Sends each interval's camera figures to the optimizer, as a SUMO detector would.

Lanes are grouped by their ``signal_group_id``: counts add up, the queue is the longest of
the group's lanes and the occupancy is the mean over its lanes that have a virtual loop. The
message is the optimizer's own ``PlanRequest``, so a camera can stand in for simulated
detectors with no change on the optimizer's side.

The camera knows the junction's lanes but not its phases and their timings, so it cannot
register the junction: the junction's controller does that. ``deliver`` never stops the
count: a refused or lost report is logged once per outage (again only when the reason
changes) and the count goes on, so the counts are kept whatever the optimizer does.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

import grpc

from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from vision.camera import CameraConfig
from vision.errors import VisionError
from vision.pipeline import IntervalReport

logger = logging.getLogger(__name__)

# The shortest interval the optimizer takes (optimizer.junction.MIN_INTERVAL_S; not
# imported, so that counting needs none of the optimizer's dependencies).
MIN_INTERVAL_S = 1.0


def plan_request(camera: CameraConfig, report: IntervalReport) -> pb.PlanRequest:
    """Builds the optimizer's request from one interval of camera figures."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    queues: dict[str, float] = defaultdict(float)
    occupancies: dict[str, list[float]] = defaultdict(list)
    loops = {
        lane.id
        for lane in camera.lanes
        if lane.stop_zone is not None or lane.stop_line is not None
    }
    for lane_id, figures in report.lanes.items():
        group = figures.signal_group_id
        counts[group].update(figures.counts)
        queues[group] = max(queues[group], figures.queue_m)
        if lane_id in loops:
            occupancies[group].append(figures.occupancy)

    movements = []
    for group in sorted(counts.keys() | queues.keys()):
        group_counts = counts[group]
        shares = occupancies.get(group, [])
        movements.append(
            pb.MovementReport(
                signal_group_id=group,
                counts=pb.ClassCounts(
                    motorcycle=group_counts.get("motorcycle", 0),
                    car=group_counts.get("car", 0),
                    bus=group_counts.get("bus", 0),
                    truck=group_counts.get("truck", 0),
                ),
                queue_m=queues[group],
                occupancy=sum(shares) / len(shares) if shares else 0.0,
            )
        )
    return pb.PlanRequest(
        junction_id=camera.junction_id or camera.camera_id,
        interval_s=report.end_s - report.start_s,
        movements=movements,
        timestamp_s=report.end_s,
    )


class OptimizerFeed:
    """A gRPC client that calls ``ComputePlan`` once per closed interval."""

    def __init__(self, target: str, camera: CameraConfig, timeout_s: float = 5.0) -> None:
        self.target = target
        self.camera = camera
        self.timeout_s = timeout_s
        self._channel = grpc.insecure_channel(target)
        self._stub = pb_grpc.SignalOptimizerStub(self._channel)
        self.plans: list[pb.Plan] = []
        self.delivered = 0
        self.failed = 0
        self.skipped = 0  # intervals too short to send
        # The status code of the outage in progress; None while the optimizer answers.
        self._outage: grpc.StatusCode | None = None
        self._outage_failures = 0

    def send(self, report: IntervalReport) -> pb.Plan:
        request = plan_request(self.camera, report)
        try:
            plan = self._stub.ComputePlan(request, timeout=self.timeout_s)
        except grpc.RpcError as exc:
            msg = (
                f"optimizer at {self.target} refused the report for junction "
                f"{request.junction_id} interval {report.index}: {exc.code().name} "
                f"{exc.details()}"
            )
            raise VisionError(msg) from exc
        logger.info(
            "sent interval %d of camera %s to %s: plan %d, cycle %.0f s",
            report.index,
            self.camera.camera_id,
            self.target,
            plan.plan_version,
            plan.cycle_s,
        )
        self.plans.append(plan)
        return plan

    def deliver(self, report: IntervalReport) -> pb.Plan | None:
        """Sends like ``send`` but never raises: an interval the optimizer does not take
        is logged (once per outage) and skipped, and counting goes on. A last, partial
        interval shorter than the optimizer takes (a clip's tail) is kept in the counts
        and not sent."""
        if report.end_s - report.start_s < MIN_INTERVAL_S:
            self.skipped += 1
            logger.info("interval %d of camera %s lasts %.2f s, under the optimizer's "
                        "%g s; kept in the counts, not sent", report.index,
                        self.camera.camera_id, report.end_s - report.start_s, MIN_INTERVAL_S)
            return None
        try:
            plan = self.send(report)
        except VisionError as error:
            self.failed += 1
            self._outage_failures += 1
            cause = error.__cause__
            code = cause.code() if isinstance(cause, grpc.RpcError) else None
            if self._outage_failures == 1 or code != self._outage:
                logger.warning("%s; %s", error, _advice(code, self._junction_id()))
            self._outage = code
            return None
        if self._outage_failures:
            logger.info(
                "optimizer at %s takes camera %s's reports again, after %d lost interval(s)",
                self.target,
                self.camera.camera_id,
                self._outage_failures,
            )
        self._outage, self._outage_failures = None, 0
        self.delivered += 1
        return plan

    def _junction_id(self) -> str:
        return self.camera.junction_id or self.camera.camera_id

    def close(self) -> None:
        self._channel.close()


def _advice(code: grpc.StatusCode | None, junction_id: str) -> str:
    """What the operator can do about a failed report."""
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return (
            f"the junction's controller must register {junction_id!r} with the optimizer "
            "(the camera does not know its phases); counting goes on, and reports reach "
            "the optimizer once it is registered"
        )
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return (
            "check that the camera's junction_id and signal_group_id values match the "
            "junction registered at the optimizer; counting goes on"
        )
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return "check that the optimizer runs at that address; counting goes on"
    return "counting goes on without the optimizer until it takes reports again"
