"""The way out of an unsafe or abandoned sequence: clear the junction, then fall back.

Starting from the state last shown (which the monitor passed, so it is safe), the exit
keeps every green until its minimum is served, turns everything still released to
yellow for the minimum yellow, holds all-red for the longest clearance, and then either
hands over to a fresh sequencer (``restart``: the junction's fixed plan, or a newly
loaded timing) or shows flashing yellow (``flash``: SUMO's 'o', "off, blinking", give
way) until an operator resets it. Each of its states is checked by the monitor too.
"""

from __future__ import annotations

import math

from controller.monitor import ConflictMonitor, fold


class SafeExit:
    def __init__(self, monitor: ConflictMonitor, time_s: float, step_s: float,
                 then: str) -> None:
        if then not in ("restart", "flash"):
            raise ValueError(f"then: must be 'restart' or 'flash', got {then!r}")
        self.then = then
        shown = monitor.shown or "r" * monitor.matrix.size
        rules = monitor.rules
        self._held = shown
        hold = 0.0
        for link, letter in enumerate(shown):
            colour, since = monitor.colour_since(link)
            if colour == "G" and math.isfinite(since):
                hold = max(hold, rules.min_green_s.get(link, 0.0) - (time_s - since))
        self._yellow = "".join("y" if fold(c) in "Gy" else "r" for c in shown)
        self._red = "r" * len(shown)
        clearance = max((rules.clearance_s(k) for k in range(len(shown))), default=0.0)
        # Stage ends are whole steps, so the minimum is met on a stepped clock.
        self.yellow_at = time_s + _steps(max(hold, 0.0), step_s)
        self.red_at = self.yellow_at + (_steps(rules.min_yellow_s, step_s)
                                        if self._yellow != self._red else 0.0)
        # At least one step of all-red, even with no clearance configured: a link may not
        # go from yellow straight to the next timing's green.
        self.done_at = self.red_at + max(_steps(clearance, step_s), step_s)

    def state(self, time_s: float) -> str:
        if time_s < self.yellow_at:
            return self._held
        if time_s < self.red_at:
            return self._yellow
        if time_s < self.done_at or self.then == "restart":
            return self._red
        return "o" * len(self._red)

    def finished(self, time_s: float) -> bool:
        """True once a restart may begin (never for flash, which holds until reset)."""
        return self.then == "restart" and time_s >= self.done_at


def _steps(seconds: float, step_s: float) -> float:
    return math.ceil(seconds / step_s - 1e-9) * step_s
