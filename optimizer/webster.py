"""Webster's fixed-time plan: optimum cycle and greens in proportion to flow ratios.

F. V. Webster, "Traffic signal settings", Road Research Technical Paper 39 (1958):
the cycle that minimises delay is about C0 = (1.5 L + 5) / (1 - Y), where L is the lost
time per cycle and Y the sum of the phases' critical flow ratios; effective green is
shared among phases in proportion to their ratios. Here L is the sum of yellow and
all-red intervals, and displayed green is taken as effective green.
"""

from __future__ import annotations

from optimizer.junction import Demand, Junction
from optimizer.timing import PolicyPlan, critical_ratios, fit_greens, round_timing

# Above this total flow ratio the formula's cycle runs away; use the longest cycle.
Y_SATURATED = 0.9


def webster_cycle_s(lost_time_s: float, total_ratio: float) -> float:
    """Webster's optimum cycle; infinite when the junction is saturated."""
    if total_ratio >= Y_SATURATED:
        return float("inf")
    return (1.5 * lost_time_s + 5.0) / (1.0 - total_ratio)


def webster_timing(junction: Junction, demand: Demand) -> PolicyPlan:
    ratios = critical_ratios(junction, demand)
    total = sum(ratios)
    lost = junction.lost_time_s
    cycle = webster_cycle_s(lost, total)
    cycle = min(max(cycle, junction.min_feasible_cycle_s), junction.max_feasible_cycle_s)
    wanted = ratios if total > 0 else [1.0] * len(ratios)
    greens = fit_greens(junction, wanted, cycle - lost)
    timing = round_timing(junction, greens)
    reason = (
        f"webster: Y={total:.2f}, L={lost:g} s, cycle {timing.cycle_s:g} s"
        + (" (saturated: longest cycle)" if total >= Y_SATURATED else "")
    )
    binding = []
    if total >= Y_SATURATED:
        binding.append(f"flow ratios sum to {total:.2f}, at or above {Y_SATURATED}: longest cycle")
    elif timing.cycle_s <= junction.min_feasible_cycle_s + 0.5:
        binding.append("cycle at its minimum")
    elif timing.cycle_s >= junction.max_feasible_cycle_s - 0.5:
        binding.append("cycle at its maximum")
    return PolicyPlan(timing, reason, total, "sum of critical flow ratios (Y)", tuple(binding))
