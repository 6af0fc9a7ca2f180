"""Stop-line presence per incoming lane: the on/off edges an inductive loop would report.

A lane's channel is occupied while any vehicle overlaps the last ``zone_m`` metres before
its stop line (a 6 m loop, the common stop-bar length). Channels are numbered from 1 in
the order of the junction's incoming lanes; the event log records their edges as
detector on (82) and off (81) events.
"""

from __future__ import annotations

from controller.topology import JunctionLayout

STOP_BAR_LOOP_M = 6.0


class StopBarPresence:
    def __init__(self, layout: JunctionLayout, zone_m: float = STOP_BAR_LOOP_M) -> None:
        self.lanes = layout.in_lanes
        self.zone_m = zone_m
        self._length: dict[str, float] = {}
        self.state: dict[int, bool] = {i + 1: False for i in range(len(self.lanes))}

    def sample(self, sumo) -> list[tuple[int, bool]]:
        """Reads every lane; returns the (channel, occupied) edges since the last call."""
        edges = []
        for channel, lane in enumerate(self.lanes, start=1):
            if lane not in self._length:
                self._length[lane] = sumo.lane.getLength(lane)
            stop_line = self._length[lane]
            occupied = False
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                front = sumo.vehicle.getLanePosition(vid)
                if front >= stop_line - self.zone_m:
                    occupied = True
                    break
            if occupied != self.state[channel]:
                self.state[channel] = occupied
                edges.append((channel, occupied))
        return edges
