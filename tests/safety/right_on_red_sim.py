"""A short Tân Phong run with right-turn-on-red signs, recording who turned on what."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import sumolib

from controller import right_on_red, sumo_session
from controller.conflicts import from_net
from controller.detectors import vehicle_class, vehicle_turn, write_detectors
from controller.programs import write_program
from controller.realtime import RealtimeController
from controller.right_on_red import Sign
from tests.safety.sim import tan_phong_layout
from sumo_networks import scenario

SCENARIO = scenario("tan_phong")


@dataclass
class TurnRecorder:
    """Per link watched, each vehicle that crossed the stop line onto it, with its class
    and the link's letter in force during the step it crossed. Runs before the
    controller, so the state it reads is the one the step ran under."""

    tls_id: str
    links: dict[int, tuple[str, str]]  # index -> (incoming lane, exit edge)
    crossings: list[tuple[int, str, str, str]] = field(default_factory=list)
    collisions: list[tuple[str, str, str]] = field(default_factory=list)
    teleports: int = 0
    _waiting: dict[str, int] = field(default_factory=dict)

    def on_step(self, time_s: float, sumo) -> None:
        self.collisions.extend((c.collider, c.victim, c.lane)
                               for c in sumo.simulation.getCollisions())
        self.teleports += sumo.simulation.getStartingTeleportNumber()
        state = sumo.trafficlight.getRedYellowGreenState(self.tls_id)
        arrived = set(sumo.simulation.getArrivedIDList())
        for vid, link in self._waiting.items():
            in_lane, _ = self.links[link]
            lane = "" if vid in arrived else sumo.vehicle.getLaneID(vid)
            if lane != in_lane and (lane.startswith(":") or not lane.startswith(
                    in_lane.rsplit("_", 1)[0] + "_")):
                self.crossings.append((link, vid, vehicle_class(sumo, vid)
                                       if lane else "gone", state[link]))
        self._waiting = {}
        for link, (in_lane, out_edge) in self.links.items():
            for vid in sumo.lane.getLastStepVehicleIDs(in_lane):
                if vehicle_turn(sumo, vid, in_lane)[1] == out_edge:
                    self._waiting[vid] = link


class _CheckJunctions(sumo_session.SumoConfig):
    """The usual command, with collisions inside the junction counted too."""

    def command(self) -> list[str]:
        args = super().command()
        args[args.index("--collision.check-junctions") + 1] = "true"
        return args


def run_signed(workdir: Path, routes: Path, signs: tuple[Sign, ...], controller: str,
               duration_s: float, seed: int = 7) -> dict:
    """``controller``: "realtime" (deciding in-process) or "actuated" (SUMO's own)."""
    workdir.mkdir(parents=True, exist_ok=True)
    net_file = SCENARIO.net_file
    layout = tan_phong_layout()
    matrix = from_net(net_file, layout)
    overlay = right_on_red.for_layout(layout, signs, matrix, net_file) if signs else None
    extra = [workdir / "detectors.add.xml"]
    write_detectors(sumolib.net.readNet(str(net_file)), [layout], extra[0])
    if controller == "actuated":
        extra.append(workdir / "actuated.add.xml")
        program = write_program([layout], "actuated", extra[1],
                                {layout.tls_id: overlay} if overlay else None)
    config = _CheckJunctions(net_file, [routes], extra, seed=seed)
    sumo = sumo_session.start(config)
    right = {link.index: (link.in_lane, link.out_edge) for link in layout.links
             if link.direction == "r"}
    recorder = TurnRecorder(layout.tls_id, right)
    observers: list = [recorder]
    junction = None
    try:
        if controller == "actuated":
            sumo.trafficlight.setProgram(layout.tls_id, program)
            observers.append(right_on_red.restrict_types(sumo, signs))
        else:
            junction = RealtimeController(layout, conflicts=matrix, right_on_red=overlay)
            junction.start(sumo, sumo.simulation.getTime())
            observers.append(junction)
        sumo_session.run(sumo, observers, duration_s, drain_s=0.0)
    finally:
        sumo.close()
    return {"recorder": recorder, "overlay": overlay, "matrix": matrix, "controller": junction}
