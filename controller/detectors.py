"""Lane-area detectors where a camera would look, and what they saw per signal group.

Each incoming lane of a light gets a lane-area (E2) detector over its last metres before
the stop line, the stretch a junction camera covers. Between two reports the detectors
give, per signal group: vehicles that arrived by class, the longest standing queue, and
the mean occupancy. A vehicle is attributed to the group of the turn it will make, as a
camera that tracks it across the junction would; it is counted once per approach even if
it changes lane inside the zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from controller.topology import JunctionLayout

# A pole-mounted junction camera sees about this far up each approach.
CAMERA_ZONE_M = 80.0
# SUMO vehicle classes folded into the four the optimizer knows.
CLASS_OF_VCLASS = {"motorcycle": "motorcycle", "moped": "motorcycle", "passenger": "car",
                   "taxi": "car", "private": "car", "evehicle": "car", "bus": "bus",
                   "coach": "bus", "truck": "truck", "trailer": "truck", "delivery": "car"}
CLASSES = ("motorcycle", "car", "bus", "truck")


def vehicle_turn(sumo, vid: str, lane: str) -> tuple[str, str | None]:
    """The edges a vehicle enters and leaves a junction by, when it comes in on ``lane``:
    what a camera tracking it across the junction sees. The vehicle may be on ``lane`` or
    still upstream of it; the exit is None when its trip ends on the approach."""
    route = sumo.vehicle.getRoute(vid)
    index = max(sumo.vehicle.getRouteIndex(vid), 0)
    in_edge = lane.rsplit("_", 1)[0]
    at = route.index(in_edge, index) if in_edge in route[index:] else -1
    return in_edge, (route[at + 1] if 0 <= at < len(route) - 1 else None)


def vehicle_class(sumo, vid: str) -> str:
    """One of ``CLASSES``; a SUMO class not listed counts as a car."""
    return CLASS_OF_VCLASS.get(sumo.vehicle.getVehicleClass(vid), "car")


def detector_id(tls_id: str, lane: str) -> str:
    return f"nhip_{tls_id}_{lane}"


def write_detectors(sumo_net, layouts: list[JunctionLayout], path: Path) -> None:
    """Writes an additional file with one E2 detector per incoming lane of each light.

    ``sumo_net`` is a sumolib network, used for lane lengths.
    """
    lines = ["<additional>"]
    for layout in layouts:
        for lane in layout.in_lanes:
            length = sumo_net.getLane(lane).getLength()
            zone = min(CAMERA_ZONE_M, max(length - 0.5, 1.0))
            lines.append(
                f"    <laneAreaDetector id={quoteattr(detector_id(layout.tls_id, lane))} "
                f"lane={quoteattr(lane)} endPos=\"{length - 0.1:.2f}\" length=\"{zone:.2f}\" "
                f"period=\"86400\" file=\"NUL\" jamThreshold=\"2.0\"/>"
            )
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class GroupReading:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLASSES, 0))
    queue_m: float = 0.0
    occupancy_sum: float = 0.0
    view_m: float = 0.0  # shortest detector view among the group's lanes


class JunctionDetectors:
    """Accumulates one light's detector readings between reports."""

    # A vehicle seen on an approach within this many seconds is the same passage.
    MEMORY_S = 180.0

    def __init__(self, layout: JunctionLayout) -> None:
        self.layout = layout
        self.lane_detectors = {lane: detector_id(layout.tls_id, lane) for lane in layout.in_lanes}
        self.view_m: dict[str, float] = {}
        self.lanes_of_group = {g.id: g.in_lanes for g in layout.groups}
        self._seen: dict[str, float] = {}
        self._class_of: dict[str, str] = {}
        self.jam_m: dict[str, float] = {}
        self.present: dict[str, int] = {}  # vehicles in each lane's zone at the last sample
        # Vehicles counted per group and class since the start, never reset by a report.
        self.totals = {g.id: dict.fromkeys(CLASSES, 0) for g in layout.groups}
        self.reset()

    def reset(self) -> None:
        self.readings = {g.id: GroupReading() for g in self.layout.groups}
        self.steps = 0

    def _views(self, sumo) -> None:
        for lane, det in self.lane_detectors.items():
            self.view_m[lane] = sumo.lanearea.getLength(det)

    def sample(self, sumo, time_s: float) -> None:
        """Reads every detector once; call each simulation step."""
        self.steps += 1
        if not self.view_m:
            self._views(sumo)
        occupancy: dict[str, float] = {}
        for lane, det in self.lane_detectors.items():
            self.jam_m[lane] = sumo.lanearea.getJamLengthMeters(det)
            occupancy[lane] = sumo.lanearea.getLastStepOccupancy(det) / 100.0
            vehicles = sumo.lanearea.getLastStepVehicleIDs(det)
            self.present[lane] = len(vehicles)
            for vid in vehicles:
                if vid not in self._seen:
                    self._arrival(sumo, vid, lane)
                self._seen[vid] = time_s
        for gid, lanes in self.lanes_of_group.items():
            reading = self.readings[gid]
            reading.queue_m = max(reading.queue_m, max(self.jam_m[lane] for lane in lanes))
            reading.occupancy_sum += sum(occupancy[lane] for lane in lanes) / len(lanes)
        if self.steps % 60 == 0:
            stale = [v for v, t in self._seen.items() if time_s - t > self.MEMORY_S]
            for vid in stale:
                del self._seen[vid]

    def vehicles_on(self, lane: str) -> int:
        return self.present.get(lane, 0)

    def _arrival(self, sumo, vid: str, lane: str) -> None:
        gid = self.layout.group_of_turn.get(vehicle_turn(sumo, vid, lane))
        if gid is None or gid not in self.readings:
            return  # leaves the network here, or a turn no group serves
        cls = vehicle_class(sumo, vid)
        self.readings[gid].counts[cls] += 1
        self.totals[gid][cls] += 1

    def report(self) -> dict[str, GroupReading]:
        """Readings since the last report, occupancy averaged; then starts afresh."""
        readings = self.readings
        for gid, reading in readings.items():
            reading.occupancy_sum /= max(self.steps, 1)
            reading.view_m = min((self.view_m.get(lane, 0.0) for lane in self.lanes_of_group[gid]),
                                 default=0.0)
        self.reset()
        return readings
