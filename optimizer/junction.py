"""A junction's layout and a detector report, checked and converted from the wire messages.

Everything a policy relies on is checked here once, so the policies can assume sane
numbers. Each failure raises :class:`RequestError` naming the field and the rule it
broke; the server turns that into a gRPC status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optimizer.traffic import (
    DEFAULT_SATURATION_PCU_PER_H_PER_LANE,
    PERMISSIVE_FACTOR,
    PcuFactors,
)
from protos import optimizer_v1_pb2 as pb

# Shortest yellow any plan may show (NTCIP 1202 phaseYellowChange starts at 3.0 s).
MIN_YELLOW_S = 3.0
# Metres of standing queue per PCU in one lane: a car and its gap, or about three
# motorcycles side by side and one behind the other.
JAM_SPACING_M_PER_PCU = 7.0
# A queue this close to the end of the detector's view is taken to reach beyond it.
SPILL_SHARE = 0.9
# Sizes and magnitudes beyond any real junction: refused, so that one request can neither
# stall the server nor poison a junction's smoothed state. NTCIP 1202 controllers carry at
# most 255 phases; real junctions use under 16.
MAX_PHASES = 32
MAX_SIGNAL_GROUPS = 128
MAX_ID_LENGTH = 128
MAX_LANES = 20
MAX_SATURATION_PER_LANE = 10_000.0
MAX_TIME_S = 3600.0
MAX_COUNT = 100_000.0
MAX_QUEUE_M = 100_000.0
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 86_400.0


class RequestError(ValueError):
    """A request the optimizer cannot serve. ``kind`` is 'invalid' or 'precondition'."""

    def __init__(self, field_path: str, rule: str, kind: str = "invalid") -> None:
        super().__init__(f"{field_path}: {rule}")
        self.field_path = field_path
        self.rule = rule
        self.kind = kind


@dataclass(frozen=True)
class SignalGroup:
    id: str
    lanes: float
    saturation_pcu_per_s: float  # whole movement, all its lanes


@dataclass(frozen=True)
class Phase:
    id: str
    group_ids: tuple[str, ...]
    min_green_s: float
    max_green_s: float
    yellow_s: float
    all_red_s: float
    pedestrian_s: float

    @property
    def clearance_s(self) -> float:
        return self.yellow_s + self.all_red_s

    @property
    def shortest_green_s(self) -> float:
        """The green may never be shorter than its minimum or its pedestrian time."""
        return max(self.min_green_s, self.pedestrian_s)


@dataclass(frozen=True)
class Junction:
    id: str
    groups: tuple[SignalGroup, ...]
    phases: tuple[Phase, ...]
    min_cycle_s: float
    max_cycle_s: float
    policy: int
    # For each group, the indices of the phases that serve it.
    serving: dict[str, tuple[int, ...]] = field(repr=False, default_factory=dict)
    # Share of saturation flow a group gets in each serving phase: 1, or the permissive
    # factor where it must yield. Keyed by (group id, phase index).
    green_factor: dict[tuple[str, int], float] = field(repr=False, default_factory=dict)

    def effective_green(self, group_id: str, greens) -> float:
        """Green a group gets, permissive seconds discounted, under per-phase ``greens``."""
        return sum(greens[i] * self.green_factor[(group_id, i)] for i in self.serving[group_id])

    @property
    def lost_time_s(self) -> float:
        return sum(p.clearance_s for p in self.phases)

    @property
    def min_feasible_cycle_s(self) -> float:
        shortest = sum(p.shortest_green_s for p in self.phases) + self.lost_time_s
        return max(shortest, self.min_cycle_s)

    @property
    def max_feasible_cycle_s(self) -> float:
        longest = sum(p.max_green_s for p in self.phases) + self.lost_time_s
        return min(longest, self.max_cycle_s)


@dataclass(frozen=True)
class Demand:
    """What a report says about each group, in the units the policies use."""

    flow_pcu_per_s: dict[str, float]
    flow_veh_per_s: dict[str, float]
    queue_pcu: dict[str, float]
    # Groups whose queue filled the detector's view: their counts understate demand.
    spilled: frozenset[str]
    interval_s: float
    timestamp_s: float
    # Groups the report spoke of; the others (a camera that sees only some lanes) carry
    # no news, so their smoothed flows are kept rather than read as zero.
    reported: frozenset[str] = frozenset()


def finite(value: float, path: str, *, minimum: float = 0.0, strict: bool = False,
            maximum: float = math.inf) -> float:
    if math.isnan(value) or math.isinf(value):
        raise RequestError(path, f"must be a finite number, got {value}")
    if value < minimum or (strict and value == minimum):
        relation = "greater than" if strict else "at least"
        raise RequestError(path, f"must be {relation} {minimum:g}, got {value:.12g}")
    if value > maximum:
        raise RequestError(path, f"must be at most {maximum:g}, got {value:.12g}")
    return value


def identifier(value: str, path: str) -> str:
    if not value.strip():
        raise RequestError(path, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise RequestError(path, f"must be at most {MAX_ID_LENGTH} characters, got {len(value)}")
    if not value.isprintable():
        raise RequestError(path, "must hold printable characters only (no line breaks)")
    return value


def sized(items, path: str, noun: str, maximum: int, minimum: int = 1) -> None:
    """Refuses a repeated field with fewer than ``minimum`` or more than ``maximum`` items."""
    if len(items) < minimum:
        raise RequestError(path, f"must list at least {minimum} {noun}")
    if len(items) > maximum:
        raise RequestError(path, f"must list at most {maximum} {noun}s, got {len(items)}")


def phase_yields(phase: pb.PhaseTiming, path: str) -> tuple[tuple[str, str], ...]:
    """A phase's yield pairs, checked: a permissive group of the phase giving way to
    another group green in it. Only phase decisions use them; a registration that sends
    them has them checked all the same."""
    sized(phase.yields, f"{path}.yields", "yield pair",
          MAX_SIGNAL_GROUPS * MAX_SIGNAL_GROUPS, minimum=0)
    pairs = []
    for i, pair in enumerate(phase.yields):
        where = f"{path}.yields[{i}]"
        if pair.signal_group_id not in phase.permissive_signal_group_ids:
            raise RequestError(f"{where}.signal_group_id",
                               f"must be one of the phase's permissive_signal_group_ids, "
                               f"got {pair.signal_group_id!r}")
        if (pair.yields_to not in phase.signal_group_ids
                or pair.yields_to == pair.signal_group_id):
            raise RequestError(f"{where}.yields_to",
                               f"must be another of the phase's signal_group_ids, "
                               f"got {pair.yields_to!r}")
        pairs.append((pair.signal_group_id, pair.yields_to))
    return tuple(pairs)


def phase_times(phase: pb.PhaseTiming, path: str) -> tuple[float, float, float, float]:
    """A phase's minimum and maximum green, yellow and all-red, checked."""
    min_green = finite(phase.min_green_s, f"{path}.min_green_s", strict=True,
                       maximum=MAX_TIME_S)
    max_green = finite(phase.max_green_s, f"{path}.max_green_s", strict=True,
                       maximum=MAX_TIME_S)
    if max_green < min_green:
        raise RequestError(f"{path}.max_green_s",
                           f"must be at least min_green_s ({min_green:g}), got {max_green:g}")
    yellow = finite(phase.yellow_s, f"{path}.yellow_s", minimum=MIN_YELLOW_S, maximum=60)
    all_red = finite(phase.all_red_s, f"{path}.all_red_s", maximum=60)
    return min_green, max_green, yellow, all_red


def junction_from_request(request: pb.RegisterJunctionRequest) -> Junction:
    identifier(request.junction_id, "junction_id")
    sized(request.signal_groups, "signal_groups", "signal group", MAX_SIGNAL_GROUPS)
    sized(request.phases, "phases", "phase", MAX_PHASES)

    groups: list[SignalGroup] = []
    seen: set[str] = set()
    for i, sg in enumerate(request.signal_groups):
        path = f"signal_groups[{i}]"
        identifier(sg.id, f"{path}.id")
        if sg.id in seen:
            raise RequestError(f"{path}.id", f"duplicates signal group {sg.id!r}")
        seen.add(sg.id)
        lanes = finite(sg.lanes, f"{path}.lanes", strict=True, maximum=MAX_LANES)
        per_lane = finite(sg.saturation_pcu_per_h_per_lane,
                           f"{path}.saturation_pcu_per_h_per_lane",
                           maximum=MAX_SATURATION_PER_LANE)
        if 0 < per_lane < 100:
            raise RequestError(f"{path}.saturation_pcu_per_h_per_lane",
                               f"must be 0 (the default) or at least 100, got {per_lane:g}")
        per_lane = per_lane or DEFAULT_SATURATION_PCU_PER_H_PER_LANE
        groups.append(SignalGroup(sg.id, lanes, lanes * per_lane / 3600.0))

    phases: list[Phase] = []
    phase_ids: set[str] = set()
    serving: dict[str, list[int]] = {g.id: [] for g in groups}
    green_factor: dict[tuple[str, int], float] = {}
    for i, ph in enumerate(request.phases):
        path = f"phases[{i}]"
        identifier(ph.id, f"{path}.id")
        if ph.id in phase_ids:
            raise RequestError(f"{path}.id", f"duplicates phase {ph.id!r}")
        phase_ids.add(ph.id)
        if not ph.signal_group_ids:
            raise RequestError(f"{path}.signal_group_ids", "must name at least one group")
        for gid in ph.signal_group_ids:
            if gid not in serving:
                raise RequestError(f"{path}.signal_group_ids", f"names unknown group {gid!r}")
            serving[gid].append(i)
            green_factor[(gid, i)] = 1.0
        for gid in ph.permissive_signal_group_ids:
            if (gid, i) not in green_factor:
                raise RequestError(f"{path}.permissive_signal_group_ids",
                                   f"group {gid!r} must also be in signal_group_ids")
            green_factor[(gid, i)] = PERMISSIVE_FACTOR
        phase_yields(ph, path)
        min_green, max_green, yellow, all_red = phase_times(ph, path)
        pedestrian = finite(ph.pedestrian_s, f"{path}.pedestrian_s", maximum=MAX_TIME_S)
        if pedestrian > max_green:
            raise RequestError(f"{path}.pedestrian_s",
                               f"must fit in max_green_s ({max_green:g}), got {pedestrian:g}")
        phases.append(Phase(ph.id, tuple(ph.signal_group_ids), min_green, max_green,
                            yellow, all_red, pedestrian))

    for i, g in enumerate(groups):
        if not serving[g.id]:
            raise RequestError(f"signal_groups[{i}]", f"group {g.id!r} is served by no phase")

    min_cycle = finite(request.min_cycle_s, "min_cycle_s", strict=True, maximum=MAX_TIME_S)
    max_cycle = finite(request.max_cycle_s, "max_cycle_s", strict=True, maximum=MAX_TIME_S)
    if request.policy not in pb.Policy.values():
        raise RequestError("policy", f"must be WEBSTER or ADAPTIVE, got {request.policy}")
    if max_cycle < min_cycle:
        raise RequestError("max_cycle_s",
                           f"must be at least min_cycle_s ({min_cycle:g}), got {max_cycle:g}")

    junction = Junction(
        id=request.junction_id,
        groups=tuple(groups),
        phases=tuple(phases),
        min_cycle_s=min_cycle,
        max_cycle_s=max_cycle,
        policy=request.policy or pb.ADAPTIVE,
        serving={k: tuple(v) for k, v in serving.items()},
        green_factor=green_factor,
    )
    if junction.min_feasible_cycle_s > max_cycle:
        raise RequestError(
            "max_cycle_s",
            f"no feasible cycle: minimum greens plus clearances need "
            f"{junction.min_feasible_cycle_s:g} s, above max_cycle_s {max_cycle:g}",
        )
    if junction.max_feasible_cycle_s < min_cycle:
        raise RequestError(
            "min_cycle_s",
            f"no feasible cycle: maximum greens plus clearances give only "
            f"{junction.max_feasible_cycle_s:g} s, below min_cycle_s {min_cycle:g}",
        )
    return junction


def demand_from_request(
    junction: Junction, request: pb.PlanRequest, factors: PcuFactors
) -> Demand:
    interval = finite(request.interval_s, "interval_s", minimum=MIN_INTERVAL_S,
                       maximum=MAX_INTERVAL_S)
    if request.policy not in pb.Policy.values():
        raise RequestError("policy", f"must be WEBSTER or ADAPTIVE, got {request.policy}")
    lanes = {g.id: g.lanes for g in junction.groups}
    flow_pcu = {g.id: 0.0 for g in junction.groups}
    flow_veh = dict(flow_pcu)
    queue = dict(flow_pcu)
    reported: set[str] = set()
    spilled: set[str] = set()
    for i, mv in enumerate(request.movements):
        path = f"movements[{i}]"
        gid = mv.signal_group_id
        if gid not in lanes:
            raise RequestError(f"{path}.signal_group_id",
                               f"junction {junction.id!r} has no signal group {gid!r}")
        if gid in reported:
            raise RequestError(f"{path}.signal_group_id", f"reports group {gid!r} twice")
        reported.add(gid)
        c = mv.counts
        moto = finite(c.motorcycle, f"{path}.counts.motorcycle", maximum=MAX_COUNT)
        car = finite(c.car, f"{path}.counts.car", maximum=MAX_COUNT)
        bus = finite(c.bus, f"{path}.counts.bus", maximum=MAX_COUNT)
        truck = finite(c.truck, f"{path}.counts.truck", maximum=MAX_COUNT)
        queue_m = finite(mv.queue_m, f"{path}.queue_m", maximum=MAX_QUEUE_M)
        occupancy = finite(mv.occupancy, f"{path}.occupancy")
        if occupancy > 1.0:
            raise RequestError(f"{path}.occupancy", f"must be at most 1, got {occupancy:g}")
        flow_pcu[gid] = factors.pcu(moto, car, bus, truck) / interval
        flow_veh[gid] = (moto + car + bus + truck) / interval
        queue[gid] = queue_m * lanes[gid] / JAM_SPACING_M_PER_PCU
        view = finite(mv.detection_length_m, f"{path}.detection_length_m", maximum=MAX_QUEUE_M)
        if view > 0 and queue_m >= SPILL_SHARE * view:
            spilled.add(gid)
    timestamp = finite(request.timestamp_s, "timestamp_s", minimum=-math.inf)
    return Demand(flow_pcu, flow_veh, queue, frozenset(spilled), interval, timestamp,
                  frozenset(reported))
