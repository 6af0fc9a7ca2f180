"""The adaptive policy: cycle and greens that minimise estimated delay, as one linear program.

Decision variables are the cycle's frequency u = 1/C and each phase's share of the cycle
f_i = g_i / C (the cycle's lost time L ties them: sum f_i + L u = 1); a signal group's
green share F is the sum over the phases that serve it. In these variables capacity is
linear, so the degree of saturation x = q / (s F) keeps its meaning at any cycle. The
objective is the junction's delay rate (PCU-seconds per second), made of three parts that
stay convex and are written with linear cuts so OR-Tools' GLOP solves the whole thing in
well under a millisecond:

* uniform delay (Webster's first term): q C (1 - F)^2 / (2 (1 - y)) per group. C (1 - F)^2
  = r^2 / u, r being the red share, is jointly convex in (r, u) and equals the maximum
  over red times rho of (2 rho r - rho^2 u); a few values of rho give tangent planes that
  are exact where they touch.
* random delay near saturation (Webster's second term, x^2 / (2 (1 - x))), as a
  piecewise-linear penalty on the flow above x_j times capacity, for a few degrees of
  saturation x_j; slopes follow the formula's own increments.
* standing queue: PCU per second that the coming greens cannot clear (the queue measured
  beyond one red's arrivals, plus demand above capacity) wait about one more cycle each.

Plans move smoothly: the cycle and each green may change only by a bounded step from
the previous plan (relaxed only if the bounds themselves moved), and every change carries
a small cost, so noise in one interval's counts does not swing the plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ortools.linear_solver import pywraplp

from optimizer.junction import Demand, Junction
from optimizer.timing import PolicyPlan, Timing, fit_greens, round_timing

# Red fractions (of the longest cycle) at which the uniform-delay cuts touch; denser where
# plans live.
RHO_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.9)
# With a previous plan the red fraction can move only a bounded step, so the cuts gather
# around where it was: fewer constraints, the same accuracy where the answer lies.
RHO_STEPS = (-0.25, -0.12, -0.05, -0.02, 0.0, 0.02, 0.05, 0.12, 0.25)
# Breakpoints of the random-delay penalty and the increments of its slope there, from
# R(x) = x^2 / (2 (1 - x)) interpolated between the breakpoints.
_X_BREAKS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.95)


def _slope_increments() -> tuple[float, ...]:
    def r(x: float) -> float:
        return x * x / (2 * (1 - x))

    slopes = [
        (r(b) - r(a)) / (b - a) for a, b in zip(_X_BREAKS, _X_BREAKS[1:])
    ] + [2 * (r(0.95) - r(0.9)) / 0.05]
    increments = [slopes[0]] + [b - a for a, b in zip(slopes, slopes[1:])]
    return tuple(increments)


_SLOPE_INCREMENTS = _slope_increments()
# Demand of a spilled group, as a multiple of the capacity it had last cycle.
SPILL_MARGIN = 1.1


@dataclass(frozen=True)
class Smoothing:
    """How far one plan may move from the previous one."""

    cycle_step_s: float = 10.0
    cycle_step_fraction: float = 0.15
    green_step_s: float = 8.0
    green_step_fraction: float = 0.3
    # Cost per second of change, in PCU-seconds per second; breaks ties towards
    # the previous plan.
    change_cost: float = 0.002

    def cycle_limit(self, previous: float) -> float:
        return max(self.cycle_step_s, self.cycle_step_fraction * previous)

    def green_limit(self, previous: float) -> float:
        return max(self.green_step_s, self.green_step_fraction * previous)


@dataclass(frozen=True)
class AdaptiveResult:
    timing: Timing
    objective: float
    binding: tuple[str, ...]


def adaptive_timing(
    junction: Junction,
    demand: Demand,
    previous: Timing | None,
    smoothing: Smoothing = Smoothing(),
) -> PolicyPlan:
    demand = saturated_demand(junction, demand, previous)
    result = None
    if previous is not None:
        result = _solve(junction, demand, previous, smoothing, smooth=True)
    if result is None:
        result = _solve(junction, demand, previous, smoothing, smooth=False)
    if result is None:  # pragma: no cover - the bounds were checked at registration
        raise RuntimeError(f"no feasible plan for junction {junction.id}")
    timing = result.timing
    was = f" (was {previous.cycle_s:g})" if previous else ""
    binding = "; ".join(result.binding) if result.binding else "no bound binds"
    reason = (f"adaptive: cycle {timing.cycle_s:g} s{was}, "
              f"est. {result.objective:.2f} pcu-s/s; {binding}")
    return PolicyPlan(timing, reason, result.objective, "PCU-s/s of estimated delay",
                      result.binding)


def _solve(
    junction: Junction,
    demand: Demand,
    previous: Timing | None,
    smoothing: Smoothing,
    *,
    smooth: bool,
) -> AdaptiveResult | None:
    # Built through the coefficient API rather than expression objects: it is several
    # times faster to build, and building dominates the time of a model this small.
    solver = pywraplp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    lost = junction.lost_time_s
    phases = junction.phases
    reference_cycle = previous.cycle_s if previous else 0.5 * (
        junction.min_feasible_cycle_s + junction.max_feasible_cycle_s)

    cycle_low, cycle_high = junction.min_feasible_cycle_s, junction.max_feasible_cycle_s
    green_low = [p.shortest_green_s for p in phases]
    green_high = [p.max_green_s for p in phases]
    if smooth and previous is not None:
        step = smoothing.cycle_limit(previous.cycle_s)
        cycle_low = max(cycle_low, previous.cycle_s - step)
        cycle_high = min(cycle_high, previous.cycle_s + step)
        for i, g in enumerate(previous.greens_s):
            step = smoothing.green_limit(g)
            green_low[i] = max(green_low[i], g - step)
            green_high[i] = min(green_high[i], g + step)
        if cycle_low > cycle_high or any(lo > hi for lo, hi in zip(green_low, green_high)):
            return None

    # Variables are the cycle's frequency u = 1/C and each phase's share of it f_i = g_i/C.
    # Capacity is linear in the shares, so the degree of saturation's penalty keeps its
    # meaning whatever the cycle; written per cycle in C and g_i instead, it grew with
    # the cycle at any fixed degree of saturation, and a junction near saturation was
    # driven to its shortest cycle, the one with the least capacity.
    objective = solver.Objective()
    frequency = solver.NumVar(1.0 / cycle_high, 1.0 / cycle_low, "u")
    shares = [solver.NumVar(0.0, 1.0, f"f{i}") for i in range(len(phases))]
    total = solver.Constraint(1.0, 1.0)  # sum(f) + L u = 1
    total.SetCoefficient(frequency, lost)
    for i, f in enumerate(shares):
        total.SetCoefficient(f, 1.0)
        at_least = solver.Constraint(0.0, inf)  # f_i >= low_i u
        at_least.SetCoefficient(f, 1.0)
        at_least.SetCoefficient(frequency, -green_low[i])
        at_most = solver.Constraint(-inf, 0.0)  # f_i <= high_i u
        at_most.SetCoefficient(f, 1.0)
        at_most.SetCoefficient(frequency, -green_high[i])

    # Uniform delay, one epigraph variable per distinct set of serving phases. Per group
    # it is C (1 - F)^2 = r^2 / u with r = 1 - F the red share, the perspective of a square
    # and so jointly convex; its tangent planes at red times rho (seconds) are
    # t >= 2 rho (1 - F) - rho^2 u  <=>  t + 2 rho F + rho^2 u >= 2 rho.
    weights: dict[tuple[tuple[int, float], ...], float] = {}
    for group in junction.groups:
        q = demand.flow_pcu_per_s[group.id]
        if q <= 0:
            continue
        y = min(q / group.saturation_pcu_per_s, 0.9)
        key = tuple((i, junction.green_factor[(group.id, i)]) for i in junction.serving[group.id])
        weights[key] = weights.get(key, 0.0) + q / (2 * (1 - y))
    for key, weight in weights.items():
        t = solver.NumVar(0, inf, "")
        objective.SetCoefficient(t, weight)
        for rho in _red_cuts(key, previous, cycle_high):
            cut = solver.Constraint(2 * rho, inf)
            cut.SetCoefficient(t, 1.0)
            cut.SetCoefficient(frequency, rho * rho)
            for i, share in key:
                cut.SetCoefficient(shares[i], cut.GetCoefficient(shares[i]) + 2 * rho * share)

    # Random delay near saturation, for the most loaded group of each set of serving
    # phases (groups that share their greens reach saturation in order of q/s, so the
    # most loaded one carries the penalty for all). With x = q / (s F):
    # excess_j >= q - x_j s F, the flow above x_j times capacity; x - x_j is about
    # excess_j x_j / q near the breakpoint.
    critical: dict[tuple, tuple[float, float]] = {}
    for group in junction.groups:
        q = demand.flow_pcu_per_s[group.id]
        if q <= 1e-6:
            continue
        key = tuple((i, junction.green_factor[(group.id, i)]) for i in junction.serving[group.id])
        s = group.saturation_pcu_per_s
        if key not in critical or q / s > critical[key][0] / critical[key][1]:
            critical[key] = (q, s)
    for key, (q, s) in critical.items():
        for x_j, increment in zip(_X_BREAKS, _SLOPE_INCREMENTS):
            excess = solver.NumVar(0, inf, "")
            objective.SetCoefficient(excess, increment * x_j / q)
            row = solver.Constraint(q, inf)
            row.SetCoefficient(excess, 1.0)
            for i, share in key:
                row.SetCoefficient(shares[i], row.GetCoefficient(shares[i]) + x_j * s * share)

    # Standing queue: PCU per second the coming greens cannot clear (the queue left
    # behind spread over the cycle, plus demand above capacity),
    # unserved >= residual u + q - s F, each waiting about one more (reference) cycle.
    for group in junction.groups:
        q = demand.flow_pcu_per_s[group.id]
        residual = _residual_queue(junction, demand, previous, group.id)
        # A residue of rounding (1e-17 PCU) as a coefficient of u made GLOP call the
        # program unbounded; under a millionth of a PCU there is no queue.
        residual = residual if residual > 1e-6 else 0.0
        if q > 1e-6 or residual > 0:
            s = group.saturation_pcu_per_s
            unserved = solver.NumVar(0, inf, "")
            objective.SetCoefficient(unserved, reference_cycle)
            row = solver.Constraint(q, inf)
            row.SetCoefficient(unserved, 1.0)
            row.SetCoefficient(frequency, -residual)
            for i in junction.serving[group.id]:
                share = junction.green_factor[(group.id, i)]
                row.SetCoefficient(shares[i], row.GetCoefficient(shares[i]) + s * share)

    if previous is not None:
        # change >= |C - C_prev|, linearised in u around the previous cycle:
        # |C - C_prev| ~ C_prev^2 |u - 1/C_prev|.
        scale = previous.cycle_s ** 2
        change = solver.NumVar(0, inf, "")
        objective.SetCoefficient(change, smoothing.change_cost)
        up = solver.Constraint(-previous.cycle_s, inf)
        up.SetCoefficient(change, 1.0)
        up.SetCoefficient(frequency, -scale)
        down = solver.Constraint(previous.cycle_s, inf)
        down.SetCoefficient(change, 1.0)
        down.SetCoefficient(frequency, scale)

    objective.SetMinimization()
    if solver.Solve() != pywraplp.Solver.OPTIMAL:
        return None
    u = frequency.solution_value()
    values = [f.solution_value() / u for f in shares]
    timing = round_timing(junction, fit_greens(junction, values, sum(values)))
    return AdaptiveResult(timing, objective.Value(),
                          _binding(junction, timing, previous, smooth, smoothing))


def _red_cuts(key: tuple[tuple[int, float], ...], previous: Timing | None,
              longest_cycle_s: float) -> tuple[float, ...]:
    """Red times (s) at which the uniform-delay cuts touch, for a set of serving phases."""
    if previous is None:
        return tuple(rho * longest_cycle_s for rho in RHO_GRID)
    green = sum(previous.greens_s[i] * share for i, share in key)
    rho = 1.0 - green / previous.cycle_s
    return tuple(sorted({min(max(rho + step, 0.02), 0.98) * previous.cycle_s
                         for step in RHO_STEPS}))


def _residual_queue(
    junction: Junction, demand: Demand, previous: Timing | None, group_id: str
) -> float:
    """PCU queued beyond what one red's arrivals explain: the queue a green left behind.

    Reports carry the longest queue seen; in a cycle that clears, that is about the
    arrivals during red, which the flow terms already account for.
    """
    queue = demand.queue_pcu[group_id]
    if previous is None or queue <= 0 or group_id in demand.spilled:
        return queue
    green = sum(previous.greens_s[i] for i in junction.serving[group_id])
    red = previous.cycle_s - green
    return max(0.0, queue - demand.flow_pcu_per_s[group_id] * red)


def saturated_demand(junction: Junction, demand: Demand, previous: Timing | None) -> Demand:
    """Raises the flow of groups whose queue spilled past the detector.

    Their counts only show what the last greens let through, so demand is taken to be
    at least the capacity they had, plus a margin that keeps raising their green while
    the spill lasts.
    """
    if previous is None or not demand.spilled:
        return demand
    flows = dict(demand.flow_pcu_per_s)
    for group in junction.groups:
        if group.id in demand.spilled:
            green = junction.effective_green(group.id, previous.greens_s)
            capacity = group.saturation_pcu_per_s * green / previous.cycle_s
            flows[group.id] = max(flows[group.id], SPILL_MARGIN * capacity)
    return replace(demand, flow_pcu_per_s=flows)


def _binding(
    junction: Junction,
    timing: Timing,
    previous: Timing | None,
    smooth: bool,
    smoothing: Smoothing,
) -> tuple[str, ...]:
    notes = []
    if math.isclose(timing.cycle_s, junction.max_feasible_cycle_s, abs_tol=0.5):
        notes.append("cycle at its maximum")
    elif math.isclose(timing.cycle_s, junction.min_feasible_cycle_s, abs_tol=0.5):
        notes.append("cycle at its minimum")
    elif smooth and previous is not None and abs(timing.cycle_s - previous.cycle_s) >= (
            smoothing.cycle_limit(previous.cycle_s) - 0.5):
        notes.append("cycle change held to its step limit")
    for phase, green in zip(junction.phases, timing.greens_s):
        if green <= math.ceil(phase.shortest_green_s):
            notes.append(f"{phase.id} at minimum green")
        elif green >= math.floor(phase.max_green_s):
            notes.append(f"{phase.id} at maximum green")
    return tuple(notes)
