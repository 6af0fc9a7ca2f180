"""Steps a JunctionController on the FakeSumo stand-in, with actions at given times."""

from __future__ import annotations

from typing import Callable


def drive(controller, sumo, until_s: float, actions: dict[float, Callable] | None = None,
          step_s: float = 1.0) -> None:
    actions = actions or {}
    sumo.time_s = 0.0
    controller.start(sumo, 0.0)
    time_s = 0.0
    while time_s < until_s:
        time_s += step_s
        sumo.time_s = time_s
        if time_s in actions:
            actions[time_s](controller)
        controller.on_step(time_s, sumo)
