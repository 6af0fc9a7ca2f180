"""Safety checks on what operators send, before anything can reach a junction.

Every rule names the field it concerns, so the API can answer like a validation error:
``greens_s[1]: green 4 s is below the phase's minimum 6 s``. The final word is always
the controller's own ``checked_plan``, so the centre can never accept a plan the field
would refuse.

What is checked here is timing: whole seconds, each green within its phase's limits and
the operators' bounds, and the cycle (greens plus each phase's yellow and all-red)
within the junction's cycle limits. Bounds must leave at least one plan that passes
those rules. The phases themselves (which signal groups are green together) come from
the network's program and are not re-checked here: the field controller's conflict
monitor (``controller.monitor``) checks every state it shows, and the centre compares
the signals a field controller reports against the junction's conflict matrix.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from controller.plans import PlanRejected, checked_plan
from controller.topology import JunctionLayout

log = logging.getLogger("nhip.centre.safety")

# Used with fullmatch: a "$" anchor would also match before a trailing newline.
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass
class Refusal:
    field: tuple[str | int, ...]
    rule: str
    message: str


class PlanRefused(ValueError):
    """One or more safety rules refused a request; ``refusals`` says which, and each
    field lies under ``where`` (the request body, unless a stored change was checked)."""

    def __init__(self, refusals: list[Refusal],
                 where: tuple[str | int, ...] = ("body",)) -> None:
        self.refusals = refusals
        self.where = where
        super().__init__("; ".join(f"{'.'.join(map(str, r.field))}: {r.message}"
                                   for r in refusals))


def _whole(value: float) -> bool:
    return math.isfinite(value) and value == round(value)


def check_greens(layout: JunctionLayout, greens: list[float],
                 bounds: list[tuple[float, float]] | None = None,
                 field: tuple[str | int, ...] = ("greens_s",)) -> list[float]:
    """Greens that pass every rule, or ``PlanRefused`` listing each broken one."""
    refusals: list[Refusal] = []
    if len(greens) != len(layout.phases):
        raise PlanRefused([Refusal(field, "phase_count",
                                   f"needs one green per phase ({len(layout.phases)}), "
                                   f"got {len(greens)}")])
    for i, (phase, green) in enumerate(zip(layout.phases, greens)):
        low, high = phase.min_green_s, phase.max_green_s
        if bounds is not None:
            low, high = max(low, bounds[i][0]), min(high, bounds[i][1])
        where = (*field, i)
        if not _whole(green):
            refusals.append(Refusal(where, "whole_seconds",
                                    f"green {green} s of phase {phase.id} is not a whole "
                                    "number of seconds"))
        elif green < low:
            refusals.append(Refusal(where, "min_green",
                                    f"green {green:g} s of phase {phase.id} is below its "
                                    f"minimum {low:g} s"))
        elif green > high:
            refusals.append(Refusal(where, "max_green",
                                    f"green {green:g} s of phase {phase.id} is above its "
                                    f"maximum {high:g} s"))
    if refusals:
        raise PlanRefused(refusals)
    cycle = sum(greens) + clearances_s(layout)
    if not layout.min_cycle_s <= cycle <= layout.max_cycle_s:
        raise PlanRefused([Refusal(field, "cycle_length",
                                   f"cycle {cycle:g} s is outside {layout.min_cycle_s:g}-"
                                   f"{layout.max_cycle_s:g} s")])
    try:
        checked_plan(layout, list(greens), 0, "centre")
    except PlanRejected as exc:  # pragma: no cover - the rules above are stricter
        raise PlanRefused([Refusal(field, "controller", str(exc))]) from exc
    return [float(g) for g in greens]


def clearances_s(layout: JunctionLayout) -> float:
    """Seconds of each cycle that are no phase's green: every yellow and all-red."""
    return sum(p.yellow_s + p.all_red_s for p in layout.phases)


def check_bounds(layout: JunctionLayout,
                 phases: list[dict[str, Any]]) -> list[tuple[float, float]]:
    """Operator bounds must be whole seconds inside the junction's own limits, and leave
    room for a plan: the minimum greens must fit in the longest cycle and the maximum
    greens must reach the shortest, as ``check_greens`` holds every plan to both."""
    if len(phases) != len(layout.phases):
        raise PlanRefused([Refusal(("phases",), "phase_count",
                                   f"needs bounds for each phase ({len(layout.phases)}), "
                                   f"got {len(phases)}")])
    refusals = []
    bounds = []
    for i, (phase, entry) in enumerate(zip(layout.phases, phases)):
        low, high = float(entry["min_green_s"]), float(entry["max_green_s"])
        if not (_whole(low) and _whole(high)):
            refusals.append(Refusal(("phases", i), "whole_seconds",
                                    "bounds must be whole seconds"))
        elif low < phase.min_green_s:
            refusals.append(Refusal(("phases", i, "min_green_s"), "min_green",
                                    f"{low:g} s is below phase {phase.id}'s safety minimum "
                                    f"{phase.min_green_s:g} s"))
        elif high > phase.max_green_s:
            refusals.append(Refusal(("phases", i, "max_green_s"), "max_green",
                                    f"{high:g} s is above phase {phase.id}'s safety maximum "
                                    f"{phase.max_green_s:g} s"))
        elif low > high:
            refusals.append(Refusal(("phases", i), "order",
                                    f"minimum {low:g} s is above maximum {high:g} s"))
        bounds.append((low, high))
    if refusals:
        raise PlanRefused(refusals)
    clearances = clearances_s(layout)
    shortest = sum(low for low, _ in bounds) + clearances
    longest = sum(high for _, high in bounds) + clearances
    if shortest > layout.max_cycle_s:
        raise PlanRefused([Refusal(("phases",), "cycle_length",
                                   f"minimum greens {shortest - clearances:g} s plus "
                                   f"{clearances:g} s of yellow and all-red make a "
                                   f"{shortest:g} s cycle, above the junction's maximum "
                                   f"cycle {layout.max_cycle_s:g} s")])
    if longest < layout.min_cycle_s:
        raise PlanRefused([Refusal(("phases",), "cycle_length",
                                   f"maximum greens {longest - clearances:g} s plus "
                                   f"{clearances:g} s of yellow and all-red make a "
                                   f"{longest:g} s cycle, below the junction's minimum "
                                   f"cycle {layout.min_cycle_s:g} s")])
    return bounds


def check_running_plans(layout: JunctionLayout, config: dict[str, Any],
                        bounds: list[tuple[float, float]] | None,
                        field: tuple[str | int, ...] | None = None) -> None:
    """The plans ``config`` runs in its mode (the manual greens, or every entry of the
    schedule; none in adaptive mode, whose plans are held inside the bounds) must lie
    inside ``bounds``; each green outside them is refused naming its phase, under
    ``field`` or else under the bound it breaks (``phases[i].min_green_s``)."""
    if bounds is None:
        return
    if config.get("mode") == "manual":
        plans = [("the manual plan", config["greens_s"])]
    elif config.get("mode") == "schedule":
        plans = [(f"the schedule's {e['start']} plan", e["greens_s"])
                 for e in config.get("schedule") or []]
    else:
        return
    refusals = []
    for i, (phase, (low, high)) in enumerate(zip(layout.phases, bounds)):
        for name, greens in plans:
            green = greens[i]
            if low <= green <= high:
                continue
            side, limit = ("min_green_s", low) if green < low else ("max_green_s", high)
            word = "minimum" if green < low else "maximum"
            refusals.append(Refusal(
                field or ("phases", i, side), "running_plan",
                f"{name} ({config['mode']} mode) gives phase {phase.id} {green:g} s of "
                f"green, outside the bounds' {word} {limit:g} s; propose a plan inside "
                "the bounds first"))
    if refusals:
        raise PlanRefused(refusals)


def check_schedule(layout: JunctionLayout, entries: list[dict[str, Any]],
                   bounds: list[tuple[float, float]] | None) -> list[dict[str, Any]]:
    """A day's plans by start time (HH:MM, local time); each plan passes check_greens."""
    if not entries:
        raise PlanRefused([Refusal(("entries",), "not_empty", "needs at least one entry")])
    seen = set()
    checked = []
    for i, entry in enumerate(entries):
        start = str(entry["start"])
        if not _CLOCK.fullmatch(start):
            raise PlanRefused([Refusal(("entries", i, "start"), "clock_time",
                                       f"{start!r} is not a time HH:MM")])
        if start in seen:
            raise PlanRefused([Refusal(("entries", i, "start"), "unique",
                                       f"{start} appears twice")])
        seen.add(start)
        greens = check_greens(layout, list(entry["greens_s"]), bounds,
                              ("entries", i, "greens_s"))
        checked.append({"start": start, "greens_s": greens})
    return sorted(checked, key=lambda e: e["start"])


def released_conflicts(conflicting: frozenset[tuple[str, str]],
                       signals: dict[str, str]) -> list[tuple[str, str]]:
    """Pairs of signal groups that ``signals`` (group id to 'G', 'y' or 'r') shows green
    or yellow together although ``conflicting`` says they must never be: as in the
    conflict monitor, a yellow still releases its stream."""
    released = {group for group, colour in signals.items() if colour in "Gy"}
    return sorted(pair for pair in conflicting if set(pair) <= released)


def conflicting_groups(net_file, layout: JunctionLayout) -> frozenset[tuple[str, str]]:
    """Pairs of signal groups (sorted) that conflict, from the network's geometry, or
    from the light's own program when the network cannot say. Permissive pairs (a turn
    that yields) are not among them: a report per group cannot tell 'g' from 'G'."""
    from controller.conflicts import from_net, from_program

    try:
        matrix = from_net(net_file, layout)
    except Exception as error:  # noqa: BLE001 - any unreadable network: use the program
        log.warning("junction %s: could not read conflicts from %s (%s); using the "
                    "program's own pairs", layout.tls_id, net_file, error)
        matrix = from_program(layout)
    return frozenset(pair for pair, kind in matrix.group_view(layout).items()
                     if kind == "conflict")


def entry_in_force(schedule: list[dict[str, Any]], clock: str) -> dict[str, Any]:
    """The entry whose start is the latest at or before ``clock`` (HH:MM); before the
    first start of the day, the last entry of the previous day still runs."""
    current = schedule[-1]
    for entry in schedule:
        if entry["start"] <= clock:
            current = entry
    return current
