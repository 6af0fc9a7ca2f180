"""Phase-decision control: every few seconds, hold the current green or move on.

The controller keeps the safety machinery of ``JunctionController`` (conflict monitor,
minimum greens, clearances, safe exit) but gives up the cycle: after a green has served
its minimum, it asks its decider every ``interval_s`` whether to hold or which phase to
serve next, and phases follow in whatever order the answers give. The decider is the
optimizer over gRPC in the field (``controller.decider.GrpcDecider``) or the same rule run
in-process; when the optimizer does not answer in time the controller decides locally,
so a lost network costs nothing but the optimizer's wider view.

What the decider is told comes from the approach lanes as a tracking camera would see them
(``controller.approach_view``), and how long each group has been red. Every interval the
controller also posts what its green is releasing toward its neighbours and reads what
theirs are releasing toward it (``controller.platoons``).
"""

from __future__ import annotations

import logging
import math

from controller.approach_view import ApproachView
from controller.conflicts import yield_pairs
from controller.junction import DEFAULT_MAX_GAP_S, JunctionController
from controller.platoons import MAX_AGE_S, Forecast
from controller.plans import FixedPlanSource
from controller.timer import CyclePlan, PhaseTimer
from controller.topology import JunctionLayout
from optimizer.decision import (DEFAULT_DECISION_INTERVAL_S, DEFAULT_HORIZON_S,
                                DEFAULT_MAX_RED_S, GAP_OUT_PCU, Decision,
                                DecisionRequest, GroupState, PhaseBounds, decide)
from optimizer.mixed_traffic import MixedTraffic, mixed_traffic_option
from optimizer.traffic import PcuFactors

log = logging.getLogger("nhip.controller")

# Look-ahead: a moving vehicle counts when it would reach the stop line within this time.
# Ten seconds is about what a switch costs (clearance, start-up and a few seconds of
# discharge): traffic further out arrives after the decision has played out. Measured on
# the suite (three seeds), 10 s beat 6, 15, 20 s and the whole lane on 7 of 9 scenarios.
DEFAULT_LOOKAHEAD_S = 10.0
# Start-up loss by the class at the front of each queue, with motorcycles filtering
# (optimizer.mixed_traffic); None gives every group the HCM figure. On by default: on the
# suite (five seeds, local decisions) it left six scenarios within 0.03 s, moved Dầu Giây
# from 38.1 to 38.9 s and Tam Hiệp from 26.1 to 26.3 s (paired standard errors 1.4 and
# 1.1 s) and Vũng Tàu from 94.1 to 91.2 s (one seed of five); no scenario lost its lead
# over actuated and max-pressure control. It is a closer picture of motorcycle traffic,
# not a measured gain.
DEFAULT_MIXED_TRAFFIC: MixedTraffic | None = MixedTraffic()
# After a platoon board fails, it is left alone this long (as the optimizer is).
BOARD_RETRY_S = 5.0


class RealtimeController(JunctionController):
    def __init__(self, layout: JunctionLayout, decider=None,
                 interval_s: float = DEFAULT_DECISION_INTERVAL_S,
                 lookahead_s: float | None = DEFAULT_LOOKAHEAD_S,
                 max_red_s: float = DEFAULT_MAX_RED_S, factors: PcuFactors | None = None,
                 horizon_s: float = DEFAULT_HORIZON_S, saturation_model: str = "calibrated",
                 platoons=None, mixed_traffic: MixedTraffic | dict | None = DEFAULT_MIXED_TRAFFIC,
                 coordination=None, **kwargs) -> None:
        _check("interval_s", interval_s, "a positive number of seconds")
        _check("max_red_s", max_red_s, "a positive number of seconds")
        _check("horizon_s", horizon_s, "a number of seconds (0 or less: plain pressure)",
               positive=False)
        if lookahead_s is not None:
            _check("lookahead_s", lookahead_s, "a positive number of seconds, or None")
        self.view = ApproachView(layout, lookahead_s, factors, saturation_model,
                                 mixed_traffic_option(mixed_traffic))
        # Neighbours' forecasts are exchanged over the look-ahead (the default one when
        # the whole lane is watched).
        self._forecast_horizon_s = lookahead_s or DEFAULT_LOOKAHEAD_S
        ceiling = CyclePlan(tuple(p.max_green_s for p in layout.phases), 0, "realtime")
        kwargs.setdefault("max_gap_s", DEFAULT_MAX_GAP_S)
        super().__init__(layout, FixedPlanSource(ceiling), initial_plan=ceiling, **kwargs)
        self.decider = decider or decide
        if self.right_on_red is not None:
            self.view.free_on_red = self.right_on_red.free_on_red
        self.interval_s = interval_s
        self.max_red_s = max_red_s
        self.horizon_s = horizon_s
        # Where neighbours post the traffic they release (controller.platoons), or None.
        self.platoons = platoons
        # The chain's rhythm (controller.coordination.Coordinator), or None.
        self.coordination = coordination
        if coordination is not None:
            coordination.watch(layout.tls_id, self.detectors)
        self._last_groups: dict[str, GroupState] = {}
        # The chain window whose rest the arterial gave to the side streets, if any.
        self._released: tuple[object, int] | None = None
        self._next_publish_s = -math.inf
        self._board_retry_s = -math.inf
        self.platoon_failures = 0
        self.local_decisions = 0
        self.bindings: dict[str, int] = {}
        self._target: int | None = None
        self._next_decision_s = -math.inf
        self._green_phase = -1
        self._link_green_s: dict[int, float] = {}
        self._started_s = 0.0
        self._green_elapsed = 0.0
        self._group_links = {g.id: g.link_indices for g in layout.groups}
        self._index_phases(layout)
        # The layout a coordinator planned this junction's chain for.
        self._planned_layout = layout

    def _index_phases(self, layout: JunctionLayout) -> None:
        self._phase_links = [tuple(i for i, c in enumerate(p.green_state) if c in "Gg")
                             for p in layout.phases]
        # Who gives way to whom is known once the conflicts are (at start).
        self._bounds = tuple(
            PhaseBounds(p.group_ids, p.min_green_s, p.max_green_s, p.yellow_s, p.all_red_s,
                        p.permissive_group_ids,
                        yield_pairs(self.conflicts, layout, k) if self.conflicts else ())
            for k, p in enumerate(layout.phases))

    def _begin_pending(self, time_s: float) -> None:
        """Starts a timing an operator loaded (or the safe one again), with the phases'
        bounds and links it brings; a junction whose phases changed leaves its chain."""
        super()._begin_pending(time_s)
        self._index_phases(self.layout)
        self._green_phase = -1
        self._target = None
        if self.layout.phases != self._planned_layout.phases and self.coordination:
            log.warning("junction %s: its phases changed at %.0f s; it leaves its chain's "
                        "rhythm and decides alone", self.layout.tls_id, time_s)
            self.coordination = None

    def _make_timer(self, layout: JunctionLayout, plan: CyclePlan) -> PhaseTimer:
        return PhaseTimer(layout, plan, self._cycle_start, self._phase_wanted,
                          chooser=self._choose)

    def start(self, sumo, time_s: float) -> None:
        self._started_s = time_s
        super().start(sumo, time_s)
        self._index_phases(self.layout)
        if hasattr(self.decider, "register"):
            self.decider.register(self.layout)

    def on_step(self, time_s: float, sumo) -> None:
        super().on_step(time_s, sumo)
        if self.timer.stage == "green":
            for link in self._phase_links[self.timer.phase]:
                self._link_green_s[link] = time_s
        if self._board_usable(time_s) and time_s + 1e-9 >= self._next_publish_s:
            self._next_publish_s = time_s + self.interval_s
            try:
                self._publish_platoons(sumo, time_s)
            except Exception as error:  # noqa: BLE001 - forecasts are a help, not a need
                self._board_failed(time_s, f"not published ({error})")

    def _publish_platoons(self, sumo, now: float) -> None:
        """Posts per exit edge what the running green releases within the look-ahead;
        outside green nothing is released, and earlier forecasts are withdrawn."""
        green = (set(self.layout.phases[self.timer.phase].group_ids)
                 if self.timer.stage == "green" else set())
        # Valid until two publications have been missed.
        valid = max(MAX_AGE_S, 2 * self.interval_s + self.step_s)
        released = self.view.released(sumo, now, green, self._forecast_horizon_s)
        for edge, forecasts in released.items():
            self.platoons.publish(edge, forecasts, now, valid)

    def _incoming(self, now: float) -> dict[str, list[Forecast]]:
        """What neighbours announce for each approach edge, due within the look-ahead;
        nothing for an edge whose forecasts cannot be read, so decisions rest on the
        cameras there."""
        if not self._board_usable(now):
            return {}
        found = {}
        for edge in self.view.approach_edges:
            try:
                found[edge] = self.platoons.due(edge, now, self._forecast_horizon_s)
            except Exception as error:  # noqa: BLE001 - decide on what the camera sees
                self._board_failed(now, f"unreadable for {edge} ({error})")
                break
        return found

    def _board_usable(self, now: float) -> bool:
        return self.platoons is not None and now >= self._board_retry_s

    def _board_failed(self, now: float, what: str) -> None:
        """Leaves the board alone for a while, so a board that is down or slow costs a
        junction one try per ``BOARD_RETRY_S``, not one per step."""
        self.platoon_failures += 1
        self._board_retry_s = now + BOARD_RETRY_S
        if self.platoon_failures == 1 or self.platoon_failures % 100 == 0:
            log.warning("junction %s: platoon forecasts %s at %.1f s; deciding on own "
                        "detectors for %.0f s (%d failures so far)", self.layout.tls_id,
                        what, now, BOARD_RETRY_S, self.platoon_failures)

    def _last_green(self, link: int) -> float:
        return self._link_green_s.get(link, self._started_s)

    def _overdue(self, current: int) -> int | None:
        """The wanted phase whose links have waited longest, once past the guard (a link
        green in another phase, a permissive turn say, has not been waiting).

        Whatever the decider says, a wanted phase is served within the guard plus one
        round of the other phases' longest greens: with the guard at half the monitor's
        maximum red (itself twice the longest cycle), no link is ever held red past it.
        The guard is a backstop, not the maximum red: a phase counts as wanted when
        anything stands on a lane it serves, even traffic for a turn that is green now,
        and serving it at the decider's maximum red forced empty phases every two
        minutes on the Ingolstadt network. The decider's own maximum red, which counts
        only traffic for the waiting movements, acts well before."""
        now = self.last_time_s
        guard = self.monitor.rules.max_red_s / 2 if self.monitor else self.max_red_s
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
        decision = self._in_rhythm(self._ask(sumo, elapsed + self.step_s))
        if decision.hold or decision.next_phase == phase_index:
            if ending and self._may_rest(phase_index):
                # The maximum green is there to serve others; with nobody else waiting
                # the green rests rather than cycle through yellow to an empty phase.
                self.timer.remaining = self.interval_s + self.step_s
            return False
        self._green_ending(phase_index)
        self._target = decision.next_phase
        return True

    def _in_rhythm(self, decision: Decision) -> Decision:
        """The decision, kept to the chain's rhythm while the chain runs in step: the
        arterial phase holds through its window and any other phase gives way in time for
        it, while the arterial has traffic, unless a gap in it hands the rest of the window
        to a side queue; in the rest of the cycle a side phase with traffic is not cut to
        go back to the arterial early. Bounds still come first, and a
        phase with nothing to serve leaves its time to the others."""
        now = self.last_time_s + self.step_s
        window = (self.coordination.window(self.layout.tls_id, now) if self.coordination
                  else None)
        if window is None or decision.binding in ("min_green", "max_green", "max_red",
                                                  "priority", "no_reading"):
            return decision
        arterial, current = window.arterial_phase, self.timer.phase
        if self._phase_demand(arterial) < GAP_OUT_PCU:
            return decision
        phase = self.layout.phases[current]
        if current == arterial:
            if window.active(now) and not decision.hold:
                if decision.binding == "gap_out":
                    # A gap in the arterial's traffic with a side queue standing: the
                    # rest of this window is the side streets' (in light traffic, held
                    # windows cost SUMO's kuehne grid 15.3 s of mean delay, released
                    # ones 14.7 s, running free 14.2 s). An arterial with no traffic at
                    # all passes the test above instead, and takes its window back as
                    # soon as traffic arrives in it. Handing over the rest of the window
                    # there too, or only until an arterial queue of 3 PCU stands, did
                    # worse: 35.2 and 35.3 s on the 3x2 grid against 34.4 s, 14.8 s on
                    # kuehne (five seeds each, measured while choosing the rule).
                    self._released = (window, window.number(now))
                    return decision
                return self._overruled(Decision(True, current, "coordination",
                                                decision.pressures))
        elif window.active(now) and self._released == (window, window.number(now)):
            return decision
        elif (window.active(now) or window.until_next(now)
              <= phase.yellow_s + phase.all_red_s + self.interval_s):
            if decision.hold or decision.next_phase != arterial:
                return self._overruled(Decision(False, arterial, "coordination",
                                                decision.pressures))
        elif (not decision.hold and decision.next_phase == arterial
              and self._phase_demand(current) >= GAP_OUT_PCU):
            # No early return to the arterial while this phase has traffic; a move to
            # another side phase is the decider's (it would else wait for the maximum red).
            return self._overruled(Decision(True, current, "coordination", decision.pressures))
        return decision

    def _phase_demand(self, phase_index: int) -> float:
        """PCU queued and arriving for a phase at the last decision."""
        groups = self._last_groups
        return sum(groups[g].demand_pcu for g in self.layout.phases[phase_index].group_ids
                   if g in groups)

    def _green_ending(self, phase_index: int) -> None:
        """Tells the coordinator how much stands on the phase's lanes as its green ends: a
        queue left behind is how congestion shows."""
        if self.coordination is None:
            return
        groups = self._last_groups
        ids = [g for g in self.layout.phases[phase_index].group_ids if g in groups]
        lanes = sum(groups[g].lanes for g in ids)
        left = sum(groups[g].queue_pcu for g in ids) / max(lanes, 1.0)
        self.coordination.green_ended(self.layout.tls_id, self.last_time_s, left)

    def _overruled(self, decision: Decision) -> Decision:
        self.bindings["coordination"] = self.bindings.get("coordination", 0) + 1
        return decision

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
        self._last_groups = groups
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
        red_s = {}
        for gid, links in self._group_links.items():
            # A group's links share one signal, so any of them tells when it was green.
            last = max(self._last_green(link) for link in links)
            red_s[gid] = 0.0 if last >= now - self.step_s else now - last
        return self.view.measure(sumo, red_s, self._incoming(now))


def _check(name: str, value, rule: str, positive: bool = True) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or (positive and value <= 0)):
        raise ValueError(f"{name}: must be {rule}, got {value!r}")
