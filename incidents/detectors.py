"""Detectors that turn a stream of track observations into incidents and violations.

Each frame (all observations at one instant) goes through ``DetectorSet.step``. The
detectors share one short history per track and judge signal-dependent rules against
``SignalClock.colour_at`` at the instant the rule was broken, not at the frame time.

Known limits: turns are not told apart, so a vehicle is judged against the signal group
its observation names (SUMO gives the exact link) or else its approach's main group;
right turn on red where a sign allows it must be given its own group to be exempt.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

from incidents.model import EventType, TrackObservation
from incidents.site import Approach, Site


class SignalClock(Protocol):
    """What the detectors need from the controller's event log."""

    def colour_at(self, group_id: str, time_s: float) -> str | None: ...


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    """Thresholds, in SI units; the defaults suit an urban signalised junction."""

    halted_speed_mps: float = 0.5
    stopped_min_s: float = 20.0          # stopped at least this long ...
    stopped_green_clear_s: float = 10.0  # ... of which this long on green, lane ahead clear
    leader_gap_m: float = 15.0           # a vehicle closer ahead than this explains a stop
    red_grace_s: float = 0.2             # red must have shown this long before the crossing
    speed_window_s: float = 1.0
    speed_tolerance_kmh: float = 5.0
    wrong_way_window_s: float = 2.0
    wrong_way_min_speed_mps: float = 2.0
    spillback_margin_m: float = 15.0
    spillback_hold_s: float = 10.0
    spillback_min_vehicles: int = 3
    spillback_clear_s: float = 60.0      # queue short again this long ends the episode
    history_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Detection:
    """A rule broken by a track (or by a queue, for spillback) at ``time_s``."""

    event_type: EventType
    time_s: float
    observation: TrackObservation
    details: dict[str, Any] = field(default_factory=dict)
    trace: tuple[TrackObservation, ...] = ()


class DetectorSet:
    """Runs every detector over each frame and keeps the per-track history they share."""

    def __init__(self, site: Site, clock: SignalClock,
                 settings: DetectorSettings | None = None) -> None:
        self.site = site
        self.clock = clock
        self.settings = settings or DetectorSettings()
        self.history: dict[str, deque[TrackObservation]] = {}
        # Event types already reported per track: each is reported once per track.
        self._reported: dict[str, set[EventType]] = {}
        self._stopped_since: dict[str, float] = {}
        self._green_clear_s: dict[str, float] = {}
        self._spill_since: dict[str, float] = {}
        self._spill_active: set[str] = set()
        self._spill_clear_since: dict[str, float] = {}

    def step(self, time_s: float, frame: list[TrackObservation]) -> list[Detection]:
        detections: list[Detection] = []
        previous = {obs.track_id: self.history[obs.track_id][-1]
                    for obs in frame if obs.track_id in self.history}
        for obs in frame:
            self.history.setdefault(obs.track_id, deque()).append(obs)
        for obs in frame:
            approach = self.site.approach(obs.approach_id)
            before = previous.get(obs.track_id)
            for found in (self._red_light(obs, before, approach),
                          self._speeding(obs, approach),
                          self._wrong_way(obs, approach),
                          self._stopped(obs, before, approach, frame)):
                if found is not None and self._first(found):
                    detections.append(found)
        detections.extend(self._spillback(time_s, frame))
        self._forget_old(time_s)
        return detections

    def _first(self, detection: Detection) -> bool:
        seen = self._reported.setdefault(detection.observation.track_id, set())
        if detection.event_type in seen:
            return False
        seen.add(detection.event_type)
        return True

    def _group(self, obs: TrackObservation, approach: Approach | None) -> str | None:
        if obs.signal_group_id:
            return obs.signal_group_id
        return approach.signal_group_id if approach else None

    def _red_light(self, obs: TrackObservation, before: TrackObservation | None,
                   approach: Approach | None) -> Detection | None:
        if before is None or before.stop_line_distance_m is None:
            return None
        if obs.stop_line_distance_m is None:
            return None
        if not (before.stop_line_distance_m > 0 >= obs.stop_line_distance_m):
            return None
        group = self._group(before, self.site.approach(before.approach_id) or approach)
        if group is None:
            return None
        # Interpolate the instant the front crossed the line between the two sightings.
        span = before.stop_line_distance_m - obs.stop_line_distance_m
        fraction = before.stop_line_distance_m / span
        crossing_s = before.time_s + fraction * (obs.time_s - before.time_s)
        grace = self.settings.red_grace_s
        if self.clock.colour_at(group, crossing_s) != "r":
            return None
        if self.clock.colour_at(group, crossing_s - grace) != "r":
            return None
        return Detection(
            EventType.RED_LIGHT, crossing_s, obs,
            {"signal_group_id": group, "crossing_time_s": round(crossing_s, 3),
             "speed_kmh": round(obs.speed_mps * 3.6, 1)},
            self._trace(obs.track_id))

    def _speeding(self, obs: TrackObservation, approach: Approach | None) -> Detection | None:
        if approach is None:
            return None
        speed = self._mean_speed(obs.track_id, self.settings.speed_window_s)
        if speed is None:
            return None
        speed_kmh = speed * 3.6
        if speed_kmh <= approach.speed_limit_kmh + self.settings.speed_tolerance_kmh:
            return None
        return Detection(
            EventType.SPEEDING, obs.time_s, obs,
            {"speed_kmh": round(speed_kmh, 1), "limit_kmh": approach.speed_limit_kmh,
             "window_s": self.settings.speed_window_s},
            self._trace(obs.track_id))

    def _mean_speed(self, track_id: str, window_s: float) -> float | None:
        """Path length over time across the last ``window_s``, from positions alone."""
        points = self._window(track_id, window_s)
        if points is None:
            return None
        path = sum(math.hypot(b.x_m - a.x_m, b.y_m - a.y_m) for a, b in pairwise(points))
        return path / (points[-1].time_s - points[0].time_s)

    def _window(self, track_id: str, window_s: float) -> list[TrackObservation] | None:
        history = self.history[track_id]
        latest = history[-1].time_s
        points = [o for o in history if o.time_s >= latest - window_s - 1e-9]
        if len(points) < 2 or points[-1].time_s - points[0].time_s < 0.8 * window_s:
            return None
        return points

    def _wrong_way(self, obs: TrackObservation, approach: Approach | None) -> Detection | None:
        if approach is None:
            return None
        points = self._window(obs.track_id, self.settings.wrong_way_window_s)
        if points is None:
            return None
        first, last = points[0], points[-1]
        along = ((last.x_m - first.x_m) * approach.heading[0]
                 + (last.y_m - first.y_m) * approach.heading[1])
        velocity_along = along / (last.time_s - first.time_s)
        if velocity_along > -self.settings.wrong_way_min_speed_mps:
            return None
        return Detection(
            EventType.WRONG_WAY, obs.time_s, obs,
            {"speed_against_kmh": round(-velocity_along * 3.6, 1)}, self._trace(obs.track_id))

    def _stopped(self, obs: TrackObservation, before: TrackObservation | None,
                 approach: Approach | None, frame: list[TrackObservation]) -> Detection | None:
        settings = self.settings
        if approach is None or obs.speed_mps > settings.halted_speed_mps:
            self._stopped_since.pop(obs.track_id, None)
            self._green_clear_s.pop(obs.track_id, None)
            return None
        since = self._stopped_since.setdefault(obs.track_id, obs.time_s)
        group = self._group(obs, approach)
        colour = self.clock.colour_at(group, obs.time_s) if group else None
        if before is not None and colour == "G" and not self._blocked_ahead(obs, frame):
            clear = self._green_clear_s.get(obs.track_id, 0.0) + obs.time_s - before.time_s
            self._green_clear_s[obs.track_id] = clear
        stopped_s = obs.time_s - since
        in_junction = obs.stop_line_distance_m is not None and obs.stop_line_distance_m < -1.0
        if stopped_s < settings.stopped_min_s:
            return None
        clear_s = self._green_clear_s.get(obs.track_id, 0.0)
        if not in_junction and clear_s < settings.stopped_green_clear_s:
            return None
        return Detection(
            EventType.STOPPED_VEHICLE, obs.time_s, obs,
            {"stopped_s": round(stopped_s, 1), "green_clear_s": round(clear_s, 1),
             "in_junction": in_junction}, self._trace(obs.track_id))

    def _blocked_ahead(self, obs: TrackObservation, frame: list[TrackObservation]) -> bool:
        """True when another vehicle in the same lane sits just ahead (a queue, not a fault)."""
        if obs.stop_line_distance_m is None:
            return False
        for other in frame:
            if other.track_id == obs.track_id or other.lane_id != obs.lane_id:
                continue
            if other.approach_id != obs.approach_id or other.stop_line_distance_m is None:
                continue
            gap = obs.stop_line_distance_m - other.stop_line_distance_m
            if 0 < gap <= self.settings.leader_gap_m:
                return True
        return False

    def _spillback(self, time_s: float, frame: list[TrackObservation]) -> list[Detection]:
        settings = self.settings
        found: list[Detection] = []
        for approach in self.site.approaches.values():
            halted = [o for o in frame
                      if o.approach_id == approach.approach_id
                      and o.stop_line_distance_m is not None and o.stop_line_distance_m >= 0
                      and o.speed_mps <= settings.halted_speed_mps]
            limit = approach.upstream_distance_m - settings.spillback_margin_m
            tail = max(halted, key=lambda o: o.stop_line_distance_m or 0.0, default=None)
            reaching = (tail is not None and len(halted) >= settings.spillback_min_vehicles
                        and (tail.stop_line_distance_m or 0.0) >= limit)
            key = approach.approach_id
            if not reaching:
                self._spill_since.pop(key, None)
                # One episode per blockage: it ends only after the queue has stayed
                # clearly shorter (10 m below the limit) for spillback_clear_s, so a queue
                # that reaches back every cycle is not reported every cycle.
                if tail is None or (tail.stop_line_distance_m or 0.0) < limit - 10.0:
                    clear_since = self._spill_clear_since.setdefault(key, time_s)
                    if time_s - clear_since >= settings.spillback_clear_s:
                        self._spill_active.discard(key)
                else:
                    self._spill_clear_since.pop(key, None)
                continue
            self._spill_clear_since.pop(key, None)
            since = self._spill_since.setdefault(key, time_s)
            if key in self._spill_active or time_s - since < settings.spillback_hold_s:
                continue
            self._spill_active.add(key)
            assert tail is not None
            found.append(Detection(
                EventType.SPILLBACK, time_s, tail,
                {"queue_m": round(tail.stop_line_distance_m or 0.0, 1),
                 "halted_vehicles": len(halted),
                 "upstream_distance_m": approach.upstream_distance_m}))
        return found

    def _trace(self, track_id: str) -> tuple[TrackObservation, ...]:
        return tuple(self.history[track_id])

    def _forget_old(self, time_s: float) -> None:
        horizon = time_s - self.settings.history_s
        for track_id in list(self.history):
            history = self.history[track_id]
            while history and history[0].time_s < horizon:
                history.popleft()
            if not history:
                # Known limit: a track id the source reuses after 10 s unseen counts as
                # a new vehicle and can be reported again.
                del self.history[track_id]
                self._reported.pop(track_id, None)
                self._stopped_since.pop(track_id, None)
                self._green_clear_s.pop(track_id, None)
