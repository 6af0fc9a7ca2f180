"""Ring-and-barrier (NEMA) phasing, turned into the stage sequence our controller runs.

A NEMA timing names phases 1-8 in two rings; phases of the two rings run side by side,
and both rings cross a barrier together. Our sequencer runs stages (one link state per
green), so each barrier becomes stages in lock-step: stage k of a barrier shows ring 1's
k-th phase and ring 2's k-th phase together (a ring with fewer phases keeps its last one).
Known shortcoming: the rings do not time independently inside a barrier (no lead-lag
with separate gap-outs per ring); the stage changes when the stage's green ends.

Vietnamese two-phase permissive operation fits as two barriers of one stage each: the
through and its permissive left and right on each ring. Every stage is checked against
the conflict matrix: concurrent phases that conflict are refused, naming both phases.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.conflicts import ConflictMatrix
from controller.topology import (
    DEFAULT_ALL_RED_S,
    DEFAULT_MAX_GREEN_S,
    DEFAULT_MIN_GREEN_S,
    DEFAULT_YELLOW_S,
    JunctionLayout,
    PhaseLayout,
)


class RingError(ValueError):
    """A ring-and-barrier timing that does not fit the junction; says which phase."""


@dataclass(frozen=True)
class RingPhase:
    number: int  # NEMA phase number, 1-16
    group_ids: tuple[str, ...]  # protected signal groups
    permissive_group_ids: tuple[str, ...] = ()  # groups that go only by yielding ('g')
    min_green_s: float = DEFAULT_MIN_GREEN_S
    max_green_s: float = DEFAULT_MAX_GREEN_S


@dataclass(frozen=True)
class Barrier:
    ring1: tuple[RingPhase, ...]
    ring2: tuple[RingPhase, ...] = ()


def stages(barriers: list[Barrier], layout: JunctionLayout, matrix: ConflictMatrix,
           yellow_s: float = DEFAULT_YELLOW_S,
           all_red_s: float = DEFAULT_ALL_RED_S) -> tuple[PhaseLayout, ...]:
    """The stage sequence for ``barriers``; raises RingError if it cannot run safely."""
    if not barriers:
        raise RingError("barriers: give at least one barrier")
    links_of = {g.id: g.link_indices for g in layout.groups}
    result: list[PhaseLayout] = []
    for b, barrier in enumerate(barriers, start=1):
        if not barrier.ring1 and not barrier.ring2:
            raise RingError(f"barrier {b}: both rings are empty")
        for phase in (*barrier.ring1, *barrier.ring2):
            _check_phase(phase, links_of, b)
        depth = max(len(barrier.ring1), len(barrier.ring2))
        for k in range(depth):
            running = [ring[min(k, len(ring) - 1)] for ring in (barrier.ring1, barrier.ring2)
                       if ring]
            state = _state(running, links_of, matrix.size)
            problems = matrix.green_problems(state)
            if problems:
                a, c, why = problems[0]
                raise RingError(
                    f"barrier {b}, stage {k + 1}: phases "
                    f"{' and '.join(str(p.number) for p in running)} show "
                    f"{matrix.name(a)} and {matrix.name(c)} together ({why})")
            protected = tuple(dict.fromkeys(g for p in running for g in p.group_ids))
            permissive = tuple(dict.fromkeys(g for p in running for g in p.permissive_group_ids
                                             if g not in protected))
            result.append(PhaseLayout(
                id=f"p{len(result)}", green_state=state, group_ids=protected + permissive,
                permissive_group_ids=permissive,
                min_green_s=max(p.min_green_s for p in running),
                max_green_s=min(p.max_green_s for p in running),
                yellow_s=yellow_s, all_red_s=all_red_s,
                program_green_s=max(p.min_green_s for p in running)))
    return tuple(result)


def _check_phase(phase: RingPhase, links_of: dict, barrier: int) -> None:
    if not 1 <= phase.number <= 16:
        raise RingError(f"barrier {barrier}: phase number {phase.number} is outside 1..16")
    if not phase.group_ids and not phase.permissive_group_ids:
        raise RingError(f"phase {phase.number}: it serves no signal group")
    unknown = [g for g in (*phase.group_ids, *phase.permissive_group_ids) if g not in links_of]
    if unknown:
        raise RingError(f"phase {phase.number}: unknown signal group {unknown[0]!r}")
    if not 0 < phase.min_green_s <= phase.max_green_s:
        raise RingError(f"phase {phase.number}: need 0 < min_green_s <= max_green_s, got "
                        f"{phase.min_green_s:g} and {phase.max_green_s:g}")


def _state(running: list[RingPhase], links_of: dict, size: int) -> str:
    letters = ["r"] * size
    for phase in running:
        for gid in phase.permissive_group_ids:
            for link in links_of[gid]:
                if letters[link] == "r":
                    letters[link] = "g"
        for gid in phase.group_ids:
            for link in links_of[gid]:
                letters[link] = "G"
    return "".join(letters)
