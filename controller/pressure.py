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
from controller.max_pressure import green_link_lanes, phase_pressures

# Vehicles by which another phase's pressure must exceed the current one's before the
# green is cut: below this the switch's lost time costs more than it saves.
DEFAULT_MARGIN = 4.0


class PressureController(JunctionController):
    def __init__(self, *args, margin: float = DEFAULT_MARGIN, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.margin = margin
        self._pairs = green_link_lanes(self.layout)
        self.pressure_outs = 0

    def _gapped_out(self, sumo) -> bool:
        if super()._gapped_out(sumo):
            return True
        elapsed = self.timer.green_elapsed_s()
        current = self.timer.phase
        if (elapsed is None or len(self.layout.phases) < 2
                or elapsed + self.step_s < self.layout.phases[current].min_green_s):
            return False
        pressures = phase_pressures(sumo, self._pairs)
        rival = max(p for k, p in enumerate(pressures) if k != current)
        if rival > pressures[current] + self.margin:
            self.pressure_outs += 1
            return True
        return False
