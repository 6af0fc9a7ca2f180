"""Phase decisions in real time: hold the current green a little longer, or move on.

A controller in phase-decision mode asks every few seconds. The answer depends only on
what the request carries (the junction's phases and bounds, the running phase and how
long it has run, and per signal group its queue, the traffic about to arrive, the room
downstream and how long it has waited), so any replica can give it and none keeps state.

The rule is max-pressure (Varaiya, 2013, "Max pressure control of a network of
signalized intersections", Transp. Res. C 36) with changes that matter on mixed-traffic
junctions:

* pressure is counted in passenger-car units, so forty motorcycles that clear in a few
  seconds do not outweigh a dozen trucks, and weighted by the saturation flow per lane;
* it looks ahead, and only so far: standing traffic counts wherever it is, moving
  traffic only when it will reach the stop line within the controller's look-ahead;
* downstream, what holds discharge back counts (traffic standing on the exit, and
  moving traffic in proportion to how full the exit is), and a movement whose exit is
  full counts nothing, since it cannot discharge;
* it is asked every couple of seconds rather than every five, with no phase order;
* a permissive turn whose opposing stream has traffic coming counts little toward
  holding its green, since its turners go in gaps and at the change, not in the green;
* a green with a gap in its traffic (nothing standing, nothing due within 3 s) gives way
  to a rival with a queue standing, though its look-ahead still sees traffic further out;
* a young green is not cut for a rival that would gain less than the switch loses, and
  no green still serving traffic is cut before it has run as long as a switch loses; the
  start-up part of that loss may be given per group, by the class at the queue's front.

Bounds always win over pressure: the minimum green is never cut, the maximum green ends
the phase, and a movement that has waited past the maximum red is served next.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from optimizer.junction import (MAX_LANES, MAX_PHASES, MAX_SIGNAL_GROUPS, MAX_TIME_S,
                                RequestError, finite, identifier, phase_times, phase_yields,
                                sized)
from optimizer.traffic import DEFAULT_SATURATION_PCU_PER_H_PER_LANE
from protos import optimizer_v1_pb2 as pb

# Seconds between decisions when the caller does not say.
DEFAULT_DECISION_INTERVAL_S = 2.0
# Longest a movement with traffic waiting may be kept red before it is served next. Twice
# a 60 s cycle: long enough not to bind in normal running, short enough that nobody is
# stranded behind a heavy opposing flow.
DEFAULT_MAX_RED_S = 120.0
# Seconds of green lost to drivers reacting and accelerating after a switch (HCM 2010
# takes 2 s of start-up lost time per phase); a request may give it per group, by the
# vehicles at the front of the queue (optimizer.mixed_traffic).
START_UP_LOSS_S = 2.0
# Holding and switching are compared over this many seconds while a green is young:
# under twice its minimum. Older greens follow plain pressure, which reacts faster. On
# the suite (five seeds) this cut Dầu Giây's mean delay from 46.0 to 38.1 s and Tân
# Phong's evening peak from 15.8 to 14.8 s against plain pressure, cost Vũng Tàu 9 s
# (83.5 to 92.3 s) and moved the rest by under half a second; the same comparison on
# every green (horizons of 10-30 s) cost Vũng Tàu and Tam Hiệp far more.
DEFAULT_HORIZON_S = 20.0
YOUNG_GREEN_FACTOR = 2.0
# A young green is cut only for a rival with at least this share of its pressure. On the
# suite (five seeds) it moved the scenarios by under half a second except Tam Hiệp (+1.2 s)
# and cut the kuehne grid's mean delay from 24.3 to 20.8 s.
YOUNG_CUT_SHARE = 0.5
# A green whose own movements hold less than this many PCU (queued and arriving) has
# no reason to continue: it gaps out.
GAP_OUT_PCU = 0.5
# A permissive turn counts this share of its pressure toward holding its green while the
# streams it gives way to hold at least OPPOSING_PCU (standing or due within the
# look-ahead). Turners blocked by an opposing stream go in its gaps and at the change,
# so a long green serves them little; counted in full, a queue of them held the main
# road's green and cut the side street to its minimum on Tam Hiệp and Vũng Tàu, where
# a shared lane keeps them waiting. Ten seeds, local decisions: Tam Hiệp 26.5 -> 21.8 s,
# Vũng Tàu 89.9 -> 74.4 s, Tân Phong's morning peak 13.8 -> 13.4 s, SUMO's kuehne grid
# 14.8 -> 14.6 s and its single crossing 10.0 -> 9.9 s; Tân Phong's evening peak lost
# 0.3 s, Ingolstadt 0.6 s, Chợ Sặt and Phạm Văn Thuận 0.1-0.2 s. The same discount on the
# side that would switch to the turn's phase also cut Dầu Giây (42.5 -> 37.6 s) but cost
# SUMO's corridor 0.5 s, which left it too close to actuated control (as did scaling it by
# the share of the horizon the opposing queue takes to clear); it is left out.
# Thresholds of 1 and 3 PCU and a share of 0.3 measured no better (five seeds).
OPPOSED_SHARE = 0.1
OPPOSING_PCU = 2.0
# A green with no vehicle standing and none due within the gap (the controller's 3 s, as
# actuated control measures gaps) is cut for a rival with at least this much standing, though
# traffic further out still counts for it: side streets are served between the arterial's
# platoons. On SUMO's corridor (five seeds) mean delay went from 24.6 to 23.4 s (2 PCU: 24.0,
# 4 PCU: 23.6, 6 PCU: 24.8) and on its kuehne grid from 14.3 to 14.2 s; the suite's
# scenarios moved by 0.3 s or less.
GAP_RIVAL_QUEUE_PCU = 3.0


@dataclass(frozen=True)
class GroupState:
    """One signal group as the detectors see it at the moment of the decision."""

    id: str
    queue_pcu: float = 0.0  # standing or creeping within the detection zone
    arriving_pcu: float = 0.0  # moving, due at the stop line within the look-ahead
    downstream_pcu: float = 0.0  # holding discharge back on the movement's exit lanes
    downstream_room_pcu: float = math.inf  # space left on those exit lanes
    red_s: float = 0.0  # seconds since its last green, 0 while green
    saturation_pcu_per_s: float = 0.5  # the whole movement, all its lanes
    lanes: float = 1.0
    # Start-up lost time of its queue, by the class at its front (optimizer.mixed_traffic).
    start_up_loss_s: float = START_UP_LOSS_S
    # Moving and due at the stop line within the gap; inf when unknown.
    imminent_pcu: float = math.inf

    @property
    def demand_pcu(self) -> float:
        """Queued and arriving: what a green would serve."""
        return self.queue_pcu + self.arriving_pcu


@dataclass(frozen=True)
class PhaseBounds:
    group_ids: tuple[str, ...]
    min_green_s: float
    max_green_s: float
    yellow_s: float
    all_red_s: float
    # Groups that must yield in this phase (a permissive turn): they discharge at the
    # permissive share of their saturation flow.
    permissive_group_ids: tuple[str, ...] = ()
    # (permissive group, group it gives way to) pairs: the opposing streams.
    yields: tuple[tuple[str, str], ...] = ()

    @property
    def clearance_s(self) -> float:
        return self.yellow_s + self.all_red_s


@dataclass(frozen=True)
class DecisionRequest:
    phases: tuple[PhaseBounds, ...]
    groups: dict[str, GroupState]
    current_phase: int
    green_elapsed_s: float
    interval_s: float = DEFAULT_DECISION_INTERVAL_S
    max_red_s: float = DEFAULT_MAX_RED_S
    # Phases an emergency corridor or an operator wants next, served once bounds allow.
    priority_phase: int | None = None
    # Weight of a permissive (yielding) turn's pressure in the phase it yields in. In
    # mixed traffic, turners filter through the opposing stream, and on the suite a full
    # weight beat 0.35 (the cycle planner's capacity factor) and 0.6: a lower one calls
    # protected-turn phases that cost more lost time than they save.
    permissive_share: float = 1.0
    # Seconds ahead over which holding and switching are compared (0: plain pressure).
    horizon_s: float = DEFAULT_HORIZON_S


@dataclass(frozen=True)
class Decision:
    hold: bool
    next_phase: int  # the phase to serve next; the current one when holding
    # What decided: min_green, max_green, max_red, priority, gap_out, switch_cost,
    # no_demand_elsewhere or pressure.
    binding: str
    pressures: tuple[float, ...] = field(default=())

    def explain(self, request: DecisionRequest) -> str:
        scores = ", ".join(f"{p:.2f}" for p in self.pressures)
        verb = "hold" if self.hold else f"move to phase {self.next_phase + 1}"
        return (f"{verb} after {request.green_elapsed_s:.0f} s of phase "
                f"{request.current_phase + 1} ({self.binding}); weighted pressures [{scores}]")


def movement_pressure(group: GroupState) -> float:
    """Weighted pressure of one movement: its demand (queued and arriving) less the
    traffic standing on its exit, times its saturation rate per lane (the demand, summed
    over its lanes, already grows with them); nothing when its exit has no room, since
    it could not discharge."""
    if group.downstream_room_pcu < 1.0:
        return 0.0
    per_lane = group.saturation_pcu_per_s / max(group.lanes, 0.5)
    return per_lane * (group.demand_pcu - group.downstream_pcu)


def phase_pressures(request: DecisionRequest) -> list[float]:
    pressures = []
    for index, phase in enumerate(request.phases):
        total = 0.0
        for g in phase.group_ids:
            if g in request.groups:
                share = 1.0
                if g in phase.permissive_group_ids:
                    share = request.permissive_share
                    if index == request.current_phase and _opposed(request, phase, g):
                        share *= OPPOSED_SHARE
                total += share * movement_pressure(request.groups[g])
        pressures.append(total)
    return pressures


def _opposed(request: DecisionRequest, phase: PhaseBounds, group_id: str) -> bool:
    """Whether the streams a permissive group gives way to have traffic standing or due
    within the look-ahead: enough that its turners wait for gaps rather than go."""
    opposing = sum(request.groups[to].demand_pcu for turn, to in phase.yields
                   if turn == group_id and to in request.groups)
    return opposing >= OPPOSING_PCU


def decide(request: DecisionRequest) -> Decision:
    current = request.current_phase
    phase = request.phases[current]
    elapsed = request.green_elapsed_s
    pressures = phase_pressures(request)
    others = [k for k in range(len(request.phases)) if k != current]

    def decision(hold: bool, nxt: int, binding: str) -> Decision:
        return Decision(hold, current if hold else nxt, binding, tuple(pressures))

    if elapsed + 1e-9 < phase.min_green_s or not others:
        return decision(True, current, "min_green")
    wanted = [k for k in others if _has_demand(request, k)]
    best = max(wanted or others, key=lambda k: pressures[k])
    if request.priority_phase is not None and request.priority_phase != current:
        return decision(False, request.priority_phase, "priority")
    if request.priority_phase == current and elapsed + request.interval_s <= phase.max_green_s:
        return decision(True, current, "priority")
    # Any traffic at all counts here, a lone motorcycle (0.3 PCU) included.
    starved = [k for k in others if _longest_red(request, k) >= request.max_red_s]
    if starved:
        return decision(False, max(starved, key=lambda k: _longest_red(request, k)), "max_red")
    if elapsed + request.interval_s > phase.max_green_s + 1e-9:
        if wanted:
            return decision(False, best, "max_green")
        return decision(True, current, "max_green")
    if not wanted:
        return decision(True, current, "no_demand_elsewhere")
    if _demand(request, current) < GAP_OUT_PCU:
        return decision(False, best, "gap_out")
    if elapsed < phase.clearance_s + _start_up_loss(request, current):
        # Cut sooner, a green spends more time changing than serving. Programs made for
        # other purposes carry greens of a second or two (Ingolstadt's has several):
        # cutting there took mean delay from 25 s to 80 s (five seeds).
        return decision(True, current, "switch_cost")
    if _imminent(request, current) <= 0 and _queued(request, best) >= GAP_RIVAL_QUEUE_PCU:
        return decision(False, best, "gap_out")
    young = elapsed < YOUNG_GREEN_FACTOR * phase.min_green_s
    if request.horizon_s <= 0 or not young:
        if pressures[best] > pressures[current]:
            return decision(False, best, "pressure")
        return decision(True, current, "pressure")
    # A young green is cut only when that is worth the lost time. Over the coming horizon,
    # holding serves the current phase until its queue clears; switching serves the rival
    # only after the clearance and start-up are lost. Plain max-pressure ignores that
    # loss and, under heavy balanced demand, flips between minimum greens that spend a
    # third of the time in yellow and all-red (seen on Tân Phong's evening peak).
    lost = phase.clearance_s + _start_up_loss(request, best)
    horizon = request.horizon_s
    hold_value = pressures[current] * min(horizon, _clearing_time(request, current))
    switch_value = pressures[best] * min(max(horizon - lost, 0.0), _clearing_time(request, best))
    # The comparison holds young greens; it cuts one only for a rival with a fair share
    # of its pressure. Its clearing times see no further than the look-ahead, so a green
    # still fed by a steady stream looks nearly done (on SUMO's kuehne grid such cuts
    # cost 3.5 s of mean delay).
    if switch_value > hold_value and pressures[best] >= YOUNG_CUT_SHARE * pressures[current]:
        return decision(False, best, "pressure")
    return decision(True, current, "pressure")


def _groups(request: DecisionRequest, phase_index: int) -> list[GroupState]:
    """The phase's signal groups that the request observes."""
    return [request.groups[g] for g in request.phases[phase_index].group_ids
            if g in request.groups]


def _clearing_time(request: DecisionRequest, phase_index: int) -> float:
    """Seconds of green the phase can use: to serve what is queued and arriving, or
    until its exits are full, whichever comes first."""
    return max((min(g.demand_pcu, g.downstream_room_pcu) / max(g.saturation_pcu_per_s, 1e-6)
                for g in _groups(request, phase_index)), default=0.0)


def _start_up_loss(request: DecisionRequest, phase_index: int) -> float:
    """Seconds the phase's green loses to start-up: the slowest start among its groups
    with traffic (the HCM figure when none has any)."""
    return max((g.start_up_loss_s for g in _groups(request, phase_index) if g.demand_pcu > 0),
               default=START_UP_LOSS_S)


def _imminent(request: DecisionRequest, phase_index: int) -> float:
    """PCU standing or due within the gap on the phase's groups (inf if any is unknown)."""
    return sum(g.queue_pcu + g.imminent_pcu for g in _groups(request, phase_index))


def _queued(request: DecisionRequest, phase_index: int) -> float:
    return sum(g.queue_pcu for g in _groups(request, phase_index))


def _has_demand(request: DecisionRequest, phase_index: int) -> bool:
    return _demand(request, phase_index) >= GAP_OUT_PCU


def _demand(request: DecisionRequest, phase_index: int) -> float:
    return sum(g.demand_pcu for g in _groups(request, phase_index))


def _longest_red(request: DecisionRequest, phase_index: int) -> float:
    return max((g.red_s for g in _groups(request, phase_index) if g.demand_pcu > 0),
               default=0.0)


# Bounds on what a decision request may carry (beyond any real junction).
MAX_DECISION_INTERVAL_S = 60.0
MAX_PCU = 10_000.0
MAX_START_UP_LOSS_S = 30.0


def request_from_message(message) -> DecisionRequest:
    """Checks a ``PhaseDecisionRequest`` and converts it; raises ``RequestError`` naming
    the field and the rule it broke."""
    identifier(message.junction_id, "junction_id")
    sized(message.phases, "phases", "phase", MAX_PHASES)
    sized(message.groups, "groups", "signal group", MAX_SIGNAL_GROUPS, minimum=0)
    groups: dict[str, GroupState] = {}
    for i, g in enumerate(message.groups):
        path = f"groups[{i}]"
        identifier(g.signal_group_id, f"{path}.signal_group_id")
        if g.signal_group_id in groups:
            raise RequestError(f"{path}.signal_group_id",
                               f"duplicates signal group {g.signal_group_id!r}")
        values = {name: finite(getattr(g, name), f"{path}.{name}", maximum=MAX_PCU)
                  for name in ("queue_pcu", "arriving_pcu", "downstream_pcu")}
        room = g.downstream_room_pcu
        if math.isnan(room) or math.isinf(room) or room > MAX_PCU:
            raise RequestError(f"{path}.downstream_room_pcu",
                               f"must be a finite number up to {MAX_PCU:g} (0 or less: "
                               f"unknown), got {room}")
        room = 0.0 if g.downstream_full else room if room > 0 else math.inf
        red = finite(g.red_s, f"{path}.red_s", maximum=MAX_TIME_S * 24)
        rate = finite(g.saturation_pcu_per_s, f"{path}.saturation_pcu_per_s", maximum=20.0)
        lanes = finite(g.lanes, f"{path}.lanes", maximum=MAX_LANES)
        lanes = lanes or 1.0
        if rate == 0:
            rate = lanes * DEFAULT_SATURATION_PCU_PER_H_PER_LANE / 3600.0
        start_up = finite(g.start_up_loss_s, f"{path}.start_up_loss_s",
                          maximum=MAX_START_UP_LOSS_S)
        imminent = (finite(g.imminent_pcu, f"{path}.imminent_pcu", maximum=MAX_PCU)
                    if g.HasField("imminent_pcu") else math.inf)
        groups[g.signal_group_id] = GroupState(
            g.signal_group_id, values["queue_pcu"], values["arriving_pcu"],
            values["downstream_pcu"], room, red, rate, lanes, start_up or START_UP_LOSS_S,
            imminent)
    phases = []
    for i, ph in enumerate(message.phases):
        path = f"phases[{i}]"
        sized(ph.signal_group_ids, f"{path}.signal_group_ids", "signal group",
              MAX_SIGNAL_GROUPS)
        for gid in ph.signal_group_ids:
            identifier(gid, f"{path}.signal_group_ids")
        if len(set(ph.signal_group_ids)) < len(ph.signal_group_ids):
            raise RequestError(f"{path}.signal_group_ids", "must not name a group twice")
        min_green, max_green, yellow, all_red = phase_times(ph, path)
        for gid in ph.permissive_signal_group_ids:
            if gid not in ph.signal_group_ids:
                raise RequestError(f"{path}.permissive_signal_group_ids",
                                   f"group {gid!r} must also be in signal_group_ids")
        phases.append(PhaseBounds(tuple(ph.signal_group_ids), min_green, max_green,
                                  yellow, all_red, tuple(ph.permissive_signal_group_ids),
                                  phase_yields(ph, path)))
    served = {gid for phase in phases for gid in phase.group_ids}
    for i, gid in enumerate(groups):
        if gid not in served:
            # An observation no phase can act on is a caller's mistake (a misspelt id
            # would otherwise drop a queue from the decision unseen).
            raise RequestError(f"groups[{i}].signal_group_id",
                               f"group {gid!r} is in no phase of this request")
    if message.current_phase >= len(phases):
        raise RequestError("current_phase", f"must index phases (0 to {len(phases) - 1}), "
                                            f"got {message.current_phase}")
    elapsed = finite(message.green_elapsed_s, "green_elapsed_s", maximum=MAX_TIME_S * 24)
    interval = finite(message.interval_s, "interval_s", maximum=MAX_DECISION_INTERVAL_S)
    max_red = finite(message.max_red_s, "max_red_s", maximum=MAX_TIME_S)
    finite(message.timestamp_s, "timestamp_s", minimum=-math.inf)
    horizon = finite(message.horizon_s, "horizon_s", minimum=-math.inf, maximum=MAX_TIME_S)
    # 0 (unset) takes the default; a negative horizon asks for plain pressure.
    horizon = DEFAULT_HORIZON_S if horizon == 0 else max(horizon, 0.0)
    return DecisionRequest(tuple(phases), groups, message.current_phase, elapsed,
                           interval or DEFAULT_DECISION_INTERVAL_S, max_red or DEFAULT_MAX_RED_S,
                           horizon_s=horizon)


def reply_message(junction_id: str, request: DecisionRequest, decision: Decision):
    return pb.PhaseDecision(junction_id=junction_id, hold=decision.hold,
                            next_phase=decision.next_phase, binding=decision.binding,
                            pressures=list(decision.pressures),
                            reason=decision.explain(request))
