"""Counting against exact SUMO ground truth: dense motorcycles at 6 fps through the camera."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from vision.backends.classical import ClassicalBackend
from vision.pipeline import CountingLoop
from vision.synthetic import COUNT_LINE_X_M, SyntheticCamera, TrafficMix, camera_config


def test_ground_truth_is_exact_and_motorcycle_heavy(
    synthetic_video: tuple[Path, dict[str, Any]],
) -> None:
    """The synthetic run has dense motorcycle traffic and a queue at the stop line."""
    _, truth = synthetic_video

    assert truth["total"] >= 50
    assert truth["counts"]["motorcycle"] >= 0.7 * truth["total"]
    assert truth["max_queue_m"] > 10


def test_counts_match_truth_within_targets(tmp_path: Path) -> None:
    """At 6 fps the classical backend counts within 8 % overall and 10 % for motorcycles."""
    camera = SyntheticCamera(tmp_path, duration_s=90, fps=6, seed=11)
    backend = ClassicalBackend(camera.camera, fps=6)
    loop = CountingLoop(camera.camera, [])

    for index, frame in enumerate(camera):
        result = backend.process(frame.image)
        loop.step(index, frame.time_s, result.detections, result.foreground, result.scene_cut)
    loop.finish()

    ours = Counter(event.vehicle_class for event in loop.events)
    truth = camera.truth.counts
    total_error = abs(sum(ours.values()) - sum(truth.values())) / sum(truth.values())
    moto_error = abs(ours["motorcycle"] - truth["motorcycle"]) / truth["motorcycle"]
    assert total_error <= 0.08, (dict(ours), dict(truth))
    assert moto_error <= 0.10, (dict(ours), dict(truth))


def test_queue_and_occupancy_are_measured(tmp_path: Path) -> None:
    """During the red the stop-line loop fills and a queue of several vehicles is seen."""
    camera = SyntheticCamera(
        tmp_path, duration_s=60, fps=6, seed=3, mix=TrafficMix(motorcycle=2000, car=300)
    )
    backend = ClassicalBackend(camera.camera, fps=6)
    loop = CountingLoop(camera.camera, [])

    for index, frame in enumerate(camera):
        result = backend.process(frame.image)
        loop.step(index, frame.time_s, result.detections, result.foreground, result.scene_cut)
    loop.finish()

    queue = max(f.queue_m for interval in loop.intervals for f in interval.lanes.values())
    occupancy = max(f.occupancy for interval in loop.intervals for f in interval.lanes.values())
    assert 0.4 * camera.truth.max_queue_m <= queue <= 1.6 * camera.truth.max_queue_m
    assert occupancy > 0.1


def test_camera_config_matches_the_rendered_view() -> None:
    """The generated camera's count line sits where the truth line is, in road metres."""
    from vision.geometry import to_road

    camera = camera_config()
    line = camera.count_lines[0]

    x_m, _ = to_road(
        camera.homography, ((line.start_xy[0] + line.end_xy[0]) / 2, line.start_xy[1])
    )
    assert abs(x_m - COUNT_LINE_X_M) < 0.5
    assert [lane.signal_group_id for lane in camera.lanes] == ["approach-west"] * 2
