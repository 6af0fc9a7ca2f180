"""The phase sequencer: turns a cycle plan into the signal state shown each second.

A cycle serves the phases in order; each green is followed by yellow and then all-red
for the links that lose their green, while links green in both phases stay green.
Greens come from the current plan, which is swapped only at a cycle boundary, so a
phase is never cut short by a plan change. A phase with no demand may be skipped (the
``has_demand`` callback says so); the sequence then goes straight to the next one, with
the clearance that pair of phases needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from controller.topology import JunctionLayout

GREEN = "Gg"


@dataclass(frozen=True)
class CyclePlan:
    """Whole-second greens per phase, in phase order, and where they came from."""

    greens_s: tuple[float, ...]
    version: int = 0
    source: str = "program"

    def cycle_s(self, layout: JunctionLayout) -> float:
        return sum(self.greens_s) + sum(p.yellow_s + p.all_red_s for p in layout.phases)


def program_plan(layout: JunctionLayout) -> CyclePlan:
    """The light's own program timings: the plan to fall back on."""
    greens = tuple(
        float(round(min(max(p.program_green_s, p.min_green_s), p.max_green_s)))
        for p in layout.phases
    )
    return CyclePlan(greens, 0, "program")


def transition_states(current: str, following: str) -> tuple[str, str]:
    """Yellow and all-red states between two greens."""
    yellow, all_red = [], []
    for now, then in zip(current, following):
        if now in GREEN and then in GREEN:
            yellow.append(now)
            all_red.append(now)
        elif now in GREEN:
            yellow.append("y")
            all_red.append("r")
        else:
            yellow.append("r")
            all_red.append("r")
    return "".join(yellow), "".join(all_red)


class PhaseTimer:
    """Steps through green, yellow and all-red of each phase on a fixed time step.

    ``on_cycle_start`` is called at each cycle boundary (before the first phase's green)
    and returns the plan for the cycle that starts.
    """

    def __init__(
        self,
        layout: JunctionLayout,
        plan: CyclePlan,
        on_cycle_start: Callable[[float], CyclePlan] | None = None,
        has_demand: Callable[[int], bool] | None = None,
        chooser: Callable[[int], int] | None = None,
    ) -> None:
        """``chooser``, when given, picks the phase after the current one (free order,
        as in phase-decision control); otherwise phases follow in sequence."""
        self.layout = layout
        self.plan = plan
        self.on_cycle_start = on_cycle_start
        self.has_demand = has_demand
        self.chooser = chooser
        self._transitions: dict[tuple[int, int], tuple[str, str]] = {}
        self.phase = 0
        self.next_phase = 1 % len(layout.phases)
        self.skipped = 0
        self.stage = "green"
        self.remaining = plan.greens_s[0]
        self.elapsed_in_stage = 0.0
        self.cycle_started_at = 0.0

    def state(self) -> str:
        if self.stage == "green":
            return self.layout.phases[self.phase].green_state
        key = (self.phase, self.next_phase)
        if key not in self._transitions:
            self._transitions[key] = transition_states(
                self.layout.phases[self.phase].green_state,
                self.layout.phases[self.next_phase].green_state)
        yellow, all_red = self._transitions[key]
        return yellow if self.stage == "yellow" else all_red

    def green_elapsed_s(self) -> float | None:
        """Seconds into the current green, or None outside green."""
        return self.elapsed_in_stage if self.stage == "green" else None

    def end_green(self, step_s: float) -> None:
        """Ends the current green with the coming step of ``step_s`` (a gap-out or a
        force-off), so the yellow after it starts whole; the caller has checked that the
        minimum green is served."""
        if self.stage == "green":
            self.remaining = min(self.remaining, step_s)

    def advance(self, time_s: float, dt: float) -> list[tuple[str, int]]:
        """Moves the clock on by ``dt``; returns the (stage, phase) changes it made."""
        self.remaining -= dt
        self.elapsed_in_stage += dt
        changes = []
        while self.remaining <= 1e-9:
            self._next_stage(time_s)
            changes.append((self.stage, self.phase))
        return changes

    def _next_stage(self, time_s: float) -> None:
        phase = self.layout.phases[self.phase]
        carry = self.remaining  # zero or slightly negative: keeps the clock exact
        if self.stage == "green":
            self.next_phase = self._choose_next()
            self.stage, self.remaining = "yellow", phase.yellow_s
        elif self.stage == "yellow" and phase.all_red_s > 0:
            self.stage, self.remaining = "all_red", phase.all_red_s
        else:
            wrapped = self.next_phase <= self.phase
            self.phase = self.next_phase
            if wrapped:
                self.cycle_started_at = time_s
                if self.on_cycle_start is not None:
                    self.plan = self.on_cycle_start(time_s)
            self.stage, self.remaining = "green", self.plan.greens_s[self.phase]
        self.remaining += carry
        self.elapsed_in_stage = 0.0

    def _choose_next(self) -> int:
        """The next phase in sequence that has demand; the very next if none has."""
        n = len(self.layout.phases)
        following = (self.phase + 1) % n
        if self.chooser is not None:
            chosen = self.chooser(self.phase)
            return chosen if chosen != self.phase else following
        if self.has_demand is None:
            return following
        for step in range(1, n):
            candidate = (self.phase + step) % n
            if self.has_demand(candidate):
                self.skipped += step - 1
                return candidate
        return following
