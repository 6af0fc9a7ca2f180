"""Chains of signals in step when congested: a common cycle and offsets, re-planned from counts.

Real-time controllers left to themselves switch whenever their own queues say so, and a
platoon one of them releases meets the next signal at whatever stage that one is in. With
room to spare that costs little; once greens end with queues left behind, short links fill
and a grid loses what a plan running every light in step would carry (SUMO's 3x2 grid under
rising demand, five seeds: its own plan, every light switching at once, 38.3 s of mean delay;
the same plan with random offsets, 53.4 s). Along a chain of signals (neighbours joined by
through movements both ways) the coordinator gives the controllers a shared rhythm:

* it starts each chain on the common cycle and offsets its lights already run, where they
  share a cycle: the plan the traffic centre has is the best guess before any count;
* every ``period_s`` it takes, per signal group, what each junction's own detectors counted,
  sizes one cycle by Webster's formula at the busiest junction of all the chains, gives each
  junction's arterial phase (the one serving both through directions) its share by flow
  ratio, and places the arterial greens by MAXBAND (``optimizer.bandwidth``) for the widest
  bands both ways, each chain keeping the moment its first signal's windows start;
* a chain runs in step while its greens leave queues behind (``_in_step``), and from the
  start where it starts on its program, until its greens have left none for five minutes.

In step, each real-time controller on the chain holds its arterial phase through its window
and gives way in time for it, while the arterial has traffic; an arterial green with a gap in
its traffic gives the rest of its window to a side street with a queue standing, and in the
rest of the cycle a side phase with traffic is not cut to go back to the arterial early.
Bounds and the controller's safety guards come first.

Known limits: neighbours count as such only when the edge leaving one enters the next, so
a link split by a lane drop or a turn pocket breaks the chain there; a new plan is taken up
at once, not spread over a cycle; a junction belongs
to one chain at most, so in a grid only the rows (or the columns) get bands, the crossing
ones keeping their relation through the common cycle and anchors only; the plan is computed
in-process rather than asked of the optimizer service; a program's offsets are read from
where its lights stand when the run starts; in step, greens long enough to clear their
queues leave none behind, so a chain that needs its rhythm still runs free after five quiet
minutes and must fall behind again to relink (a measure of how full its greens run would
tell sooner).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass

from controller.detectors import JunctionDetectors
from controller.topology import JunctionLayout
from optimizer.bandwidth import plan_bands
from optimizer.corridor import (MAX_DISTANCE_M, MAX_SIGNALS, MIN_DISTANCE_M, ArterialGreen,
                                Corridor, CorridorSignal, SpeedRange)
from optimizer.junction import RequestError
from optimizer.traffic import DEFAULT_SATURATION_PCU_PER_H_PER_LANE, PcuFactors
from optimizer.webster import webster_cycle_s

log = logging.getLogger("controller.coordination")

# Counts are gathered this long before the first plan, and plans are redone this often.
DEFAULT_PERIOD_S = 300.0
FIRST_PLAN_S = 300.0
# Start-up loss per phase added to its clearance for the cycle's lost time (HCM 2010).
START_UP_LOSS_S = 2.0
# Progression speeds allowed, as shares of each link's speed limit.
SPEED_SHARES = (0.75, 1.0)
# The band may stretch the Webster cycle by up to this share.
CYCLE_STRETCH = 1.25
# A chain runs in step once this many greens within LINK_MEMORY_S ended with at least
# LEFT_BEHIND_PCU_PER_LANE still standing, and runs free again after UNLINK_AFTER_S with none
# (counted from the start for a chain that starts in step on its program).
LEFT_BEHIND_PCU_PER_LANE = 1.0
LINK_FAILURES = 2
LINK_MEMORY_S = 120.0
UNLINK_AFTER_S = 300.0


@dataclass(frozen=True)
class Chain:
    """Junctions in order along one direction, each with its arterial phase, and the
    links between neighbours (length in metres, speed limit in m/s)."""

    tls_ids: tuple[str, ...]
    arterial_phases: tuple[int, ...]
    link_lengths_m: tuple[float, ...]
    link_speeds_mps: tuple[float, ...]


@dataclass(frozen=True)
class Window:
    """One junction's share of a coordination plan."""

    arterial_phase: int
    cycle_s: float
    green_s: float
    start_s: float  # an absolute time at which an arterial window starts

    def position(self, now: float) -> float:
        """Seconds since the latest window started."""
        return (now - self.start_s) % self.cycle_s

    def active(self, now: float) -> bool:
        return self.position(now) < self.green_s

    def until_next(self, now: float) -> float:
        return self.cycle_s - self.position(now)

    def number(self, now: float) -> int:
        """Which window, counted from ``start_s``, is the latest to have started."""
        return math.floor((now - self.start_s) / self.cycle_s)


def find_chains(layouts: list[JunctionLayout], sumo) -> list[Chain]:
    """Chains of two or more junctions joined by through movements both ways, longest
    first, each junction in one chain at most; link lengths and speeds are read from the
    running simulation ``sumo``."""
    by_id = {layout.tls_id: layout for layout in layouts}
    into, leaves, through = {}, {}, {}
    for layout in layouts:
        for link in layout.links:
            into.setdefault(link.in_edge, layout.tls_id)
            leaves.setdefault(link.out_edge, layout.tls_id)
            if link.direction == "s":
                through[(layout.tls_id, link.in_edge)] = link.out_edge
    candidates = []
    for (tls, in_edge) in through:
        path, edges = [tls], []
        edge = in_edge
        while (tls, edge) in through:
            edge = through[(tls, edge)]
            tls = into.get(edge)
            if tls is None or tls in path:
                break
            path.append(tls)
            edges.append(edge)
        # Every stretch of two or more, since an end may not fit (a one-link gate).
        for a in range(len(path) - 1):
            for b in range(a + 2, len(path) + 1):
                candidates.append((path[a:b], edges[a:b - 1]))
    found, used = [], set()
    for path, edges in sorted(candidates, key=lambda c: (-len(c[0]), c[0])):
        if used & set(path):
            continue
        chain = _chain(by_id, path, edges, into, leaves, sumo)
        if chain is not None:
            found.append(chain)
            used |= set(path)
    return found


def _chain(by_id, path, edges, into, leaves, sumo) -> Chain | None:
    """The chain along ``path`` if every junction has one phase serving both through
    directions, else None."""
    phases = []
    for i, tls in enumerate(path):
        wanted = set()
        if i > 0:
            wanted.add(edges[i - 1])  # outbound traffic comes from the junction before
        if i + 1 < len(path):
            # Inbound traffic comes back from the junction after.
            back = [e for e, t in into.items() if t == tls and leaves.get(e) == path[i + 1]]
            if not back:
                return None
            wanted.add(back[0])
        phase = _serving(by_id[tls], wanted)
        if phase is None:
            return None
        phases.append(phase)
    lengths = [sumo.lane.getLength(f"{e}_0") for e in edges]
    speeds = [sumo.lane.getMaxSpeed(f"{e}_0") for e in edges]
    if len(path) > MAX_SIGNALS or not all(MIN_DISTANCE_M <= d <= MAX_DISTANCE_M
                                          for d in lengths):
        return None  # beyond what the band planner takes; a shorter stretch may fit
    return Chain(tuple(path), tuple(phases), tuple(lengths), tuple(speeds))


def _serving(layout: JunctionLayout, in_edges: set[str]) -> int | None:
    """The phase whose green serves the through movement from every edge in ``in_edges``."""
    for k, phase in enumerate(layout.phases):
        green = {i for i, c in enumerate(phase.green_state) if c in "Gg"}
        served = {link.in_edge for link in layout.links
                  if link.direction == "s" and link.index in green}
        if in_edges <= served:
            return k
    return None


class Coordinator:
    """Counts what the chains' junctions serve, re-plans their common cycle and offsets
    every ``period_s``, and tells each junction its arterial window. In simulation it is
    a step observer; it must step before the controllers it coordinates."""

    def __init__(self, chains: list[Chain], layouts: list[JunctionLayout],
                 period_s: float = DEFAULT_PERIOD_S, first_plan_s: float = FIRST_PLAN_S,
                 factors: PcuFactors | None = None) -> None:
        if not (math.isfinite(period_s) and period_s > 0):
            raise ValueError(f"period_s: must be a positive number of seconds, got {period_s}")
        self.chains = chains
        coordinated = {tls for chain in chains for tls in chain.tls_ids}
        self.layouts = {lay.tls_id: lay for lay in layouts if lay.tls_id in coordinated}
        self.period_s = period_s
        self.factors = factors or PcuFactors()
        self.windows: dict[str, Window] = {}
        # (time, junctions, cycle s, offsets s, bands s) per plan, for the run's report.
        self.history: list[tuple[float, tuple[str, ...], float, tuple[float, ...],
                                 tuple[float, float]]] = []
        # Each coordinated junction's detectors, and their totals (PCU) at the last plan.
        self._detectors: dict[str, JunctionDetectors] = {}
        self._planned_totals: dict[str, dict[str, float]] = {}
        self._since: float | None = None
        self._next_plan_s = first_plan_s
        self._chain_of = {tls: chain for chain in chains for tls in chain.tls_ids}
        self._failures: dict[Chain, deque[float]] = {chain: deque() for chain in chains}
        self._linked: set[Chain] = set()
        self._congested_s: dict[Chain, float] = {}  # when a green last left a queue behind
        # (time, junctions, in step or not) each time a chain links or runs free again.
        self.links: list[tuple[float, tuple[str, ...], bool]] = []

    def follow_programs(self, sumo, now: float) -> None:
        """Starts each chain in step on the timing its signals run now, where they share
        one cycle: the plan a traffic centre already has is the best guess until traffic
        has been counted, and the chain runs free only once its greens have left no queue
        behind for ``UNLINK_AFTER_S``. Linking on evidence alone comes late on a grid that
        fills within minutes: SUMO's 3x2 grid under rising demand (five seeds, arterial
        windows always held) had 33.4 s of mean delay in step from the start, 34.7 s from
        90 s, 36.1 s from 120 s and 38.6 s when its greens first left queues behind (two to
        three minutes in), against 38.3 s for its own plan; with gaps handing windows to
        side streets, 34.4 s from the start (measured while choosing the rule; the last
        is ``bench/other_networks.py``'s). Read before the controllers take the signals
        over."""
        for chain in self.chains:
            windows = {}
            for tls, arterial in zip(chain.tls_ids, chain.arterial_phases):
                window = _program_window(sumo, self.layouts[tls], arterial, now)
                if window is None:
                    break
                windows[tls] = window
            cycles = {round(w.cycle_s, 3) for w in windows.values()}
            if len(windows) < len(chain.tls_ids) or len(cycles) != 1:
                continue
            self.windows.update(windows)
            self._link(chain, now, "starts on its program's common cycle")
            self._congested_s[chain] = now
            first = windows[chain.tls_ids[0]]
            self.history.append((now, chain.tls_ids, first.cycle_s, tuple(
                (windows[t].start_s - first.start_s) % first.cycle_s for t in chain.tls_ids),
                (0.0, 0.0)))

    def window(self, tls_id: str, now: float) -> Window | None:
        """The junction's window, while its chain runs in step."""
        chain = self._chain_of.get(tls_id)
        if chain is None or not self._in_step(chain, now):
            return None
        return self.windows.get(tls_id)

    def green_ended(self, tls_id: str, now: float, left_pcu_per_lane: float) -> None:
        """A junction's green ended with this much standing on its lanes, per lane."""
        chain = self._chain_of.get(tls_id)
        if chain is not None and left_pcu_per_lane >= LEFT_BEHIND_PCU_PER_LANE:
            self._failures[chain].append(now)
            self._congested_s[chain] = now

    def _in_step(self, chain: Chain, now: float) -> bool:
        """Whether the chain runs in step: from the moment greens leave queues behind
        often enough (or from the start, on its program), until they have left none for a
        while. Below that, junctions that serve traffic as it comes lose less than ones
        held to a common cycle (SUMO's kuehne grid, five seeds: 14.2 s of mean delay free,
        14.7 s in step with its own program for its first five minutes, 15.3 s with its
        arterial windows always held, measured while choosing the rule)."""
        failures = self._failures[chain]
        while failures and now - failures[0] > LINK_MEMORY_S:
            failures.popleft()
        if chain not in self._linked and len(failures) >= LINK_FAILURES:
            self._link(chain, now, f"greens leave queues behind ({len(failures)} in "
                                   f"{LINK_MEMORY_S:.0f} s)")
        elif (chain in self._linked
              and now - self._congested_s.get(chain, now) > UNLINK_AFTER_S):
            self._linked.discard(chain)
            self.links.append((now, chain.tls_ids, False))
            log.info("chain %s: no queue left behind in %.0f s; junctions run free from "
                     "%.0f s", "-".join(chain.tls_ids), UNLINK_AFTER_S, now)
        return chain in self._linked

    def _link(self, chain: Chain, now: float, why: str) -> None:
        self._linked.add(chain)
        self.links.append((now, chain.tls_ids, True))
        log.info("chain %s: %s; running in step from %.0f s", "-".join(chain.tls_ids), why,
                 now)

    def on_step(self, time_s: float, sumo) -> None:
        if self._since is None:
            self._since = time_s
            self._next_plan_s += time_s
        if time_s + 1e-9 >= self._next_plan_s:
            self._next_plan_s = time_s + self.period_s
            self._replan(time_s)
            self._since = time_s

    def _replan(self, now: float) -> None:
        """New windows for every chain from the traffic counted since the last plan, on
        one cycle for all (the busiest junction's), so that chains crossing each other keep
        their relation; each chain's first signal keeps the moment its windows start."""
        hours = max(now - self._since, 1.0) / 3600.0
        counted = self._counted()
        sizing = {chain: [self._sizing(self.layouts[tls], counted.get(tls, {}), hours, phase)
                          for tls, phase in zip(chain.tls_ids, chain.arterial_phases)]
                  for chain in self.chains}
        cycle = max((s.cycle_s for sizes in sizing.values() for s in sizes), default=0.0)
        for chain, sizes in sizing.items():
            try:
                self._plan(chain, sizes, cycle, now)
            except RequestError as why:
                # The junctions decide on their own until a plan fits again.
                for tls in chain.tls_ids:
                    self.windows.pop(tls, None)
                log.warning("chain %s: no coordination plan at %.0f s (%s); its junctions "
                            "decide on their own until the next try", "-".join(chain.tls_ids),
                            now, why)

    def watch(self, tls_id: str, detectors: JunctionDetectors) -> None:
        """Counts a junction's traffic from its controller's own detectors."""
        if tls_id in self.layouts:
            self._detectors[tls_id] = detectors

    def _counted(self) -> dict[str, dict[str, float]]:
        """PCU per group that reached each watched junction since the last plan."""
        counts = {}
        for tls, detectors in self._detectors.items():
            totals = {gid: sum(n * getattr(self.factors, cls) for cls, n in by_class.items())
                      for gid, by_class in detectors.totals.items()}
            before = self._planned_totals.get(tls, {})
            counts[tls] = {gid: pcu - before.get(gid, 0.0) for gid, pcu in totals.items()}
            self._planned_totals[tls] = totals
        return counts

    def _plan(self, chain: Chain, sizing: list[_Sizing], cycle: float, now: float) -> None:
        signals = []
        for i, (tls, size) in enumerate(zip(chain.tls_ids, sizing)):
            split = size.arterial_share(cycle) / cycle
            last = i == len(chain.tls_ids) - 1
            speed = None if last else chain.link_speeds_mps[i]
            speeds = (SpeedRange() if last else
                      SpeedRange(SPEED_SHARES[0] * speed, SPEED_SHARES[1] * speed))
            signals.append(CorridorSignal(
                tls, ArterialGreen(green_split=split), ArterialGreen(green_split=split),
                0.0 if last else chain.link_lengths_m[i], speeds, speeds))
        # A lone chain may stretch its cycle for wider bands; chains that cross keep one.
        longest = min(self.layouts[tls].max_cycle_s for tls in chain.tls_ids)
        stretch = CYCLE_STRETCH if len(self.chains) == 1 else 1.0
        corridor = Corridor(tuple(signals), cycle, max(min(cycle * stretch, longest), cycle))
        bands = plan_bands(corridor)
        # The chain keeps its anchor: its first signal's windows start where they did.
        earlier = self.windows.get(chain.tls_ids[0])
        anchor = now + (earlier.until_next(now) % earlier.cycle_s if earlier else 0.0)
        for tls, size, offset, signal in zip(chain.tls_ids, sizing, bands.offsets_s, signals):
            green = signal.outbound.green_split * bands.cycle_s
            self.windows[tls] = Window(size.arterial_phase, bands.cycle_s, green,
                                       anchor + offset)
        self.history.append((now, chain.tls_ids, bands.cycle_s, bands.offsets_s,
                             (bands.outbound_band_s, bands.inbound_band_s)))
        log.info("chain %s: cycle %.0f s, offsets %s s, bands %.0f/%.0f s", "-".join(
            chain.tls_ids), bands.cycle_s, ", ".join(f"{o:.0f}" for o in bands.offsets_s),
            bands.outbound_band_s, bands.inbound_band_s)

    def _sizing(self, layout: JunctionLayout, counts: dict[str, float], hours: float,
                arterial_phase: int) -> _Sizing:
        # Per approach, since groups sharing a lane share its saturation flow.
        rate = DEFAULT_SATURATION_PCU_PER_H_PER_LANE
        groups = {g.id: g for g in layout.groups}
        ratios = []
        for phase in layout.phases:
            flow, lanes = {}, {}
            for gid in phase.group_ids:
                approach = groups[gid].approach
                flow[approach] = flow.get(approach, 0.0) + counts.get(gid, 0.0) / hours
                lanes[approach] = lanes.get(approach, 0.0) + groups[gid].lanes
            ratios.append(max((flow[a] / (rate * max(lanes[a], 0.5)) for a in flow),
                              default=0.0))
        lost = sum(p.yellow_s + p.all_red_s + START_UP_LOSS_S for p in layout.phases)
        return _Sizing(layout, arterial_phase, ratios, lost)


@dataclass(frozen=True)
class _Sizing:
    layout: JunctionLayout
    arterial_phase: int
    ratios: list[float]
    lost_s: float

    @property
    def cycle_s(self) -> float:
        cycle = webster_cycle_s(self.lost_s, sum(self.ratios))
        floor = self.lost_s + sum(p.min_green_s for p in self.layout.phases)
        return min(max(cycle, self.layout.min_cycle_s, floor), self.layout.max_cycle_s)

    def arterial_share(self, cycle_s: float) -> float:
        """Seconds of arterial green in ``cycle_s``: its share of the effective green by
        flow ratio, at least its minimum and leaving the other phases theirs."""
        phases = self.layout.phases
        effective = cycle_s - self.lost_s
        total = sum(self.ratios)
        share = (effective * self.ratios[self.arterial_phase] / total if total > 0
                 else effective / len(phases))
        others = sum(p.min_green_s for k, p in enumerate(phases) if k != self.arterial_phase)
        return min(max(share, phases[self.arterial_phase].min_green_s), effective - others)


def _program_window(sumo, layout: JunctionLayout, arterial: int, now: float) -> Window | None:
    """The arterial window of the static program a signal runs now, or None when it has
    none worth following (no such phase, or a cycle beyond the layout's longest)."""
    tls = layout.tls_id
    program = sumo.trafficlight.getProgram(tls)
    logic = next((lg for lg in sumo.trafficlight.getAllProgramLogics(tls)
                  if lg.programID == program), None)
    if logic is None:
        return None
    durations = [float(ph.duration) for ph in logic.phases]
    cycle = sum(durations)
    if not 0 < cycle <= layout.max_cycle_s:
        return None
    state = layout.phases[arterial].green_state
    matches = [k for k, ph in enumerate(logic.phases) if ph.state == state]
    if not matches:
        return None
    k = max(matches, key=lambda i: durations[i])
    current = sumo.trafficlight.getPhase(tls)
    remaining = sumo.trafficlight.getNextSwitch(tls) - now
    position = sum(durations[:current]) + durations[current] - remaining
    return Window(arterial, cycle, durations[k], now - position + sum(durations[:k]))
