"""What a junction's cameras see, per signal group, when the real-time controller decides.

Per signal group: the passenger-car units standing on the approach (slower than 2 m/s) and
those moving that will reach the stop line within the look-ahead, the load and the room on
its exit lanes, and its saturation flow. Each vehicle counts for the turn it will make, as a
camera that tracks it across the junction would see; a vehicle a neighbour has announced
(``controller.platoons``) counts before it reaches the approach. The same view tells what
the running green is releasing toward each neighbour.

In SUMO the view reads whole approach lanes, not only the 80 m a pole camera covers.
"""

from __future__ import annotations

import math

from controller.detectors import CLASSES, vehicle_class, vehicle_turn
from controller.platoons import Forecast
from controller.topology import JunctionLayout
from optimizer.decision import START_UP_LOSS_S, GroupState
from optimizer.mixed_traffic import MixedTraffic
from optimizer.saturation import saturation_flow_pcu_per_h
from optimizer.traffic import DEFAULT_SATURATION_PCU_PER_H_PER_LANE, PcuFactors

# Slower than this a vehicle counts as queued.
QUEUED_SPEED_M_S = 2.0
# Moving traffic due within this many seconds is in the green's stream; beyond it, a gap
# (SUMO's actuated control gaps out at 3 s by default).
IMMINENT_S = 3.0
# Road taken per passenger-car unit in a standing queue (a car and its gap).
PCU_SPACE_M = 7.5
# Saturation flow per signal group: "calibrated", lanes times the per-lane figure tuned in
# SUMO (optimizer.traffic), or "width", from the group's stop-line width and the mix of the
# traffic it serves at the moment (optimizer.saturation).
SATURATION_MODELS = ("calibrated", "width")
# Caches of vehicles long gone are dropped past this many entries.
CACHE_LIMIT = 20_000


class ApproachView:
    def __init__(self, layout: JunctionLayout, lookahead_s: float,
                 factors: PcuFactors | None = None,
                 saturation_model: str = "calibrated",
                 mixed_traffic: MixedTraffic | None = None,
                 free_on_red: frozenset[tuple[str, str]] = frozenset()) -> None:
        if saturation_model not in SATURATION_MODELS:
            raise ValueError(f"saturation_model: must be one of {', '.join(SATURATION_MODELS)}, "
                             f"got {saturation_model!r}")
        self.layout = layout
        self.lookahead_s = lookahead_s
        self.factors = factors or PcuFactors()
        self.saturation_model = saturation_model
        # (group, class) pairs a right-turn-on-red sign lets go on red: while the group is
        # red they are no demand for its green (controller.right_on_red).
        self.free_on_red = free_on_red
        # Start-up loss per class and filtering; None: the HCM figure for every group.
        self.mixed_traffic = mixed_traffic
        self.lanes = {g.id: max(g.lanes, 0.5) for g in layout.groups}
        rate = DEFAULT_SATURATION_PCU_PER_H_PER_LANE / 3600.0
        self.saturation = {gid: lanes * rate for gid, lanes in self.lanes.items()}
        # Edges feeding the junction, each with one of its lanes (turns are per edge).
        self.approach_edges = {lane.rsplit("_", 1)[0]: lane for lane in layout.in_lanes}
        self.exit_edges = sorted({link.out_edge for link in layout.links})
        self._in_lanes = {g.id: g.in_lanes for g in layout.groups}
        self._out_lanes = {g.id: tuple(dict.fromkeys(
            link.out_lane for link in layout.links
            if layout.group_of_link.get(link.index) == g.id)) for g in layout.groups}
        self._class_of: dict[str, str] = {}
        self._turn_of: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._lane_length: dict[str, float] = {}
        self._travel_s: dict[str, float] = {}
        self._width_m: dict[str, float] = {}

    def measure(self, sumo, red_s: dict[str, float],
                incoming: dict[str, list[Forecast]]) -> dict[str, GroupState]:
        """Every group's state; ``red_s`` says how long each has been red, ``incoming``
        what neighbours announce per approach edge."""
        queue = dict.fromkeys(self.saturation, 0.0)
        imminent = dict.fromkeys(self.saturation, 0.0)
        arriving = dict.fromkeys(self.saturation, 0.0)
        mix = {gid: dict.fromkeys(CLASSES, 0) for gid in self.saturation}
        seen: dict[str, list] = {gid: [] for gid in self.saturation}
        on_approach = set()
        for lane in self.layout.in_lanes:
            length = self._length(sumo, lane)
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                on_approach.add(vid)
                gid = self.group(sumo, vid, lane)
                if gid not in queue:
                    continue  # leaves here, or takes a turn that no phase serves
                cls = self._class(sumo, vid)
                if red_s[gid] > 0 and (gid, cls) in self.free_on_red:
                    continue  # it turns on red
                pcu = getattr(self.factors, cls)
                speed = sumo.vehicle.getSpeed(vid)
                queued = speed < QUEUED_SPEED_M_S
                distance = None
                if queued:
                    queue[gid] += pcu
                else:
                    distance = length - sumo.vehicle.getLanePosition(vid)
                    if self.lookahead_s is not None and distance > speed * self.lookahead_s:
                        continue
                    arriving[gid] += pcu
                    if distance <= speed * IMMINENT_S:
                        imminent[gid] += pcu
                mix[gid][cls] += 1
                if self.mixed_traffic is not None:
                    if distance is None:
                        distance = length - sumo.vehicle.getLanePosition(vid)
                    seen[gid].append((distance, queued, cls))
        for edge, forecasts in incoming.items():
            for forecast in forecasts:
                if forecast.vehicle in on_approach:
                    continue  # the camera sees it now
                try:
                    gid = self.group(sumo, forecast.vehicle, self.approach_edges[edge])
                    cls = self._class(sumo, forecast.vehicle)
                except Exception:  # noqa: BLE001 - it left the network on the way
                    continue
                if gid in arriving:
                    arriving[gid] += forecast.pcu
                    mix[gid][cls] += 1
        groups = {}
        exits: dict[str, tuple[float, float]] = {}
        for gid, rate in self.saturation.items():
            on_exit = room = 0.0
            for lane in self._out_lanes[gid]:
                standing, on_lane = self._exit_load(sumo, lane, exits)
                on_exit += standing
                room += max(self._length(sumo, lane) / PCU_SPACE_M - on_lane, 0.0)
            if self.saturation_model == "width" and any(mix[gid].values()):
                rate = saturation_flow_pcu_per_h(self._group_width(sumo, gid), mix[gid],
                                                 pcu=self.factors) / 3600.0
            groups[gid] = GroupState(gid, queue[gid], arriving[gid], on_exit,
                                     room if self._out_lanes[gid] else math.inf, red_s[gid],
                                     rate, self.lanes[gid], self._start_up(seen[gid]),
                                     imminent[gid])
        if len(self._class_of) > CACHE_LIMIT:
            self._class_of.clear()
            self._turn_of.clear()
        return groups

    def released(self, sumo, now: float, green: set[str],
                 horizon_s: float) -> dict[str, list[Forecast]]:
        """Per exit edge, the vehicles the green groups release within ``horizon_s`` and
        when each should reach the edge's end: standing ones in queue order at the group's
        saturation flow, moving ones at their speed. Every exit edge is listed, so an
        empty list withdraws an earlier forecast."""
        released: dict[str, list[Forecast]] = {edge: [] for edge in self.exit_edges}
        waiting: dict[str, list[tuple[float, float, str, str]]] = {}
        for lane in self.layout.in_lanes:
            length = self._length(sumo, lane)
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                turn = self._turn(sumo, vid, lane)
                gid = self.layout.group_of_turn.get(turn)
                if gid in green and turn[1] in released:
                    distance = length - sumo.vehicle.getLanePosition(vid)
                    speed = sumo.vehicle.getSpeed(vid)
                    waiting.setdefault(gid, []).append((distance, speed, vid, turn[1]))
        for gid, vehicles in waiting.items():
            ahead = 0.0  # PCU ahead in the queue
            for distance, speed, vid, out_edge in self._discharge_order(sumo, sorted(vehicles)):
                crossing = ahead / self.saturation[gid]
                if speed >= QUEUED_SPEED_M_S:
                    crossing = max(crossing, distance / speed)
                pcu = self.pcu(sumo, vid)
                ahead += pcu
                if crossing <= horizon_s:
                    eta = now + crossing + self._travel(sumo, out_edge)
                    released[out_edge].append(Forecast(vid, eta, pcu))
        return released

    def _start_up(self, vehicles: list[tuple[float, bool, str]]) -> float:
        """A group's start-up loss from its vehicles (distance to the stop line, queued,
        class) as the camera sees them."""
        if self.mixed_traffic is None:
            return START_UP_LOSS_S
        vehicles.sort()
        return self.mixed_traffic.start_up_loss_s((cls, queued) for _, queued, cls in vehicles)

    def _discharge_order(self, sumo, vehicles: list) -> list:
        """A green's vehicles, nearest first, in the order they cross: with filtering, the
        motorcycles standing in the queue leave ahead of the four-wheelers there."""
        if self.mixed_traffic is None:
            return vehicles
        return self.mixed_traffic.discharge_order(
            vehicles, lambda v: v[1] < QUEUED_SPEED_M_S, lambda v: self._class(sumo, v[2]))

    def group(self, sumo, vid: str, lane: str) -> str | None:
        """The group of the turn a vehicle will make, as a tracking camera sees it.
        (Attributing by the vehicle's lane and turn instead measured worse on the
        Ingolstadt network, two seeds.)"""
        return self.layout.group_of_turn.get(self._turn(sumo, vid, lane))

    def pcu(self, sumo, vid: str) -> float:
        return getattr(self.factors, self._class(sumo, vid))

    def _turn(self, sumo, vid: str, lane: str) -> tuple[str, str | None]:
        key = (vid, lane)
        if key not in self._turn_of:
            self._turn_of[key] = vehicle_turn(sumo, vid, lane)
        return self._turn_of[key]

    def _class(self, sumo, vid: str) -> str:
        if vid not in self._class_of:
            self._class_of[vid] = vehicle_class(sumo, vid)
        return self._class_of[vid]

    def _exit_load(self, sumo, lane: str, seen: dict) -> tuple[float, float]:
        """The load on an exit lane that holds discharge back, and the PCU on it in all.

        Traffic standing on the exit blocks the movement outright. Traffic still moving
        blocks it in proportion to how full the lane is: on an empty exit it drives
        away, on a filling one (the approach to a busy next junction) it is the queue
        of the next few seconds. Counting all of it, as plain max-pressure does, holds
        back movements whose exit is merely busy; counting none misses a spill-back
        in the making (both measured worse on the suite)."""
        if lane not in seen:
            standing = total = 0.0
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                pcu = self.pcu(sumo, vid)
                total += pcu
                if sumo.vehicle.getSpeed(vid) < QUEUED_SPEED_M_S:
                    standing += pcu
            fill = min(total * PCU_SPACE_M / self._length(sumo, lane), 1.0)
            seen[lane] = (standing + (total - standing) * fill, total)
        return seen[lane]

    def _group_width(self, sumo, gid: str) -> float:
        """Metres of stop line the group uses: its share of lanes times their width."""
        if gid not in self._width_m:
            lanes = self._in_lanes[gid]
            mean = sum(sumo.lane.getWidth(lane) for lane in lanes) / len(lanes)
            self._width_m[gid] = self.lanes[gid] * mean
        return self._width_m[gid]

    def _length(self, sumo, lane: str) -> float:
        if lane not in self._lane_length:
            self._lane_length[lane] = sumo.lane.getLength(lane)
        return self._lane_length[lane]

    def _travel(self, sumo, edge: str) -> float:
        """Seconds to drive an edge at its speed limit."""
        if edge not in self._travel_s:
            lane = f"{edge}_0"
            self._travel_s[edge] = self._length(sumo, lane) / max(
                sumo.lane.getMaxSpeed(lane), 1.0)
        return self._travel_s[edge]
