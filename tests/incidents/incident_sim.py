"""A small signalised crossing in SUMO (libsumo) standing in for the SUMO controller.

It builds the network from the plain XML in ``data/``, runs a fixed two-group plan by
setting the light state itself, records every change in a real ``EventLog`` and calls
``on_step(time_s, sumo)`` on its observers, as the controller does.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sumolib

from controller.eventlog import EventCode, EventLog
from incidents.site import Approach, Site

DATA = Path(__file__).parent / "data"
TLS_ID = "C"
GROUPS = ("NS", "EW")
START_UTC = dt.datetime(2026, 12, 4, 8, 0, 0, tzinfo=dt.UTC)
# Fixed plan: (start_s, end_s, NS colour, EW colour, phase number, phase event).
PLAN = (
    (0.0, 30.0, "G", "r", 2, EventCode.PHASE_BEGIN_GREEN),
    (30.0, 33.0, "y", "r", 2, EventCode.PHASE_BEGIN_YELLOW),
    (33.0, 35.0, "r", "r", 2, EventCode.PHASE_BEGIN_RED_CLEARANCE),
    (35.0, 65.0, "r", "G", 4, EventCode.PHASE_BEGIN_GREEN),
    (65.0, 68.0, "r", "y", 4, EventCode.PHASE_BEGIN_YELLOW),
    (68.0, 70.0, "r", "r", 4, EventCode.PHASE_BEGIN_RED_CLEARANCE),
)
CYCLE_S = 70.0
APPROACH_EDGES = {"N": "N2C", "S": "S2C", "E": "E2C", "W": "W2C"}
APPROACH_GROUP = {"N": "NS", "S": "NS", "E": "EW", "W": "EW"}


def build_network(workdir: Path) -> Path:
    net = workdir / "cross.net.xml"
    subprocess.run(
        [sumolib.checkBinary("netconvert"), "-n", str(DATA / "cross.nod.xml"),
         "-e", str(DATA / "cross.edg.xml"), "--tls.default-type", "static",
         "--no-turnarounds", "-o", str(net)],
        check=True, capture_output=True)
    return net


def crossing_site(net_path: Path) -> Site:
    """The site as configured for this network: stop lines read from the lane shapes."""
    net = sumolib.net.readNet(str(net_path))
    approaches = {}
    for name, edge_id in APPROACH_EDGES.items():
        shape = net.getEdge(edge_id).getLane(0).getShape()
        (x0, y0), (x1, y1) = shape[-2], shape[-1]
        approaches[name] = Approach(
            approach_id=name, signal_group_id=APPROACH_GROUP[name], stop_line=(x1, y1),
            heading=_unit(x1 - x0, y1 - y0), speed_limit_kmh=50.0,
            upstream_distance_m=net.getEdge(edge_id).getLength(), sumo_edges=(edge_id,))
    centre = net.getNode(TLS_ID).getCoord()
    return Site(TLS_ID, origin_lat=10.9574, origin_lon=106.8426, approaches=approaches,
                origin_xy=(centre[0], centre[1]))


def _unit(dx: float, dy: float) -> tuple[float, float]:
    norm = (dx * dx + dy * dy) ** 0.5
    return dx / norm, dy / norm


class Crossing:
    def __init__(self, net_path: Path, step_s: float = 0.5) -> None:
        import libsumo

        self.sumo = libsumo
        self.step_s = step_s
        libsumo.start(["sumo", "-n", str(net_path), "--step-length", str(step_s),
                       "--no-step-log", "--no-warnings", "--seed", "7"])
        self.links = libsumo.trafficlight.getControlledLinks(TLS_ID)
        self.link_groups = {}
        for index, link in enumerate(self.links):
            approach = next(a for a, e in APPROACH_EDGES.items() if link[0][0].startswith(e))
            self.link_groups[index] = APPROACH_GROUP[approach]
        self.event_log = EventLog(TLS_ID, GROUPS, start_utc=START_UTC)
        self.observers: list[Any] = []
        self._last_phase_row: int | None = None

    def colours(self, time_s: float) -> tuple[dict[str, str], int, EventCode, int]:
        t = time_s % CYCLE_S
        for row, (start, end, ns, ew, phase, code) in enumerate(PLAN):
            if start <= t < end:
                return {"NS": ns, "EW": ew}, phase, code, row
        raise AssertionError(t)

    def add_vehicle(self, vid: str, route: tuple[str, str], vclass: str = "passenger",
                    speed_mode: int | None = None, depart_speed: str = "max",
                    depart_pos: str = "base") -> None:
        route_id = f"r_{vid}"
        self.sumo.route.add(route_id, list(route))
        type_id = f"t_{vclass}"
        if type_id not in self.sumo.vehicletype.getIDList():
            self.sumo.vehicletype.copy("DEFAULT_VEHTYPE", type_id)
            self.sumo.vehicletype.setVehicleClass(type_id, vclass)
        self.sumo.vehicle.add(vid, route_id, typeID=type_id, departSpeed=depart_speed,
                              departPos=depart_pos)
        if speed_mode is not None:
            self.sumo.vehicle.setSpeedMode(vid, speed_mode)

    def run_until(self, end_s: float, hook: Callable[[float], None] | None = None) -> None:
        while True:
            time_s = self.sumo.simulation.getTime()
            if time_s >= end_s:
                return
            self._apply_signal(time_s)
            self.sumo.simulationStep()
            now = self.sumo.simulation.getTime()
            for observer in self.observers:
                observer.on_step(now, self.sumo)
            if hook is not None:
                hook(now)

    def _apply_signal(self, time_s: float) -> None:
        colours, phase, code, row = self.colours(time_s)
        if row != self._last_phase_row:
            self.event_log.record(time_s, code, phase)
            self._last_phase_row = row
        self.event_log.record_signal_state(time_s, colours)
        state = "".join(colours[self.link_groups[i]] for i in range(len(self.links)))
        self.sumo.trafficlight.setRedYellowGreenState(TLS_ID, state)

    def close(self) -> None:
        self.sumo.close()
