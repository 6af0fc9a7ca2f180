"""Phase-decision control: every few seconds, hold the current green or move on.

The controller keeps the safety machinery of ``JunctionController`` (conflict monitor,
minimum greens, clearances, safe exit) but gives up the cycle: after a green has served
its minimum, it asks its decider every ``interval_s`` whether to hold or which phase to
serve next, and phases follow in whatever order the answers give. The decider is the
optimizer over gRPC in the field (``controller.decider.GrpcDecider``) or the same rule run
in-process; when the optimizer does not answer in time the controller decides locally,
so a lost network costs nothing but the optimizer's wider view.

What the decider is told comes from the approach lanes, as a tracking camera would see
them: per signal group, the passenger-car units standing (slower than 2 m/s) and those
moving that will reach the stop line within the look-ahead, the traffic and the room on
its exit lanes, and how long it has been red.
"""

from __future__ import annotations

import logging
import math

from controller.detectors import CLASS_OF_VCLASS
from controller.junction import DEFAULT_MAX_GAP_S, JunctionController
from controller.plans import FixedPlanSource
from controller.timer import CyclePlan, PhaseTimer
from controller.topology import JunctionLayout
from optimizer.decision import (DEFAULT_DECISION_INTERVAL_S, DEFAULT_HORIZON_S,
                                DEFAULT_MAX_RED_S, Decision,
                                DecisionRequest, GroupState, PhaseBounds, decide)
from optimizer.traffic import DEFAULT_SATURATION_PCU_PER_H_PER_LANE, PcuFactors

log = logging.getLogger("nhip.controller")

# Slower than this a vehicle counts as queued.
QUEUED_SPEED_M_S = 2.0
# Road taken per passenger-car unit in a standing queue (a car and its gap).
PCU_SPACE_M = 7.5
# Look-ahead: a moving vehicle counts when it would reach the stop line within this time.
# Ten seconds is about what a switch costs (clearance, start-up and a few seconds of
# discharge): traffic further out arrives after the decision has played out. Measured on
# the suite (three seeds), 10 s beat 6, 15, 20 s and the whole lane on 7 of 9 scenarios.
DEFAULT_LOOKAHEAD_S = 10.0


class RealtimeController(JunctionController):
    def __init__(self, layout: JunctionLayout, decider=None,
                 interval_s: float = DEFAULT_DECISION_INTERVAL_S,
                 lookahead_s: float | None = DEFAULT_LOOKAHEAD_S,
                 max_red_s: float = DEFAULT_MAX_RED_S, factors: PcuFactors | None = None,
                 horizon_s: float = DEFAULT_HORIZON_S, **kwargs) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s: must be positive, got {interval_s}")
        ceiling = CyclePlan(tuple(p.max_green_s for p in layout.phases), 0, "realtime")
        kwargs.setdefault("max_gap_s", DEFAULT_MAX_GAP_S)
        super().__init__(layout, FixedPlanSource(ceiling), initial_plan=ceiling, **kwargs)
        self.decider = decider or decide
        self.interval_s = interval_s
        self.lookahead_s = lookahead_s
        self.max_red_s = max_red_s
        self.horizon_s = horizon_s
        self.factors = factors or PcuFactors()
        self.local_decisions = 0
        self.bindings: dict[str, int] = {}
        self._target: int | None = None
        self._next_decision_s = -math.inf
        self._green_phase = -1
        self._link_green_s: dict[int, float] = {}
        self._phase_links = [tuple(i for i, c in enumerate(p.green_state) if c in "Gg")
                             for p in layout.phases]
        self._started_s = 0.0
        self._green_elapsed = 0.0
        self._group_links = {g.id: g.link_indices for g in layout.groups}
        self._pcu_of: dict[str, float] = {}
        self._group_of: dict[tuple[str, str], str | None] = {}
        self._lane_length: dict[str, float] = {}
        self._bounds = tuple(
            PhaseBounds(p.group_ids, p.min_green_s, p.max_green_s, p.yellow_s, p.all_red_s,
                        p.permissive_group_ids) for p in layout.phases)
        self._out_lanes = {g.id: tuple(dict.fromkeys(
            link.out_lane for link in layout.links
            if layout.group_of_link.get(link.index) == g.id)) for g in layout.groups}
        rate = DEFAULT_SATURATION_PCU_PER_H_PER_LANE / 3600.0
        self._lanes = {g.id: max(g.lanes, 0.5) for g in layout.groups}
        self._saturation = {gid: lanes * rate for gid, lanes in self._lanes.items()}

    def _make_timer(self, layout: JunctionLayout, plan: CyclePlan) -> PhaseTimer:
        return PhaseTimer(layout, plan, self._cycle_start, self._phase_wanted,
                          chooser=self._choose)

    def start(self, sumo, time_s: float) -> None:
        self._started_s = time_s
        super().start(sumo, time_s)
        if hasattr(self.decider, "register"):
            self.decider.register(self.layout)

    def on_step(self, time_s: float, sumo) -> None:
        super().on_step(time_s, sumo)
        if self.timer.stage == "green":
            for link in self._phase_links[self.timer.phase]:
                self._link_green_s[link] = time_s

    def _last_green(self, link: int) -> float:
        return self._link_green_s.get(link, self._started_s)

    def _overdue(self, current: int) -> int | None:
        """The wanted phase whose links have waited longest, once past the guard (a link
        green in another phase, a permissive turn say, has not been waiting).

        Whatever the decider says, a wanted phase is served within the guard plus one
        round of the other phases' longest greens: with the guard at most half the
        monitor's maximum red (itself twice the longest cycle), no link is ever held
        red past it. The decider's own maximum red normally acts well before."""
        now = self.last_time_s
        guard = min(self.max_red_s, self.monitor.rules.max_red_s / 2) if self.monitor else \
            self.max_red_s
        waiting = [(now - min(self._last_green(link) for link in self._phase_links[k]), k)
                   for k in range(len(self.layout.phases))
                   if k != current and self._phase_wanted(k) and self._phase_links[k]]
        due = [(age, k) for age, k in waiting if age >= guard]
        return max(due)[1] if due else None

    def _gapped_out(self, sumo) -> bool:
        elapsed = self.timer.green_elapsed_s()
        if elapsed is None:
            return False
        phase_index = self.timer.phase
        if phase_index != self._green_phase or elapsed < self._green_elapsed:
            # A new green (possibly the same phase again after a restart).
            self._green_phase = phase_index
            self._target = None
            wait = self.layout.phases[phase_index].min_green_s - elapsed - self.step_s
            self._next_decision_s = self.last_time_s + max(wait, 0.0)
        self._green_elapsed = elapsed
        # The minimum green is the controller's to keep, whatever a decider says.
        if elapsed + self.step_s < self.layout.phases[phase_index].min_green_s - 1e-9:
            return False
        ending = self.timer.remaining <= self.step_s + 1e-9
        overdue = self._overdue(phase_index)
        if overdue is not None:
            self._target = overdue
            return True
        if self.last_time_s + 1e-9 < self._next_decision_s and not ending:
            return False
        self._next_decision_s = self.last_time_s + self.interval_s
        decision = self._ask(sumo, elapsed + self.step_s)
        if decision.hold or decision.next_phase == phase_index:
            if ending and self._may_rest(phase_index):
                # The maximum green is there to serve others; with nobody else waiting
                # the green rests rather than cycle through yellow to an empty phase.
                self.timer.remaining = self.interval_s + self.step_s
            return False
        self._target = decision.next_phase
        return True

    def _may_rest(self, phase_index: int) -> bool:
        """Whether the green may run past its planned end: not against an operator's
        force-off or omit, and only while no other phase is wanted (traffic waiting, or
        an operator's call)."""
        commands = self.commands
        if phase_index in commands.force_off or phase_index in commands.omit:
            return False
        return not any(self._phase_wanted(k) for k in range(len(self.layout.phases))
                       if k != phase_index)

    def _choose(self, current: int) -> int:
        """The phase after ``current`` once its green ends: the decided one, or when the
        maximum green ended it, the decider's pick at that moment."""
        overdue = self._overdue(current)
        if overdue is not None:
            self._target = None
            return overdue
        if self._target is not None and self._target != current:
            target, self._target = self._target, None
            return target
        if self._sumo is None:
            return (current + 1) % len(self.layout.phases)
        longest = self.layout.phases[current].max_green_s
        decision = self._ask(self._sumo, max(longest, self.timer.green_elapsed_s() or 0.0))
        return decision.next_phase

    def _ask(self, sumo, elapsed_s: float) -> Decision:
        current = self.timer.phase
        try:
            groups = self._measure(sumo)
        except Exception as error:  # noqa: BLE001 - a failed read costs the decision only
            log.warning("junction %s: lane reads failed at %.1f s (%s); holding the green "
                        "until the next decision", self.layout.tls_id, self.last_time_s, error)
            following = (current + 1) % len(self.layout.phases)
            return Decision(True, following, "no_reading")
        request = DecisionRequest(self._bounds, groups, current, elapsed_s, self.interval_s,
                                  self.max_red_s, horizon_s=self.horizon_s)
        try:
            decision = self.decider(request)
            if not 0 <= decision.next_phase < len(self.layout.phases):
                raise ValueError(f"decision names phase {decision.next_phase + 1} of "
                                 f"{len(self.layout.phases)}")
        except Exception as error:  # noqa: BLE001 - the junction decides for itself
            self.local_decisions += 1
            if self.local_decisions == 1 or self.local_decisions % 100 == 0:
                log.warning("junction %s: no usable decision from the optimizer (%s); "
                            "deciding locally (%d so far)", self.layout.tls_id, error,
                            self.local_decisions)
            decision = decide(request)
        self.bindings[decision.binding] = self.bindings.get(decision.binding, 0) + 1
        return decision

    def _measure(self, sumo) -> dict[str, GroupState]:
        now = self.last_time_s
        queue = dict.fromkeys(self._saturation, 0.0)
        arriving = dict.fromkeys(self._saturation, 0.0)
        for lane in self.layout.in_lanes:
            length = self._length(sumo, lane)
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                gid = self._group(sumo, vid, lane)
                if gid not in queue:
                    continue  # leaves here, or takes a turn that no phase serves
                speed = sumo.vehicle.getSpeed(vid)
                if speed < QUEUED_SPEED_M_S:
                    queue[gid] += self._pcu(sumo, vid)
                    continue
                distance = length - sumo.vehicle.getLanePosition(vid)
                if self.lookahead_s is None or distance <= speed * self.lookahead_s:
                    arriving[gid] += self._pcu(sumo, vid)
        groups = {}
        exits: dict[str, tuple[float, float]] = {}
        for gid, rate in self._saturation.items():
            on_exit = room = 0.0
            for lane in self._out_lanes[gid]:
                standing, on_lane = self._exit_load(sumo, lane, exits)
                on_exit += standing
                room += max(self._length(sumo, lane) / PCU_SPACE_M - on_lane, 0.0)
            # A group's links share one signal, so any of them tells when it was green.
            last = max(self._last_green(link) for link in self._group_links[gid])
            red_s = 0.0 if last >= now - self.step_s else now - last
            groups[gid] = GroupState(gid, queue[gid], arriving[gid], on_exit,
                                     room if self._out_lanes[gid] else math.inf, red_s, rate,
                                     self._lanes[gid])
        if len(self._pcu_of) > 20_000:  # vehicles long gone; keep the caches small
            self._pcu_of.clear()
            self._group_of.clear()
        return groups

    def _exit_load(self, sumo, lane: str, seen: dict) -> tuple[float, float]:
        """The load on an exit lane that holds discharge back, and the PCU on it in all.

        Traffic standing on the exit blocks the movement outright. Traffic still moving
        blocks it in proportion to how full the lane is: on an empty exit it drives
        away, on a filling one (the approach to a busy next junction) it is the queue
        of the next few seconds. Counting all of it, as plain max-pressure does, holds
        back movements whose exit is merely busy; counting none misses a spill-back
        in the making (both measured worse on the suite)."""
        if lane not in seen:
            standing = total = 0.0
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                pcu = self._pcu(sumo, vid)
                total += pcu
                if sumo.vehicle.getSpeed(vid) < QUEUED_SPEED_M_S:
                    standing += pcu
            fill = min(total * PCU_SPACE_M / self._length(sumo, lane), 1.0)
            seen[lane] = (standing + (total - standing) * fill, total)
        return seen[lane]

    def _length(self, sumo, lane: str) -> float:
        if lane not in self._lane_length:
            self._lane_length[lane] = sumo.lane.getLength(lane)
        return self._lane_length[lane]

    def _pcu(self, sumo, vid: str) -> float:
        pcu = self._pcu_of.get(vid)
        if pcu is None:
            cls = CLASS_OF_VCLASS.get(sumo.vehicle.getVehicleClass(vid), "car")
            pcu = self._pcu_of[vid] = getattr(self.factors, cls)
        return pcu

    def _group(self, sumo, vid: str, lane: str) -> str | None:
        """The group of the turn a vehicle will make, as a tracking camera sees it.
        (Attributing by the vehicle's lane and turn instead measured worse on the
        Ingolstadt network, two seeds.)"""
        key = (vid, lane)
        if key not in self._group_of:
            route = sumo.vehicle.getRoute(vid)
            index = sumo.vehicle.getRouteIndex(vid)
            out_edge = route[index + 1] if 0 <= index < len(route) - 1 else None
            in_edge = lane.rsplit("_", 1)[0]
            self._group_of[key] = self.layout.group_of_turn.get((in_edge, out_edge))
        return self._group_of[key]
