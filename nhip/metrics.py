"""Measures of a run: trip delays from SUMO's tripinfo and statistics, queues on the lanes.

The headline figure is the mean trip delay per vehicle: time loss plus departure delay,
for every trip, finished or not; and vehicles that never got into the network are charged
from their intended departure until the end. A controller that gridlocks the network
therefore can never look good by keeping vehicles out of it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from controller.detectors import CLASSES

# vType ids in our demand are the class names; other networks' types fold by prefix.
_CLASS_PREFIXES = {"moto": "motorcycle", "car": "car", "pass": "car", "bus": "bus",
                   "truck": "truck", "trailer": "truck", "container": "truck"}


def vehicle_class(vtype: str) -> str:
    lowered = vtype.lower()
    for prefix, cls in _CLASS_PREFIXES.items():
        if lowered.startswith(prefix):
            return cls
    return "car"


@dataclass
class TripStats:
    trips: int = 0
    served: int = 0
    stops: int = 0
    time_loss_s: float = 0.0
    waiting_s: float = 0.0
    depart_delay_s: float = 0.0
    by_class: dict[str, list[float]] = field(
        default_factory=lambda: {c: [0, 0.0, 0.0] for c in CLASSES})  # n, loss, wait

    def summary(self, never_entered: tuple[int, float] = (0, 0.0)) -> dict:
        """``never_entered``: vehicles still waiting to enter at the end, and their mean
        wait since their intended departure."""
        n = max(self.trips, 1)
        waiting, waited_s = never_entered
        delay = self.time_loss_s + self.depart_delay_s + waiting * waited_s
        return {
            "trips": self.trips,
            "vehicles_served": self.served,
            "never_entered": waiting,
            "mean_delay_s": delay / max(self.trips + waiting, 1),
            "stops_per_vehicle": self.stops / n,
            "mean_time_loss_s": self.time_loss_s / n,
            "mean_waiting_s": self.waiting_s / n,
            "mean_depart_delay_s": self.depart_delay_s / n,
            "by_class": {
                cls: {"vehicles": int(v[0]),
                      "mean_time_loss_s": v[1] / v[0] if v[0] else None,
                      "mean_waiting_s": v[2] / v[0] if v[0] else None}
                for cls, v in self.by_class.items()
            },
        }


def read_tripinfo(path: Path) -> TripStats:
    """Every trip, finished or not: unfinished trips count their delay so far."""
    stats = TripStats()
    for _event, element in ET.iterparse(path, events=("end",)):
        if element.tag != "tripinfo":
            continue
        loss = float(element.get("timeLoss", 0.0))
        wait = float(element.get("waitingTime", 0.0))
        stats.trips += 1
        stats.time_loss_s += loss
        stats.waiting_s += wait
        stats.depart_delay_s += float(element.get("departDelay", 0.0))
        stats.stops += int(element.get("waitingCount", 0))
        if float(element.get("arrival", -1)) >= 0:
            stats.served += 1
        bucket = stats.by_class[vehicle_class(element.get("vType", ""))]
        bucket[0] += 1
        bucket[1] += loss
        bucket[2] += wait
        element.clear()
    return stats


def read_statistics(path: Path) -> tuple[int, float]:
    """Vehicles still waiting to enter at the end and their mean wait, from SUMO's
    ``--statistic-output``."""
    waiting, waited = 0, 0.0
    for _event, element in ET.iterparse(path, events=("end",)):
        if element.tag == "vehicles":
            waiting = int(element.get("waiting", 0))
        elif element.tag == "vehicleTripStatistics":
            waited = float(element.get("departDelayWaiting", 0.0))
    return waiting, max(waited, 0.0)


class QueueMonitor:
    """Longest standing queue over the run, a queue series for plotting, and teleports.

    A lane's queue reaches from the stop line to its farthest halted vehicle (below
    ``HALTING_SPEED``), so a queue longer than a camera's view is still measured, up
    to the length of the approach.
    """

    HALTING_SPEED = 2.0  # m/s, SUMO's own jam threshold for halting

    def __init__(self, lanes: list[str], sample_every_s: float = 5.0) -> None:
        self.lanes = lanes
        self.sample_every_s = sample_every_s
        self.max_queue_m = 0.0
        self.series: list[tuple[float, float]] = []  # (time, longest lane queue)
        self.teleports = 0
        self._next_sample = 0.0
        self._lengths: dict[str, float] = {}

    def on_step(self, time_s: float, sumo) -> None:
        self.teleports += sumo.simulation.getStartingTeleportNumber()
        if time_s < self._next_sample:
            return
        self._next_sample = time_s + self.sample_every_s
        longest = max((self._queue(sumo, lane) for lane in self.lanes), default=0.0)
        self.max_queue_m = max(self.max_queue_m, longest)
        self.series.append((time_s, longest))

    def _queue(self, sumo, lane: str) -> float:
        length = self._lengths.get(lane)
        if length is None:
            length = self._lengths[lane] = sumo.lane.getLength(lane)
        nearest_halted = length
        for vid in sumo.lane.getLastStepVehicleIDs(lane):
            if sumo.vehicle.getSpeed(vid) < self.HALTING_SPEED:
                nearest_halted = min(nearest_halted, sumo.vehicle.getLanePosition(vid))
        return length - nearest_halted
