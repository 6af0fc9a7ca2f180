"""A Tân Phong run under our controller with scheduled faults, watched from outside.

The watcher reads the state SUMO itself displays every step (not what the controller
meant to show), so the safety replay judges the heads, not the controller's intent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import sumolib

from controller import sumo_session
from controller.conflicts import from_net
from controller.detectors import write_detectors
from controller.junction import JunctionController
from controller.topology import read_layout
from nhip.metrics import read_tripinfo
from sumo_networks import scenario

SCENARIO = scenario("tan_phong")


@dataclass
class Watcher:
    tls_id: str
    shown: list[tuple[float, str]] = field(default_factory=list)

    def on_step(self, time_s: float, sumo) -> None:
        state = sumo.trafficlight.getRedYellowGreenState(self.tls_id)
        if not self.shown or self.shown[-1][1] != state:
            self.shown.append((time_s, state))


@dataclass
class Schedule:
    """Calls each action once, at the first step at or after its time."""

    actions: dict[float, Callable[[JunctionController], None]]
    controller: JunctionController | None = None

    def on_step(self, time_s: float, sumo) -> None:
        for at in sorted(self.actions):
            if at <= time_s:
                self.actions.pop(at)(self.controller)


def tan_phong_layout():
    """The Tân Phong light's layout, read from the network alone."""
    probe = sumo_session.start(sumo_session.SumoConfig(SCENARIO.net_file, []))
    try:
        return read_layout(probe, SCENARIO.tls_ids[0])
    finally:
        probe.close()


def run_tan_phong(workdir: Path, routes: Path, source, duration_s: float, seed: int = 7,
                  actions: dict[float, Callable[[JunctionController], None]] | None = None,
                  observers: tuple = ()) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    net_file = SCENARIO.net_file
    layout = tan_phong_layout()
    detectors = workdir / "detectors.add.xml"
    write_detectors(sumolib.net.readNet(str(net_file)), [layout], detectors)
    tripinfo = workdir / "tripinfo.xml"
    config = sumo_session.SumoConfig(net_file, [routes], [detectors], seed=seed,
                                     tripinfo_file=tripinfo)
    matrix = from_net(net_file, layout)
    sumo = sumo_session.start(config)
    try:
        controller = JunctionController(layout, source, conflicts=matrix)
        controller.start(sumo, sumo.simulation.getTime())
        watcher = Watcher(layout.tls_id)
        watcher.on_step(sumo.simulation.getTime(), sumo)  # the state set at start-up
        observers = [controller, watcher, *observers]
        if actions:
            observers.insert(0, Schedule(dict(actions), controller))
        sumo_session.run(sumo, observers, duration_s, drain_s=900.0)
    finally:
        sumo.close()
    stats = read_tripinfo(tripinfo).summary()
    return {"controller": controller, "shown": watcher.shown, "matrix": matrix,
            "mean_time_loss_s": stats["mean_time_loss_s"], "trips": stats["trips"]}
