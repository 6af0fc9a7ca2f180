"""Adaptive control within the cycle: a green also ends when another phase needs it more.

The cycle plan from the optimizer sets each green's ceiling and the phase order. Inside
it, after a green has served its minimum, the controller compares pressures every step
(vehicles on a phase's incoming lanes minus vehicles on its outgoing lanes, over the links
it gives green to, as in max-pressure control) and ends the green early when the phase
with the most pressure elsewhere outweighs the current one by ``margin``. The gap-out of
``JunctionController`` still applies, so an empty approach ends at once.
"""

from __future__ import annotations

from controller.junction import JunctionController

# Vehicles by which another phase's pressure must exceed the current one's before the
# green is cut: below this the switch's lost time costs more than it saves.
DEFAULT_MARGIN = 4.0


class PressureController(JunctionController):
    def __init__(self, *args, margin: float = DEFAULT_MARGIN, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.margin = margin
        self._pairs = [
            [(link.in_lane, link.out_lane) for link in self.layout.links
             if phase.green_state[link.index] in "Gg"]
            for phase in self.layout.phases
        ]
        self.pressure_outs = 0

    def pressures(self, sumo) -> list[int]:
        """Each phase's pressure from the vehicles now on its lanes."""
        counts: dict[str, int] = {}

        def vehicles(lane: str) -> int:
            if lane not in counts:
                counts[lane] = sumo.lane.getLastStepVehicleNumber(lane)
            return counts[lane]

        return [sum(vehicles(i) - vehicles(o) for i, o in pairs) for pairs in self._pairs]

    def _gapped_out(self, sumo) -> bool:
        if super()._gapped_out(sumo):
            return True
        elapsed = self.timer.green_elapsed_s()
        current = self.timer.phase
        if (elapsed is None or len(self.layout.phases) < 2
                or elapsed + self.step_s < self.layout.phases[current].min_green_s):
            return False
        pressures = self.pressures(sumo)
        rival = max(p for k, p in enumerate(pressures) if k != current)
        if rival > pressures[current] + self.margin:
            self.pressure_outs += 1
            return True
        return False
