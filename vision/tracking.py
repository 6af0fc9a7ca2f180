"""A small multi-object tracker for vehicles seen at low frame rates.

Detections are matched to tracks greedily, by overlap with the track's predicted box (or,
for trucks and buses, the box it was last seen in) when there is any, and otherwise by how
far the bottom-centre moved. Prediction uses each track's velocity in pixels per second, so
the same settings hold at 6 fps and at 25 fps. Tracks carry no image content: an id, boxes,
times and class votes, nothing that identifies a person.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from vision.camera import TrackerSettings
from vision.geometry import Point, bottom_centre, iou


@dataclass(frozen=True)
class Detection:
    """One detected vehicle in one frame: an xyxy box in pixels, its class and score."""

    xyxy: tuple[float, float, float, float]
    vehicle_class: str
    score: float = 1.0


@dataclass
class Track:
    """An anonymous vehicle track: boxes over time and the classes it was seen as."""

    track_id: int
    xyxy: tuple[float, float, float, float]
    last_time_s: float
    first_time_s: float
    hits: int = 1
    velocity_pxps: Point = (0.0, 0.0)
    class_votes: Counter[str] = field(default_factory=Counter)
    history: list[tuple[float, Point]] = field(default_factory=list)
    missed: bool = False
    # A track born inside another track's box is taken as a piece of the same vehicle (a
    # fragmenting trailer, a split blob): it shares that track's family and is counted once.
    family_id: int = 0

    def __post_init__(self) -> None:
        if self.family_id == 0:
            self.family_id = self.track_id

    @property
    def anchor(self) -> Point:
        return bottom_centre(self.xyxy)

    @property
    def vehicle_class(self) -> str:
        return self.class_votes.most_common(1)[0][0] if self.class_votes else "car"

    def predicted(self, time_s: float) -> tuple[float, float, float, float]:
        dt = time_s - self.last_time_s
        dx, dy = self.velocity_pxps[0] * dt, self.velocity_pxps[1] * dt
        x1, y1, x2, y2 = self.xyxy
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


SLOWEST_TUNED_FPS = 6.0  # the gate below is tuned for frame gaps up to 1/6 s
FRAGMENT_SHARE = 0.5  # share of a new box inside a live track's box that makes it a piece
LONG_CLASSES = ("truck", "bus")  # vehicles long enough to be seen as several blobs


class Tracker:
    """Keeps tracks alive across missed frames for ``max_gap_s`` seconds."""

    def __init__(self, settings: TrackerSettings) -> None:
        self.settings = settings
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> list[Track]:
        """Drops every track (after a scene cut); returns the ones dropped."""
        dropped, self.tracks = self.tracks, []
        return dropped

    def update(self, detections: list[Detection], time_s: float) -> list[Track]:
        """Matches this frame's detections; returns the tracks updated in this frame."""
        pairs = self._candidate_pairs(detections, time_s)
        used_tracks: set[int] = set()
        used_detections: set[int] = set()
        updated: list[Track] = []
        previous_boxes: dict[int, tuple[float, float, float, float]] = {}
        for _, track_index, detection_index in sorted(pairs):
            if track_index in used_tracks or detection_index in used_detections:
                continue
            used_tracks.add(track_index)
            used_detections.add(detection_index)
            track = self.tracks[track_index]
            previous_boxes[track.family_id] = track.xyxy
            self._advance(track, detections[detection_index], time_s)
            updated.append(track)

        for index, track in enumerate(self.tracks):
            track.missed = index not in used_tracks
        self.tracks = [
            track
            for track in self.tracks
            if time_s - track.last_time_s <= self.settings.max_gap_s
        ]

        for index, detection in enumerate(detections):
            if index not in used_detections:
                track = Track(
                    self._next_id,
                    detection.xyxy,
                    time_s,
                    time_s,
                    family_id=_family_of(detection.xyxy, previous_boxes),
                )
                track.class_votes[detection.vehicle_class] += _vote_weight(detection)
                track.history.append((time_s, track.anchor))
                self._next_id += 1
                self.tracks.append(track)
                updated.append(track)
        return updated

    def _candidate_pairs(
        self, detections: list[Detection], time_s: float
    ) -> list[tuple[float, int, int]]:
        """Scores every plausible track-detection pair; lower is better."""
        pairs: list[tuple[float, int, int]] = []
        for t_index, track in enumerate(self.tracks):
            predicted = track.predicted(time_s)
            px, py = bottom_centre(predicted)
            # A box may land at most about its own size away from where it was predicted
            # (capped by max_jump_px): enough for braking or a jerky frame cadence, too
            # little to jump onto the next vehicle in the lane.
            # Below 6 fps the gate widens with the time since the track was last seen.
            x1, y1, x2, y2 = track.xyxy
            slow = max(1.0, (time_s - track.last_time_s) * SLOWEST_TUNED_FPS)
            gate = min(self.settings.max_jump_px, 0.6 * max(x2 - x1, y2 - y1) + 10.0) * slow
            for d_index, detection in enumerate(detections):
                overlap = iou(predicted, detection.xyxy)
                if track.vehicle_class in LONG_CLASSES:
                    # A long vehicle often shows as pieces (a lit cab, the side of its load);
                    # one wrong association between them can throw the velocity far off, so
                    # the box it was last seen in counts as well as the predicted one and
                    # the vehicle is still found where it is. Only for long vehicles: in a
                    # dense stream of motorcycles (or cars) the next one often moves into
                    # that place between two frames and must not be taken for it.
                    overlap = max(overlap, iou(track.xyxy, detection.xyxy))
                dx, dy = bottom_centre(detection.xyxy)
                distance = math.hypot(dx - px, dy - py)
                if overlap >= self.settings.min_iou:
                    pairs.append((1.0 - overlap, t_index, d_index))
                elif distance <= gate:
                    pairs.append((1.0 + distance / gate, t_index, d_index))
        return pairs

    def _advance(self, track: Track, detection: Detection, time_s: float) -> None:
        dt = time_s - track.last_time_s
        old_x, old_y = track.anchor
        track.xyxy = detection.xyxy
        new_x, new_y = track.anchor
        if dt > 0:
            # Smoothed so that one jittering box does not throw the prediction off.
            vx = (new_x - old_x) / dt
            vy = (new_y - old_y) / dt
            weight = 0.5 if track.hits > 1 else 1.0
            track.velocity_pxps = (
                (1 - weight) * track.velocity_pxps[0] + weight * vx,
                (1 - weight) * track.velocity_pxps[1] + weight * vy,
            )
        track.last_time_s = time_s
        track.hits += 1
        track.class_votes[detection.vehicle_class] += _vote_weight(detection)
        track.history.append((time_s, track.anchor))
        del track.history[:-32]


def _family_of(
    xyxy: tuple[float, float, float, float],
    parent_boxes: dict[int, tuple[float, float, float, float]],
) -> int:
    """The family whose previous box holds most of a new box, or 0 for none.

    Only tracks matched in the same frame qualify: a blob that split in two leaves one
    piece on the old track and the other inside that track's previous box.
    """
    area = max(1e-6, (xyxy[2] - xyxy[0]) * (xyxy[3] - xyxy[1]))
    best_share, best_family = FRAGMENT_SHARE, 0
    for family_id, box in parent_boxes.items():
        width = min(box[2], xyxy[2]) - max(box[0], xyxy[0])
        height = min(box[3], xyxy[3]) - max(box[1], xyxy[1])
        if width > 0 and height > 0 and width * height / area >= best_share:
            best_share, best_family = width * height / area, family_id
    return best_family


def _vote_weight(detection: Detection) -> float:
    """Large (near) boxes are classed more reliably than small far ones: they weigh more."""
    x1, y1, x2, y2 = detection.xyxy
    return detection.score * math.sqrt(max(1.0, (x2 - x1) * (y2 - y1)))
