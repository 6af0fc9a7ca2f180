"""The counting loop: frames -> detections -> tracks -> line counts and lane figures.

Results are gathered per reporting interval (``interval_s`` of the camera) and per lane, by
class, with stop-line occupancy and the longest standing queue. Each closed interval is
passed to the ``on_interval`` callbacks (the optimizer feed is one) and the whole run ends
up in ``counts.json``. Nothing but numbers and anonymous track ids leaves this loop; frames
are written only to the annotated video, and only when one is asked for.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vision.backends import Backend, make_backend
from vision.camera import VEHICLE_CLASSES, CameraConfig
from vision.counting import CrossingEvent, LineCounter
from vision.video import VideoSource
from vision.zones import LaneMeasurer, lane_of, track_speeds_mps

logger = logging.getLogger(__name__)


@dataclass
class LaneFigures:
    """One lane's figures over one interval."""

    signal_group_id: str
    counts: Counter[str] = field(default_factory=Counter)
    occupied_frames: int = 0
    frames: int = 0
    queue_m: float = 0.0
    # Whether the loop was occupied in the interval's last frame (presence detection).
    presence: bool = False

    @property
    def occupancy(self) -> float:
        return self.occupied_frames / self.frames if self.frames else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "signal_group_id": self.signal_group_id,
            "counts": {name: self.counts.get(name, 0) for name in VEHICLE_CLASSES},
            "total": sum(self.counts.values()),
            "occupancy": round(self.occupancy, 4),
            "presence": self.presence,
            "queue_m": round(self.queue_m, 2),
        }


@dataclass
class IntervalReport:
    """Everything measured in one reporting interval."""

    index: int
    start_s: float
    end_s: float
    lanes: dict[str, LaneFigures]
    lines: dict[str, Counter[str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "lanes": {lane_id: figures.to_json() for lane_id, figures in self.lanes.items()},
            "lines": {
                line_id: {name: counts.get(name, 0) for name in VEHICLE_CLASSES}
                for line_id, counts in self.lines.items()
            },
        }


IntervalCallback = Callable[[IntervalReport], None]


@dataclass
class CountRun:
    """The outcome of one run, as written to ``counts.json``."""

    camera_id: str
    source: str
    backend: str
    source_fps: float
    processed_fps: float
    frames_read: int
    frames_processed: int
    processing_s: float
    intervals: list[IntervalReport]
    events: list[CrossingEvent]
    lane_of_event: dict[tuple[str, int], str | None]

    def line_totals(self) -> dict[str, dict[str, int]]:
        totals: dict[str, Counter[str]] = {}
        for event in self.events:
            totals.setdefault(event.line_id, Counter())[event.vehicle_class] += 1
        return {
            line: {name: c.get(name, 0) for name in VEHICLE_CLASSES}
            for line, c in totals.items()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "camera_id": self.camera_id,
            "source": self.source,
            "backend": self.backend,
            "source_fps": round(self.source_fps, 3),
            "processed_fps": round(self.processed_fps, 3),
            "frames_read": self.frames_read,
            "frames_processed": self.frames_processed,
            "processing_s": round(self.processing_s, 3),
            "processing_fps": round(self.frames_processed / self.processing_s, 2)
            if self.processing_s > 0
            else None,
            "line_totals": self.line_totals(),
            "intervals": [interval.to_json() for interval in self.intervals],
            "crossings": [
                {
                    "line_id": e.line_id,
                    "track_id": e.track_id,
                    "class": e.vehicle_class,
                    "lane_id": self.lane_of_event.get((e.line_id, e.track_id)),
                    "time_s": round(e.time_s, 3),
                    "frame": e.frame_index,
                    "x": round(e.point_xy[0], 1),
                    "y": round(e.point_xy[1], 1),
                }
                for e in self.events
            ],
        }


def count_video(
    camera: CameraConfig,
    source: str | Path,
    target_fps: float | None = None,
    backend: Backend | None = None,
    annotate_path: Path | None = None,
    on_interval: list[IntervalCallback] | None = None,
    max_frames: int | None = None,
) -> CountRun:
    """Counts one video or stream with a camera configuration."""
    video = VideoSource(source, target_fps=target_fps, max_frames=max_frames)
    if video.frame_size_wh != camera.frame_size_wh and video.frame_size_wh[0] > 0:
        logger.info(
            "camera %s is set up for %dx%d, the source is %dx%d: geometry is scaled",
            camera.camera_id,
            *camera.frame_size_wh,
            *video.frame_size_wh,
        )
        camera = camera.scaled_to(video.frame_size_wh)
    backend = backend or make_backend(camera, fps=video.target_fps)
    loop = CountingLoop(camera, on_interval or [])

    if annotate_path is not None:
        # Only an explicit request for an annotated video ever writes frames to disk.
        from vision.draw import annotate_frame, open_writer
    writer = None
    frames_processed = 0
    started = time.perf_counter()
    try:
        for frame in video:
            result = backend.process(frame.image)
            loop.step(
                frame.index,
                frame.time_s,
                result.detections,
                result.foreground,
                result.scene_cut,
            )
            frames_processed += 1
            if annotate_path is not None:
                if writer is None:
                    writer = open_writer(annotate_path, video.target_fps, camera.frame_size_wh)
                writer.write(annotate_frame(frame.image, camera, loop))
    finally:
        if writer is not None:
            writer.release()
    elapsed = time.perf_counter() - started
    loop.finish()

    run = CountRun(
        camera_id=camera.camera_id,
        source=str(source),
        backend=backend.name,
        source_fps=video.source_fps,
        processed_fps=video.target_fps,
        frames_read=video.frames_read,
        frames_processed=frames_processed,
        processing_s=elapsed,
        intervals=loop.intervals,
        events=loop.events,
        lane_of_event=loop.lane_of_event,
    )
    logger.info(
        "camera %s: %d crossings in %d frames, %.1f frames/s processed",
        camera.camera_id,
        len(run.events),
        frames_processed,
        frames_processed / elapsed if elapsed > 0 else 0.0,
    )
    return run


class CountingLoop:
    """The per-frame state machine, separate from video I/O so tests can drive it."""

    def __init__(self, camera: CameraConfig, on_interval: list[IntervalCallback]) -> None:
        from vision.tracking import Tracker

        self.camera = camera
        self.on_interval = on_interval
        self.tracker = Tracker(camera.tracker)
        self.counters = [
            LineCounter(line, camera.frame_size_wh, min_hits=camera.tracker.min_hits)
            for line in camera.count_lines
        ]
        self.measurer = LaneMeasurer(camera)
        self.events: list[CrossingEvent] = []
        self.lane_of_event: dict[tuple[str, int], str | None] = {}
        self.intervals: list[IntervalReport] = []
        self.last_frame_index = -1
        self.last_time_s = 0.0
        self.occupied_now: dict[str, bool] = {}
        self.frame_period_s = 0.0
        self._current = self._new_interval(0, 0.0)

    def step(
        self,
        frame_index: int,
        time_s: float,
        detections: list[Any],
        foreground: Any = None,
        scene_cut: bool = False,
    ) -> list[CrossingEvent]:
        """Processes one frame's detections; returns the crossings counted in it."""
        while time_s >= self._current.end_s:
            self._close_interval()
        if self.last_frame_index >= 0 and time_s > self.last_time_s:
            self.frame_period_s = time_s - self.last_time_s
        self.last_frame_index = frame_index
        self.last_time_s = time_s

        if scene_cut:
            for track in self.tracker.reset():
                self._forget(track.track_id)
        live_before = {track.track_id for track in self.tracker.tracks}
        updated = self.tracker.update(detections, time_s)
        live_after = {track.track_id for track in self.tracker.tracks}
        for track_id in live_before - live_after:
            self._forget(track_id)

        new_events: list[CrossingEvent] = []
        for track in updated:
            for counter in self.counters:
                event = counter.update(track, time_s, frame_index)
                if event is not None:
                    new_events.append(event)
        for event in new_events:
            self._record(event)

        self.occupied_now = self.measurer.occupied(foreground)
        speeds = track_speeds_mps(self.camera, self.tracker.tracks)
        queues = self.measurer.queues_m(self.tracker.tracks, speeds)
        for lane_id, figures in self._current.lanes.items():
            figures.frames += 1
            figures.presence = self.occupied_now.get(lane_id, False)
            figures.occupied_frames += int(figures.presence)
            figures.queue_m = max(figures.queue_m, queues.get(lane_id, 0.0))
        return new_events

    def finish(self) -> None:
        """Closes the last, possibly partial, interval at the end of the last frame."""
        end_s = self.last_time_s + self.frame_period_s
        self._current.end_s = min(self._current.end_s, max(self._current.start_s, end_s))
        self._emit(self._current)

    def _record(self, event: CrossingEvent) -> None:
        self.events.append(event)
        lane = lane_of(self.camera, event.point_xy)
        lane_id = lane.id if lane is not None else None
        self.lane_of_event[(event.line_id, event.track_id)] = lane_id
        self._current.lines[event.line_id][event.vehicle_class] += 1
        if lane_id is not None:
            self._current.lanes[lane_id].counts[event.vehicle_class] += 1
        logger.debug(
            "crossing line=%s track=%d class=%s lane=%s t=%.2fs",
            event.line_id,
            event.track_id,
            event.vehicle_class,
            lane_id,
            event.time_s,
        )

    def _forget(self, track_id: int) -> None:
        for counter in self.counters:
            counter.forget(track_id)

    def _new_interval(self, index: int, start_s: float) -> IntervalReport:
        return IntervalReport(
            index=index,
            start_s=start_s,
            end_s=start_s + self.camera.interval_s,
            lanes={lane.id: LaneFigures(lane.signal_group_id) for lane in self.camera.lanes},
            lines={line.id: Counter() for line in self.camera.count_lines},
        )

    def _close_interval(self) -> None:
        self._emit(self._current)
        self._current = self._new_interval(self._current.index + 1, self._current.end_s)

    def _emit(self, interval: IntervalReport) -> None:
        self.intervals.append(interval)
        for callback in self.on_interval:
            callback(interval)


def write_counts(run: CountRun, out_dir: Path) -> Path:
    """Writes ``counts.json`` into ``out_dir`` and returns its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "counts.json"
    path.write_text(
        json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path
