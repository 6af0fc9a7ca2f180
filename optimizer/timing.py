"""Plan arithmetic shared by the policies: bounds, whole-second rounding, delay estimate.

The delay estimate is Webster's (1958) two-term formula per signal group, with the
random term capped near saturation, plus the wait of any standing queue that the next
green cannot clear. Both policies report it, so their plans compare on one scale.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from optimizer.junction import Demand, Junction

# Degree of saturation above which Webster's random-delay term is held constant; the
# formula diverges at 1 and would let one noisy count dominate a plan.
X_CAP = 0.95


@dataclass(frozen=True)
class Timing:
    cycle_s: float
    greens_s: tuple[float, ...]


class PolicyPlan(NamedTuple):
    """What a policy returns: the timing, a one-line reason, and for the plan's
    explanation the objective it reached (in ``unit``) and the bounds that bind."""

    timing: Timing
    reason: str
    objective: float = 0.0
    unit: str = ""
    binding: tuple[str, ...] = ()


def fit_greens(junction: Junction, wanted: list[float], total: float) -> list[float]:
    """Greens in proportion to ``wanted`` that sum to ``total`` within each phase's bounds.

    Finds the scale k with sum(clip(k * wanted_i, low_i, high_i)) = total by bisection;
    the sum is monotone in k, so the answer is exact to well under a millisecond.
    """
    low = [p.shortest_green_s for p in junction.phases]
    high = [p.max_green_s for p in junction.phases]
    total = min(max(total, sum(low)), sum(high))
    weights = [max(w, 1e-6) for w in wanted]

    def greens_at(scale: float) -> list[float]:
        return [min(max(scale * w, lo), hi) for w, lo, hi in zip(weights, low, high)]

    below, above = 0.0, max(h / w for w, h in zip(weights, high))
    for _ in range(40):  # leaves an error of range / 2^40, far below a millisecond
        middle = 0.5 * (below + above)
        if sum(greens_at(middle)) < total:
            below = middle
        else:
            above = middle
    return greens_at(above)


def round_timing(junction: Junction, greens: list[float]) -> Timing:
    """Whole-second greens that keep the total and every bound (largest remainder)."""
    low = [math.ceil(p.shortest_green_s - 1e-9) for p in junction.phases]
    high = [math.floor(p.max_green_s + 1e-9) for p in junction.phases]
    floors = [min(max(math.floor(g), lo), hi) for g, lo, hi in zip(greens, low, high)]
    target = min(max(round(sum(greens)), sum(low)), sum(high))
    # Hand out the missing seconds to the largest fractional parts first.
    order = sorted(range(len(greens)), key=lambda i: greens[i] - floors[i], reverse=True)
    while sum(floors) < target:
        for i in order:
            if sum(floors) < target and floors[i] < high[i]:
                floors[i] += 1
    while sum(floors) > target:
        for i in reversed(order):
            if sum(floors) > target and floors[i] > low[i]:
                floors[i] -= 1
    cycle = sum(floors) + junction.lost_time_s
    return Timing(float(cycle), tuple(float(g) for g in floors))


def expected_delay_s(junction: Junction, demand: Demand, timing: Timing) -> float:
    """Flow-weighted mean delay per vehicle (s) under ``timing`` for ``demand``."""
    total_flow = sum(demand.flow_veh_per_s.values())
    if total_flow <= 0:
        return 0.0
    cycle = timing.cycle_s
    weighted = 0.0
    for group in junction.groups:
        flow_veh = demand.flow_veh_per_s[group.id]
        if flow_veh <= 0:
            continue
        q = demand.flow_pcu_per_s[group.id]
        s = group.saturation_pcu_per_s
        green = junction.effective_green(group.id, timing.greens_s)
        share = green / cycle
        x = q * cycle / (s * green) if green > 0 else math.inf
        x_capped = min(x, X_CAP)
        uniform = cycle * (1 - share) ** 2 / (2 * (1 - share * min(x, 1.0)))
        random = x_capped**2 / (2 * q * (1 - x_capped)) if q > 0 else 0.0
        # A standing queue, and the excess of demand over capacity, wait for later greens.
        capacity_per_cycle = s * green
        backlog = demand.queue_pcu[group.id] + max(0.0, q * cycle - capacity_per_cycle)
        arrivals = max(q * cycle, 1e-9)
        carry_over = backlog / max(capacity_per_cycle, 1e-9) * cycle * backlog / (
            backlog + arrivals)
        weighted += flow_veh * (uniform + random + carry_over)
    return weighted / total_flow


def critical_ratios(junction: Junction, demand: Demand) -> list[float]:
    """Each phase's critical flow ratio y = q/s, a group's ratio shared among its phases.

    A group served by several phases needs sum(f_i * g_i / C) >= y, f_i its saturation
    share in phase i; spreading that evenly gives each phase y / sum(f_i).
    """
    ratios = [0.0] * len(junction.phases)
    for group in junction.groups:
        serving = junction.serving[group.id]
        shares = sum(junction.green_factor[(group.id, i)] for i in serving)
        y = demand.flow_pcu_per_s[group.id] / group.saturation_pcu_per_s / shares
        for i in serving:
            ratios[i] = max(ratios[i], y)
    return ratios
