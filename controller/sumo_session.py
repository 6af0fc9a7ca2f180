"""Starting and stepping SUMO: libsumo in-process, or traci with the GUI.

libsumo opens no socket and is several times faster, so it is the default. The GUI
needs traci, whose server listens on every network interface (SUMO has no option to bind
it to loopback); it is used only when the GUI is asked for, and closed with the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import sumo as sumo_package  # noqa: F401 - importing it sets SUMO_HOME for the binaries
import sumolib

log = logging.getLogger("nhip.sumo")

# Sublane resolution for mixed traffic; 0.8 m lets motorcycles ride two or three abreast
# in a 3.5 m lane (SUMO sublane model).
LATERAL_RESOLUTION_M = 0.8
IGNORE_JUNCTION_BLOCKER_S = 20


class StepObserver(Protocol):
    def on_step(self, time_s: float, sumo) -> None: ...


@dataclass
class SumoConfig:
    net_file: Path
    route_files: list[Path]
    additional_files: list[Path] = field(default_factory=list)
    seed: int = 1
    step_s: float = 1.0
    tripinfo_file: Path | None = None
    begin_s: float = 0.0
    gui: bool = False
    sublane: bool = True
    extra_args: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        binary = sumolib.checkBinary("sumo-gui" if self.gui else "sumo")
        args = [binary, "-n", str(self.net_file), "--seed", str(self.seed),
                "--step-length", str(self.step_s),
                "--begin", str(self.begin_s),
                "--no-step-log", "true", "--no-warnings", "true",
                "--time-to-teleport", "300",
                # Riders who stand blocking the junction box for this long are passed, as
                # motorcycles in Vietnamese traffic squeeze round them; without it SUMO's
                # permissive left-turners can lock the box for every controller alike.
                "--ignore-junction-blocker", str(IGNORE_JUNCTION_BLOCKER_S),
                "--collision.action", "warn", "--collision.check-junctions", "false"]
        if self.route_files:
            args += ["-r", ",".join(str(p) for p in self.route_files)]
        if self.additional_files:
            args += ["-a", ",".join(str(p) for p in self.additional_files)]
        if self.sublane:
            args += ["--lateral-resolution", str(LATERAL_RESOLUTION_M)]
        if self.tripinfo_file is not None:
            args += ["--tripinfo-output", str(self.tripinfo_file),
                     "--tripinfo-output.write-unfinished", "true"]
        if self.gui:
            args += ["--start", "true", "--quit-on-end", "true"]
        return args + self.extra_args


def start(config: SumoConfig):
    """Starts SUMO and returns the module to call it through (libsumo or traci)."""
    if config.gui:
        import traci as sumo
        log.warning("GUI asked for: traci's server listens on every interface while it runs")
    else:
        import libsumo as sumo
    sumo.start(config.command())
    return sumo


def run(
    sumo,
    observers: list[StepObserver],
    until_s: float,
    drain_s: float = 0.0,
    progress: Callable[[float], None] | None = None,
) -> float:
    """Steps until ``until_s``, then on for at most ``drain_s`` while vehicles remain.

    Returns the simulation time reached.
    """
    time_s = sumo.simulation.getTime()
    while True:
        if time_s >= until_s and (time_s >= until_s + drain_s
                                  or sumo.simulation.getMinExpectedNumber() == 0):
            break
        sumo.simulationStep()
        time_s = sumo.simulation.getTime()
        for observer in observers:
            observer.on_step(time_s, sumo)
        if progress is not None:
            progress(time_s)
    return time_s
