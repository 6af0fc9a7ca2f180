"""Green bands along an arterial: one cycle, an offset per signal and two bandwidths (MAXBAND).

The mixed-integer program of Little, Kelson and Gartner (1981), "MAXBAND: a program for
setting signals on arteries and triangular networks", Transportation Research Record 795.
Times are in cycles, so that with z = 1/C every constraint is linear in the unknowns:

    maximise    b + k b'                                    k: inbound weight
    subject to  1/C_max <= z <= 1/C_min
                (1 - k) b' >= (1 - k) k b                   bands in the volume ratio
                w_i + b <= g_i(z),  w'_i + b' <= g'_i(z)    each band fits each green
                z d_i / v_max <= t_i <= z d_i / v_min       speed range, both directions
                (w_i + w'_i) - (w_j + w'_j) + (t_i + t'_i) + e_j(z) - e_i(z) = m_i
                                                            j = i + 1, m_i integer (loop)

One cycle at signal i, measured from the start of its outbound green::

    outbound  |<- w_i ->|<-- b -->|          |      red       |
    inbound   | lag |         |<-- b' -->|<- w'_i ->|   red   |
                                                    ^ e_i: end of the inbound green

w_i runs from the end of the outbound red to the band's front edge, w'_i from the inbound
band's back edge to the next inbound red; t_i, t'_i are travel times to the next signal.
Going out and coming back round the loop i -> j -> i must add up to whole cycles, which is
the integer constraint. Greens given in seconds make g_i(z) and e_i(z) linear in z.

Assumes: the inbound green's place in the cycle is fixed by its lag after the outbound
green (MAXBAND's Delta_i, here measured between green starts rather than red centres).
Known limits: MAXBAND's queue-clearance lead, its choice among left-turn phase sequences
and its limits on speed changes between links are not modelled.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ortools.linear_solver import pywraplp

from optimizer.corridor import (
    ArterialGreen,
    Corridor,
    CorridorSignal,
    corridor_from_request,
    validated,
)
from optimizer.junction import RequestError
from protos import optimizer_v1_pb2 as pb

# CBC closes these programs fastest of the solvers in OR-Tools 9.15: on sixty ten-signal
# corridors, median 7 ms against 20-26 ms for HiGHS and 33-44 ms for SCIP, which also
# stalled on one of them.
SOLVER = "CBC"
# A relative gap tight enough that the bands are optimal to well under 0.01 s.
MIP_GAP = 1e-6
# Ties in bandwidth go to the shorter cycle (less delay to the side streets). The term is
# worth at most this many cycles of band (under 0.002 s), all it could ever trade away; it
# also spares CBC a search among equal answers, cutting its median time about fourfold.
SHORT_CYCLE_WEIGHT = 1e-5
# A constraint whose shadow price on the bands is above this holds them back.
DUAL_TOL = 1e-6


@dataclass(frozen=True)
class CorridorBands:
    cycle_s: float
    # Start of each signal's outbound green after the first signal's, 0 <= offset < cycle.
    offsets_s: tuple[float, ...]
    outbound_band_s: float
    inbound_band_s: float
    outbound_band_share: float
    inbound_band_share: float
    # Progression speed on each link (one fewer than signals), in link order.
    outbound_speeds_mps: tuple[float, ...]
    inbound_speeds_mps: tuple[float, ...]
    objective: float  # outbound share + k * inbound share
    status: str  # "optimal", or "feasible" when the time limit cut the search short
    solve_time_s: float
    # The constraints that hold the bands back, one line each.
    binding: tuple[str, ...]


def plan_corridor_bands(request: pb.CorridorBandsRequest) -> pb.CorridorBands:
    """The wire answer to a wire request; raises RequestError."""
    bands = plan_bands(corridor_from_request(request))
    return pb.CorridorBands(
        corridor_id=request.corridor_id,
        cycle_s=bands.cycle_s,
        offsets_s=bands.offsets_s,
        outbound_band_s=bands.outbound_band_s,
        inbound_band_s=bands.inbound_band_s,
        outbound_band_share=bands.outbound_band_share,
        inbound_band_share=bands.inbound_band_share,
        outbound_speeds_mps=bands.outbound_speeds_mps,
        inbound_speeds_mps=bands.inbound_speeds_mps,
        objective=bands.objective,
        status=bands.status,
        solve_time_s=bands.solve_time_s,
        binding=bands.binding,
    )


def plan_bands(corridor: Corridor) -> CorridorBands:
    """The cycle, offsets and bands that maximise b + k b'; raises RequestError.

    After the mixed-integer search the loop integers are fixed, and the linear program
    that is left is solved with GLOP: once for its shadow prices, which say what holds the
    bands back, then for the shortest cycle that keeps the bands. That also settles the
    ties the search leaves open within its gap, and cleans its rounding.
    """
    started = time.perf_counter()
    z_range = _z_range(validated(corridor))

    search = _Model(corridor, z_range)
    status = search.solve()
    if status == pywraplp.Solver.INFEASIBLE:
        raise RequestError(
            "signals", "no band fits every green at any allowed cycle and speed; "
                       "widen the speed ranges or the cycle range", kind="precondition")
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        raise RequestError(
            "time_limit_s", f"no solution found within {corridor.time_limit_s:g} s; "
                            "allow the solver more time", kind="precondition")

    plan, binding = search, []
    exact = _Model(corridor, z_range, loops=[round(m.solution_value()) for m in search.m])
    if exact.solve() == pywraplp.Solver.OPTIMAL:
        binding = exact.binding()
        if exact.shorten_cycle() == pywraplp.Solver.OPTIMAL:
            plan = exact
    return plan.result("optimal" if status == pywraplp.Solver.OPTIMAL else "feasible",
                       time.perf_counter() - started, binding)


def _z_range(corridor: Corridor) -> tuple[float, float]:
    """Bounds on z = 1/C: the cycle range, its lower end raised where needed so that no
    green or red given in seconds is longer than the cycle (validation has kept them
    within the longest cycle)."""
    longest = 0.0
    for signal in corridor.signals:
        for green in (signal.outbound, signal.inbound):
            seconds = green.green_s if green.green_s is not None else green.red_s
            longest = max(longest, seconds or 0.0)
    return 1.0 / corridor.max_cycle_s, 1.0 / max(corridor.min_cycle_s, longest)


class _Model:
    """The MAXBAND program for one corridor: the full search, or with ``loops`` given, the
    linear program left once the loop integers are fixed (it has no tie-break, so that its
    shadow prices are the bands' alone)."""

    def __init__(self, corridor: Corridor, z_range: tuple[float, float],
                 loops: list[int] | None = None) -> None:
        self.corridor = corridor
        self.z_range = z_range
        signals = corridor.signals
        solver = pywraplp.Solver.CreateSolver(SOLVER if loops is None else "GLOP")
        solver.SuppressOutput()
        self.solver = solver
        k = corridor.inbound_weight

        self.z = solver.NumVar(*z_range, "z")
        self.b = solver.NumVar(0.0, 1.0, "b")
        self.b_in = solver.NumVar(0.0, 1.0, "b_in")
        self.w = [solver.NumVar(0.0, 1.0, f"w{i}") for i in range(len(signals))]
        self.w_in = [solver.NumVar(0.0, 1.0, f"w_in{i}") for i in range(len(signals))]
        self.ratio = None
        if k != 1.0:
            self.ratio = solver.Add((1 - k) * self.b_in >= (1 - k) * k * self.b)

        self.fit, self.fit_in = [], []
        for i, signal in enumerate(signals):
            a, c = signal.outbound.share()
            self.fit.append(solver.Add(self.w[i] + self.b <= a + c * self.z))
            a, c = signal.inbound.share()
            self.fit_in.append(solver.Add(self.w_in[i] + self.b_in <= a + c * self.z))

        self.t, self.t_in, self.m, self.speed_limits = [], [], [], []
        for i in range(len(signals) - 1):
            self._add_link(i, None if loops is None else loops[i])

        objective = self.b + k * self.b_in
        if loops is None:
            # z / z_max is at most 1, so the tie-break is worth at most its weight.
            objective += SHORT_CYCLE_WEIGHT / z_range[1] * self.z
        solver.Maximize(objective)

    def _add_link(self, i: int, loop: int | None) -> None:
        """Travel times from signal i to the next within the speed ranges, and the loop
        constraint round the two; ``loop`` fixes m_i where given."""
        solver = self.solver
        here, there = self.corridor.signals[i], self.corridor.signals[i + 1]
        d = here.distance_to_next_m
        t = solver.NumVar(0.0, solver.infinity(), f"t{i}")
        t_in = solver.NumVar(0.0, solver.infinity(), f"t_in{i}")
        for name, travel, speeds in (("outbound", t, here.outbound_speed),
                                     ("inbound", t_in, here.inbound_speed)):
            fastest = solver.Add(travel >= d / speeds.max_mps * self.z)
            slowest = solver.Add(travel <= d / speeds.min_mps * self.z)
            self.speed_limits.append((i, name, fastest, slowest))
        if loop is None:
            m = solver.IntVar(*self._loop_range(here, there), f"m{i}")
        else:
            m = solver.NumVar(loop, loop, f"m{i}")
        e_here, e_there = _inbound_end(here), _inbound_end(there)
        solver.Add(self.w[i] + self.w_in[i] - self.w[i + 1] - self.w_in[i + 1] + t + t_in
                   + (e_there[1] - e_here[1]) * self.z - m == e_here[0] - e_there[0])
        self.t.append(t)
        self.t_in.append(t_in)
        self.m.append(m)

    def _loop_range(self, here: CorridorSignal, there: CorridorSignal) -> tuple[int, int]:
        """Bounds on m_i from the bounds of every other term of its loop constraint."""
        d = here.distance_to_next_m
        z_min, z_max = self.z_range
        travel_low = d * z_min * (1 / here.outbound_speed.max_mps
                                  + 1 / here.inbound_speed.max_mps)
        travel_high = d * z_max * (1 / here.outbound_speed.min_mps
                                   + 1 / here.inbound_speed.min_mps)
        e_here, e_there = _inbound_end(here), _inbound_end(there)
        ends = [e_there[0] - e_here[0] + (e_there[1] - e_here[1]) * z for z in self.z_range]
        # w_i + w'_i is at most the sum of the two greens at signal i.
        room_here = max(_share_at(here.outbound, z) + _share_at(here.inbound, z)
                        for z in self.z_range)
        room_there = max(_share_at(there.outbound, z) + _share_at(there.inbound, z)
                         for z in self.z_range)
        return (math.ceil(-room_there + travel_low + min(ends) - 1e-9),
                math.floor(room_here + travel_high + max(ends) + 1e-9))

    def solve(self) -> int:
        self.solver.SetTimeLimit(max(1, round(self.corridor.time_limit_s * 1000)))
        params = pywraplp.MPSolverParameters()
        if self.solver.IsMip():
            params.SetDoubleParam(params.RELATIVE_MIP_GAP, MIP_GAP)
        return self.solver.Solve(params)

    def shorten_cycle(self) -> int:
        """Keeps the bands just found and, among the plans that give them, takes the
        shortest cycle."""
        # Fixing both bands at their values keeps them exactly, where a floor on their
        # weighted sum would cost some band to tolerances.
        values = [(band, band.solution_value()) for band in (self.b, self.b_in)]
        for band, value in values:
            band.SetBounds(value, value)
        self.solver.Maximize(self.z)
        return self.solver.Solve()

    def result(self, status: str, solve_time_s: float, binding: list[str]) -> CorridorBands:
        corridor = self.corridor
        z = self.z.solution_value()
        cycle = 1.0 / z
        b, b_in = self.b.solution_value(), self.b_in.solution_value()
        w = [v.solution_value() for v in self.w]
        t = [v.solution_value() for v in self.t]
        t_in = [v.solution_value() for v in self.t_in]

        # The band's front leaves signal i at g_i + w_i and reaches signal i + 1 at
        # g_{i+1} + w_{i+1}, t_i later: that fixes each green start g from the first's.
        starts = [0.0]
        for i in range(len(t)):
            starts.append(starts[-1] + w[i] + t[i] - w[i + 1])

        distances = [s.distance_to_next_m for s in corridor.signals[:-1]]
        return CorridorBands(
            cycle_s=cycle,
            offsets_s=tuple(_wrap(s * cycle, cycle) for s in starts),
            outbound_band_s=b * cycle,
            inbound_band_s=b_in * cycle,
            outbound_band_share=b,
            inbound_band_share=b_in,
            outbound_speeds_mps=tuple(d / (x * cycle) for d, x in zip(distances, t)),
            inbound_speeds_mps=tuple(d / (x * cycle) for d, x in zip(distances, t_in)),
            objective=b + corridor.inbound_weight * b_in,
            status=status,
            solve_time_s=solve_time_s,
            binding=tuple(binding),
        )

    def binding(self) -> list[str]:
        """One line for each constraint with a shadow price on the bands, from a solved
        linear program: relaxing any of them would widen a band."""
        signals = self.corridor.signals
        found = []
        if abs(self.z.reduced_cost()) > DUAL_TOL:
            # A price on raising z = 1/C is one on shortening the cycle.
            shorter = self.z.reduced_cost() > 0
            cycle = 1.0 / self.z_range[1 if shorter else 0]
            which = "shortest" if shorter else "longest"
            if self.z_range[0] == self.z_range[1]:
                which = "only one"
            found.append(f"cycle: the {which} allowed, {cycle:.4g} s")
        if self.ratio is not None and abs(self.ratio.dual_value()) > DUAL_TOL:
            found.append(f"inbound band held at {self.corridor.inbound_weight:.4g} times "
                         "the outbound band (the volume ratio)")
        for i, signal in enumerate(signals):
            edges = (("outbound", "front", abs(self.w[i].reduced_cost())),
                     ("outbound", "back", abs(self.fit[i].dual_value())),
                     ("inbound", "front", abs(self.fit_in[i].dual_value())),
                     ("inbound", "back", abs(self.w_in[i].reduced_cost())))
            for direction, edge, price in edges:
                if price > DUAL_TOL:
                    found.append(f"{signal.id} {direction} red, at the band's {edge}")
        for i, direction, fastest, slowest in self.speed_limits:
            link = f"{signals[i].id}-{signals[i + 1].id}"
            speeds = getattr(signals[i], f"{direction}_speed")
            if abs(fastest.dual_value()) > DUAL_TOL:
                found.append(f"{link} {direction}: the top speed, {speeds.max_mps:.3g} m/s")
            if abs(slowest.dual_value()) > DUAL_TOL:
                found.append(f"{link} {direction}: the lowest speed, "
                             f"{speeds.min_mps:.3g} m/s")
        return found


def _inbound_end(signal: CorridorSignal) -> tuple[float, float]:
    """End of the inbound green after the start of the outbound green, as ``a + c * z``."""
    a, c = signal.inbound.share()
    return a, c + signal.inbound_lag_s


def _share_at(green: ArterialGreen, z: float) -> float:
    a, c = green.share()
    return a + c * z


def _wrap(seconds: float, cycle: float) -> float:
    """``seconds`` into [0, cycle), with solver noise just below a whole cycle taken as 0."""
    wrapped = seconds % cycle
    return 0.0 if cycle - wrapped < 1e-9 * cycle else wrapped
