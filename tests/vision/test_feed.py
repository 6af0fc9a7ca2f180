"""The camera feeds the optimizer with the same PlanRequest the SUMO detectors send."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from vision.camera import CameraConfig
from vision.errors import VisionError
from vision.feed import OptimizerFeed, plan_request
from vision.pipeline import IntervalReport, LaneFigures, count_video
from vision.synthetic import camera_config


class _LoopThread:
    """An asyncio loop on a thread, so a grpc.aio server can run beside sync test code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=20)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


class RecordingOptimizer(pb_grpc.SignalOptimizerServicer):
    """Answers every report with a fixed plan and keeps the requests it got."""

    def __init__(self) -> None:
        self.requests: list[pb.PlanRequest] = []

    async def ComputePlan(self, request: pb.PlanRequest, context: Any) -> pb.Plan:
        self.requests.append(request)
        return pb.Plan(
            junction_id=request.junction_id, plan_version=len(self.requests), cycle_s=60.0
        )


@pytest.fixture()
def loop_thread() -> Iterator[_LoopThread]:
    runner = _LoopThread()
    yield runner
    runner.stop()


def _serve(runner: _LoopThread, servicer: pb_grpc.SignalOptimizerServicer) -> tuple[Any, int]:
    async def start() -> tuple[Any, int]:
        server = grpc.aio.server()
        pb_grpc.add_SignalOptimizerServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    return runner.run(start())


def _report(camera: CameraConfig) -> IntervalReport:
    lanes = {
        "L0": LaneFigures("approach-west", Counter(motorcycle=12, car=2), 30, 60, 14.5),
        "L1": LaneFigures("approach-west", Counter(motorcycle=7, truck=1), 12, 60, 22.0),
    }
    return IntervalReport(3, 90.0, 120.0, lanes, {"C": Counter()})


def test_lanes_of_one_signal_group_are_combined() -> None:
    """Counts add up, the queue is the longest and occupancy the mean over the group's loops."""
    camera = camera_config()

    request = plan_request(camera, _report(camera))

    assert request.junction_id == "synthetic"
    assert request.interval_s == 30.0
    assert request.timestamp_s == 120.0
    [movement] = request.movements
    assert movement.signal_group_id == "approach-west"
    assert (movement.counts.motorcycle, movement.counts.car, movement.counts.truck) == (
        19,
        2,
        1,
    )
    assert movement.queue_m == 22.0
    assert movement.occupancy == pytest.approx((0.5 + 0.2) / 2)


def test_each_interval_reaches_the_optimizer(
    loop_thread: _LoopThread, synthetic_video: tuple[Path, dict[str, Any]]
) -> None:
    """Counting a video with the feed on sends one ComputePlan per interval over gRPC."""
    video, _ = synthetic_video
    servicer = RecordingOptimizer()
    server, port = _serve(loop_thread, servicer)
    camera = camera_config(interval_s=30)
    feed = OptimizerFeed(f"127.0.0.1:{port}", camera)

    try:
        run = count_video(camera, video, on_interval=[feed.send])
    finally:
        feed.close()
        loop_thread.run(server.stop(0))

    assert [r.timestamp_s for r in servicer.requests] == [
        30.0,
        60.0,
        pytest.approx(90, abs=0.2),
    ]
    sent = sum(
        m.counts.motorcycle + m.counts.car + m.counts.bus + m.counts.truck
        for r in servicer.requests
        for m in r.movements
    )
    assert sent == len(run.events)
    assert [plan.plan_version for plan in feed.plans] == [1, 2, 3]


def test_real_optimizer_accepts_camera_reports(loop_thread: _LoopThread) -> None:
    """The project's optimizer, registered with the camera's signal group, returns a plan."""
    server_module = pytest.importorskip("optimizer.server")
    server, port = loop_thread.run(server_module.start_server("127.0.0.1", 0))
    camera = camera_config()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        pb_grpc.SignalOptimizerStub(channel).RegisterJunction(
            pb.RegisterJunctionRequest(
                junction_id="synthetic",
                signal_groups=[
                    pb.SignalGroup(id="approach-west", lanes=2),
                    pb.SignalGroup(id="cross", lanes=2),
                ],
                phases=[
                    pb.PhaseTiming(
                        id="p1",
                        signal_group_ids=["approach-west"],
                        min_green_s=10,
                        max_green_s=60,
                        yellow_s=3,
                        all_red_s=2,
                    ),
                    pb.PhaseTiming(
                        id="p2",
                        signal_group_ids=["cross"],
                        min_green_s=10,
                        max_green_s=60,
                        yellow_s=3,
                        all_red_s=2,
                    ),
                ],
                min_cycle_s=40,
                max_cycle_s=120,
            ),
            timeout=5,
        )
        feed = OptimizerFeed(f"127.0.0.1:{port}", camera)
        plan = feed.send(_report(camera))
        feed.close()
    finally:
        channel.close()
        loop_thread.run(server.stop(0))

    assert plan.junction_id == "synthetic"
    assert 40 <= plan.cycle_s <= 120
    assert [g.phase_id for g in plan.greens] == ["p1", "p2"]


def test_unreachable_optimizer_is_a_clear_error() -> None:
    """A feed pointed at a closed port fails with the target and interval in the message."""
    camera = camera_config()
    feed = OptimizerFeed("127.0.0.1:9", camera, timeout_s=0.5)

    with pytest.raises(VisionError, match=r"optimizer at 127\.0\.0\.1:9 refused .* interval 3"):
        feed.send(_report(camera))
    feed.close()


class FlakyOptimizer(RecordingOptimizer):
    """Refuses the first ``refusals`` reports as an optimizer that lost the junction does."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals

    async def ComputePlan(self, request: pb.PlanRequest, context: Any) -> pb.Plan:
        if self.refusals > 0:
            self.refusals -= 1
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"junction {request.junction_id!r} is not registered; "
                "call RegisterJunction first",
            )
        return await super().ComputePlan(request, context)


def test_an_outage_is_logged_once_and_the_feed_carries_on(
    loop_thread: _LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Refused reports are skipped, not raised; one warning per outage, then a recovery."""
    servicer = FlakyOptimizer(refusals=3)
    server, port = _serve(loop_thread, servicer)
    camera = camera_config()
    feed = OptimizerFeed(f"127.0.0.1:{port}", camera)
    caplog.set_level("INFO", logger="vision.feed")
    try:
        plans = [feed.deliver(_report(camera)) for _ in range(5)]
    finally:
        feed.close()
        loop_thread.run(server.stop(0))

    assert [plan is None for plan in plans] == [True, True, True, False, False]
    assert (feed.delivered, feed.failed) == (2, 3)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "FAILED_PRECONDITION junction 'synthetic' is not registered" in warnings[0]
    assert "the junction's controller must register 'synthetic'" in warnings[0]
    assert any("after 3 lost interval(s)" in r.getMessage() for r in caplog.records)


def test_a_new_kind_of_failure_is_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    """While the optimizer stays away the warning is not repeated for every interval."""
    camera = camera_config()
    feed = OptimizerFeed("127.0.0.1:9", camera, timeout_s=0.5)
    caplog.set_level("INFO", logger="vision.feed")

    assert [feed.deliver(_report(camera)) for _ in range(3)] == [None, None, None]
    feed.close()

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "UNAVAILABLE" in warnings[0]
    assert "check that the optimizer runs at that address" in warnings[0]


def test_a_tail_shorter_than_the_optimizer_takes_is_not_sent(
    loop_thread: _LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    """A clip's last 0.17 s would be refused (interval_s must be at least 1): it stays in
    the counts and is not sent, so no refusal is logged for it."""
    servicer = FlakyOptimizer(refusals=0)
    server, port = _serve(loop_thread, servicer)
    camera = camera_config()
    feed = OptimizerFeed(f"127.0.0.1:{port}", camera)
    whole = _report(camera)
    tail = IntervalReport(4, 120.0, 120.17, whole.lanes, whole.lines)
    caplog.set_level("INFO", logger="vision.feed")
    try:
        sent = [feed.deliver(whole), feed.deliver(tail)]
    finally:
        feed.close()
        loop_thread.run(server.stop(0))

    assert sent[0] is not None and sent[1] is None
    assert (feed.delivered, feed.failed, feed.skipped) == (1, 0, 1)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert any("lasts 0.17 s" in r.getMessage() for r in caplog.records)
