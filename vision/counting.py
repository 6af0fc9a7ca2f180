"""Line counting: each track counts at most once per line, by its bottom-centre point.

A point's side of a line is only trusted once it is at least ``hysteresis_px`` away from the
line; inside that band the last trusted side holds. So a box that jitters on the line, or a
vehicle that stops on it, never flips sides, and a crossing is a change between two trusted
sides. Near a frame edge the band is narrowed to what the frame leaves room for, so a line
close to the edge can still be crossed. A track counts once per line whatever it does later
(reversing and crossing again included); a crossing against the line's direction is ignored.
A track first seen already past the line has no trusted "before" side and is never counted.

    before side         |  band  |         after side
    ---- trusted -------|--------|-------- trusted ---->  counted on the first change
                     line - h   line   line + h
"""

from __future__ import annotations

from dataclasses import dataclass

from vision.camera import CountLine
from vision.geometry import Point, position_along, signed_distance
from vision.tracking import Track

FAMILY_MEMORY = 2048  # counted families remembered per line; far more than are ever live
DIRECTION_AXES = {
    "down": (0.0, 1.0),
    "up": (0.0, -1.0),
    "left": (-1.0, 0.0),
    "right": (1.0, 0.0),
}


@dataclass(frozen=True)
class CrossingEvent:
    """A counted crossing: which track, which line, where and when."""

    line_id: str
    track_id: int
    vehicle_class: str
    time_s: float
    frame_index: int
    point_xy: Point


@dataclass
class _TrackState:
    side: int = 0
    last_trusted_point: Point | None = None
    counted: bool = False
    pending: tuple[float, int, Point] | None = None


class LineCounter:
    """Counts the tracks that cross one line in its allowed direction."""

    def __init__(
        self,
        line: CountLine,
        frame_size_wh: tuple[int, int],
        min_hits: int = 1,
        segment_margin: float = 0.02,
    ) -> None:
        self.line = line
        self.min_hits = min_hits
        self.segment_margin = segment_margin
        self._states: dict[int, _TrackState] = {}
        # Families counted on this line, with when; old entries are pruned as time passes.
        self._counted_families: dict[int, float] = {}
        self._band = self._edge_aware_band(line, frame_size_wh)
        self._wanted_sign = self._direction_sign(line)

    def update(self, track: Track, time_s: float, frame_index: int) -> CrossingEvent | None:
        """Feeds a track's latest position; returns an event the first time it counts."""
        state = self._states.setdefault(track.track_id, _TrackState())
        point = track.anchor
        distance = signed_distance(self.line.start_xy, self.line.end_xy, point)
        side = 0
        if distance >= self._band[1]:
            side = 1
        elif distance <= -self._band[0]:
            side = -1

        if side != 0 and state.side != 0 and side != state.side:
            crossed_at = self._crossing_point(state.last_trusted_point, point)
            within = (
                -self.segment_margin
                <= position_along(self.line.start_xy, self.line.end_xy, crossed_at)
                <= 1 + self.segment_margin
            )
            allowed = self._wanted_sign == 0 or side - state.side == 2 * self._wanted_sign
            if within and allowed and not state.counted and state.pending is None:
                state.pending = (time_s, frame_index, crossed_at)
        if side != 0:
            state.side = side
            state.last_trusted_point = point

        if state.pending is not None and not state.counted and track.hits >= self.min_hits:
            state.counted = True
            if track.family_id in self._counted_families:
                return None  # another piece of this vehicle was counted already
            self._counted_families[track.family_id] = time_s
            if len(self._counted_families) > FAMILY_MEMORY:
                oldest = sorted(self._counted_families, key=self._counted_families.__getitem__)
                for family_id in oldest[: FAMILY_MEMORY // 2]:
                    del self._counted_families[family_id]
            pending_time, pending_frame, crossed_at = state.pending
            return CrossingEvent(
                self.line.id,
                track.track_id,
                track.vehicle_class,
                pending_time,
                pending_frame,
                crossed_at,
            )
        return None

    def forget(self, track_id: int) -> None:
        """Drops the state of a track that ended."""
        self._states.pop(track_id, None)

    def _crossing_point(self, before: Point | None, after: Point) -> Point:
        if before is None:
            return after
        d0 = signed_distance(self.line.start_xy, self.line.end_xy, before)
        d1 = signed_distance(self.line.start_xy, self.line.end_xy, after)
        share = d0 / (d0 - d1) if d0 != d1 else 0.5
        return (
            before[0] + share * (after[0] - before[0]),
            before[1] + share * (after[1] - before[1]),
        )

    @staticmethod
    def _direction_sign(line: CountLine) -> int:
        """+1 when counting means moving to the positive side, -1 the negative, 0 both."""
        if line.direction == "both":
            return 0
        axis = DIRECTION_AXES[line.direction]
        (x1, y1), (x2, y2) = line.start_xy, line.end_xy
        normal = (-(y2 - y1), x2 - x1)
        return 1 if normal[0] * axis[0] + normal[1] * axis[1] > 0 else -1

    @staticmethod
    def _edge_aware_band(
        line: CountLine, frame_size_wh: tuple[int, int]
    ) -> tuple[float, float]:
        """Hysteresis on the negative and positive sides, narrowed near the frame edges.

        A point can be at most as far from the line as the farthest frame corner; the band
        on each side is kept below a third of that reach so crossings stay detectable.
        """
        width, height = frame_size_wh
        corners = [
            (0.0, 0.0),
            (width - 1.0, 0.0),
            (0.0, height - 1.0),
            (width - 1.0, height - 1.0),
        ]
        reach = [signed_distance(line.start_xy, line.end_xy, corner) for corner in corners]
        negative_reach = max(0.0, -min(reach))
        positive_reach = max(0.0, max(reach))
        return (
            max(0.5, min(line.hysteresis_px, negative_reach / 3.0)),
            max(0.5, min(line.hysteresis_px, positive_reach / 3.0)),
        )
