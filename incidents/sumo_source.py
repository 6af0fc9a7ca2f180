"""Track observations from a running SUMO simulation, through libsumo.

The stop-line distance comes from the vehicle's odometer: while it is on an approach
edge, the odometer reading at the stop line is fixed (odometer + rest of the lane), so
the distance stays continuous after the vehicle enters the junction. The signal group
is the one of the traffic-light link the vehicle will use (``vehicle.getNextTLS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from incidents.model import TrackObservation
from incidents.site import Site

# SUMO vClass -> the classes events carry.
_CLASS_MAP = {
    "passenger": "passenger", "taxi": "passenger", "private": "passenger",
    "evehicle": "passenger", "motorcycle": "motorcycle", "moped": "motorcycle",
    "bus": "bus", "coach": "bus", "truck": "truck", "trailer": "truck",
    "delivery": "truck", "bicycle": "bicycle", "emergency": "emergency",
}
# How far past the stop line a vehicle is still followed on its approach.
FOLLOW_PAST_STOP_LINE_M = 40.0


@dataclass(slots=True)
class _Approaching:
    approach_id: str
    signal_group_id: str | None
    lane_id: str
    stop_line_odometer_m: float


class SumoTrackSource:
    def __init__(self, site: Site, tls_id: str, link_groups: dict[int, str],
                 device_id: str) -> None:
        self.site = site
        self.tls_id = tls_id
        self.link_groups = dict(link_groups)
        self.device_id = device_id
        self._state: dict[str, _Approaching] = {}
        self._lane_length: dict[str, float] = {}

    def observe(self, sumo: Any, time_s: float) -> list[TrackObservation]:
        vehicle = sumo.vehicle
        frame = []
        present = set(vehicle.getIDList())
        for vid in present:
            odometer = vehicle.getDistance(vid)
            road = vehicle.getRoadID(vid)
            approach = self.site.approach_for_edge(road)
            if approach is not None:
                lane = vehicle.getLaneID(vid)
                rest = self._length(sumo, lane) - vehicle.getLanePosition(vid)
                group = None
                for tls_id, link_index, _dist, _state in vehicle.getNextTLS(vid):
                    if tls_id == self.tls_id:
                        group = self.link_groups.get(link_index)
                        break
                self._state[vid] = _Approaching(approach.approach_id, group, lane,
                                                odometer + rest)
            state = self._state.get(vid)
            distance = None
            if state is not None:
                distance = state.stop_line_odometer_m - odometer
                if distance < -FOLLOW_PAST_STOP_LINE_M:
                    del self._state[vid]
                    state, distance = None, None
            x_m, y_m = vehicle.getPosition(vid)
            frame.append(TrackObservation(
                track_id=vid,
                vehicle_class=_CLASS_MAP.get(vehicle.getVehicleClass(vid), "other"),
                time_s=time_s, x_m=x_m, y_m=y_m, speed_mps=max(0.0, vehicle.getSpeed(vid)),
                approach_id=state.approach_id if state else None,
                lane_id=state.lane_id if state else None,
                signal_group_id=state.signal_group_id if state else None,
                stop_line_distance_m=distance, device_id=self.device_id))
        for gone in set(self._state) - present:
            del self._state[gone]
        return frame

    def _length(self, sumo: Any, lane_id: str) -> float:
        if lane_id not in self._lane_length:
            self._lane_length[lane_id] = sumo.lane.getLength(lane_id)
        return self._lane_length[lane_id]
