"""Track observations from camera tracks already mapped to road coordinates.

Input contract (what a vision tracker hands over): one ``CameraTrack`` per tracked
vehicle, with points ``(t_s, x_m, y_m)``: controller-clock seconds (the camera clock
synchronised to the signal controller) and metres in the site frame after the camera's
homography. ``apply_homography`` does that mapping from pixel tracks. Speed is computed
here from positions, over at least ``speed_window_s``, never taken from the tracker.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from incidents.detectors import Detection
from incidents.model import TrackObservation
from incidents.site import Site

Point = tuple[float, float, float]


@dataclass(frozen=True, slots=True)
class CameraTrack:
    track_id: str
    vehicle_class: str
    approach_id: str
    points: Sequence[Point]
    lane_id: str | None = None
    signal_group_id: str | None = None
    # Optional JPEG key frames as (t_s, bytes); they become evidence for this track.
    key_frames: Sequence[tuple[float, bytes]] = field(default_factory=tuple)


def apply_homography(matrix: Sequence[Sequence[float]],
                     pixel_points: Sequence[Point]) -> list[Point]:
    """Maps (t, u, v) image points to (t, x_m, y_m) with a 3x3 image-to-road homography."""
    h = np.asarray(matrix, dtype=float)
    if h.shape != (3, 3):
        msg = f"homography must be 3x3, got shape {h.shape}"
        raise ValueError(msg)
    if not pixel_points:
        return []
    pts = np.asarray(pixel_points, dtype=float)
    uv1 = np.column_stack([pts[:, 1], pts[:, 2], np.ones(len(pts))])
    mapped = uv1 @ h.T
    if np.any(np.abs(mapped[:, 2]) < 1e-12):
        msg = "a pixel maps to infinity under the homography (it lies on the horizon line)"
        raise ValueError(msg)
    xy = mapped[:, :2] / mapped[:, 2:3]
    return [(float(t), float(x), float(y)) for t, (x, y) in zip(pts[:, 0], xy)]


class CameraTrackSource:
    def __init__(self, site: Site, device_id: str, speed_window_s: float = 0.5) -> None:
        self.site = site
        self.device_id = device_id
        self.speed_window_s = speed_window_s
        self._frames_by_track: dict[str, CameraTrack] = {}

    def frames(self, tracks: Sequence[CameraTrack],
               ) -> list[tuple[float, list[TrackObservation]]]:
        """All tracks' observations grouped by time, in time order."""
        by_time: dict[float, list[TrackObservation]] = {}
        for track in tracks:
            self._check(track)
            self._frames_by_track[track.track_id] = track
            for obs in self._observations(track):
                by_time.setdefault(obs.time_s, []).append(obs)
        return sorted(by_time.items())

    def media_for(self, detection: Detection) -> list[tuple[bytes, str, str]]:
        """Key frames of the detected track nearest the detection time (at most 3)."""
        track = self._frames_by_track.get(detection.observation.track_id)
        if track is None or not track.key_frames:
            return []
        nearest = sorted(track.key_frames, key=lambda f: abs(f[0] - detection.time_s))[:3]
        return [(jpeg, "image/jpeg", f"key frame at t={t:.2f} s, track {track.track_id}")
                for t, jpeg in sorted(nearest)]

    def _observations(self, track: CameraTrack) -> list[TrackObservation]:
        approach = self.site.approaches[track.approach_id]
        observations = []
        for index, (t, x, y) in enumerate(track.points):
            observations.append(TrackObservation(
                track_id=track.track_id, vehicle_class=track.vehicle_class, time_s=t,
                x_m=x, y_m=y, speed_mps=self._speed(track.points, index),
                approach_id=track.approach_id, lane_id=track.lane_id,
                signal_group_id=track.signal_group_id,
                stop_line_distance_m=approach.stop_line_distance_m(x, y),
                device_id=self.device_id))
        return observations

    def _speed(self, points: Sequence[Point], index: int) -> float:
        t, x, y = points[index]
        start = index
        while start > 0 and t - points[start][0] < self.speed_window_s:
            start -= 1
        if start == index:
            return 0.0
        t0, x0, y0 = points[start]
        return math.hypot(x - x0, y - y0) / (t - t0)

    def _check(self, track: CameraTrack) -> None:
        where = f"camera track {track.track_id!r}"
        if track.approach_id not in self.site.approaches:
            msg = (f"{where}: approach_id {track.approach_id!r} is not an approach of "
                   f"junction {self.site.junction_id}")
            raise ValueError(msg)
        if len(track.points) < 2:
            msg = f"{where}: points needs at least two (t_s, x_m, y_m) samples"
            raise ValueError(msg)
        previous = -math.inf
        for t, x, y in track.points:
            if not all(math.isfinite(v) for v in (t, x, y)):
                msg = f"{where}: points must be finite numbers, got ({t}, {x}, {y})"
                raise ValueError(msg)
            if t <= previous:
                msg = f"{where}: point times must increase strictly ({t} after {previous})"
                raise ValueError(msg)
            previous = t
