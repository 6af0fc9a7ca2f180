"""One intersection controller: detectors in, signal states out, a plan per cycle.

It is a simulation observer: ``on_step`` runs after every SUMO step, samples the
detectors, moves the phase timer on and shows the resulting state. At each cycle
boundary it reports the detector readings to its plan source and runs the plan it gets
back, or keeps the current one when none comes.

Within a cycle the plan's greens are ceilings, not quotas: once a green has served its
minimum and no vehicle is within ``max_gap_s`` of the stop line on any lane it gives
green to, it ends early (a gap-out, as in actuated control) and the next phase
starts sooner. The plan still bounds every green from above.

Every state passes the conflict monitor before it reaches ``setRedYellowGreenState``.
A refused state is never shown: the controller logs the refusal, clears the junction
from the last safe state and restarts on its verified layout and fixed plan, or flashes
yellow when so configured or after repeated refusals. New phase definitions (an
operator's timing, say) are checked by a dry run of whole cycles before they are taken.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from controller import conflicts as conflict_rules
from controller.conflicts import ConflictMatrix
from controller.detectors import JunctionDetectors
from controller.eventlog import ALARM_RULES, EventCode, EventLog
from controller.failsafe import SafeExit
from controller.monitor import ConflictMonitor, MonitorRules, Violation
from controller.ntcip import PhaseCommands
from controller.plans import PlanRejected, checked_plan
from controller.presence import StopBarPresence
from controller.right_on_red import RightOnRed
from controller.timer import CyclePlan, PhaseTimer, program_plan
from controller.topology import JunctionLayout, PhaseLayout, group_colours

log = logging.getLogger("nhip.controller")

# A green ends when no vehicle would reach the stop line within this time (SUMO's and
# many field controllers' default passage gap)...
DEFAULT_MAX_GAP_S = 3.0
# ...or stands within this distance of it (a queue at rest still needs its green).
GAP_MIN_DISTANCE_M = 15.0

_STAGE_EVENTS = {
    "green": EventCode.PHASE_BEGIN_GREEN,
    "yellow": EventCode.PHASE_BEGIN_YELLOW,
    "all_red": EventCode.PHASE_BEGIN_RED_CLEARANCE,
}
FALLBACKS = ("program", "flash")
# Refusals within this window count towards latching flash.
TRIP_WINDOW_S = 3600.0


class JunctionController:
    def __init__(self, layout: JunctionLayout, source, event_log: EventLog | None = None,
                 step_s: float = 1.0, initial_plan: CyclePlan | None = None,
                 max_gap_s: float | None = DEFAULT_MAX_GAP_S,
                 conflicts: ConflictMatrix | None = None, rules: MonitorRules | None = None,
                 fallback: str = "program", max_trips: int = 3,
                 right_on_red: RightOnRed | None = None) -> None:
        if fallback not in FALLBACKS:
            raise ValueError(f"fallback: must be one of {FALLBACKS}, got {fallback!r}")
        self.layout = layout
        self.source = source
        self.step_s = step_s
        self.detectors = JunctionDetectors(layout)
        self.event_log = event_log or EventLog(layout.tls_id, [g.id for g in layout.groups])
        self.fallback = program_plan(layout)
        plan = initial_plan or self.fallback
        checked_plan(layout, list(plan.greens_s), plan.version, plan.source)
        self.commands = PhaseCommands()
        self.max_gap_s = max_gap_s
        # Skipping uncalled phases is an actuated feature: fixed-time plans skip only
        # what an NTCIP omit asks them to.
        self.timer = self._make_timer(layout, plan)
        self.plans: list[tuple[float, CyclePlan]] = [(0.0, plan)]
        self._last_report_s = 0.0
        self._shown = ""
        self._sumo = None
        # Lanes that have green in each phase: the gap-out looks at these.
        self._gap_lanes = [_green_lanes(layout, phase) for phase in layout.phases]
        self._call_lanes = [_green_lanes(layout, phase, "G") for phase in layout.phases]
        self.gap_outs = 0
        self.conflicts = conflicts
        self._rules = rules
        self.monitor: ConflictMonitor | None = None
        self.fallback_mode = fallback
        self.max_trips = max_trips
        self.safe_layout = layout
        self.trips: list[tuple[float, list[Violation]]] = []
        self.refused_timings = 0
        self._exit: SafeExit | None = None
        self._pending: tuple[JunctionLayout, CyclePlan] | None = None
        self._stalls_reported: set[int] = set()
        self.presence = StopBarPresence(layout)
        self.detector_fault = False
        self.output_faults = 0
        self.last_time_s = 0.0
        # Signed right turns on red, laid over every state before the monitor sees it.
        self.right_on_red = right_on_red

    @property
    def link_groups(self) -> dict[int, str]:
        """SUMO link index to signal group id, for observers that judge violations."""
        return dict(self.layout.group_of_link)

    @property
    def in_fallback_exit(self) -> bool:
        return self._exit is not None

    @property
    def flashing(self) -> bool:
        return self._exit is not None and self._exit.then == "flash"

    @property
    def presence_state(self) -> dict[int, bool]:
        return dict(self.presence.state)

    def start(self, sumo, time_s: float) -> None:
        self._sumo = sumo
        self.last_time_s = time_s
        if self.conflicts is None:
            self.conflicts = _derive_conflicts(sumo, self.layout)
        rules = self._rules or MonitorRules.from_layout(self.layout, self.conflicts)
        if self.right_on_red is not None:
            rules = replace(rules, right_on_red=rules.right_on_red | self.right_on_red.signed)
        self.monitor = ConflictMonitor(self.conflicts, rules)
        # A cabinet starts from all-red held for the clearance time.
        self.monitor.seed_red(time_s - _longest_clearance(rules))
        unsafe = verify_timing(self.layout, self.timer.plan, self.conflicts, rules,
                               self.step_s)
        if unsafe:
            # The junction's own layout fails its monitor: nothing to fall back on.
            log.critical("junction %s: its own phases fail the conflict monitor (%s); "
                         "flashing yellow until the layout is corrected",
                         self.layout.tls_id, unsafe[0])
            self.trips.append((time_s, unsafe))
            self._exit = SafeExit(self.monitor, time_s, self.step_s, "flash")
            self.event_log.record(time_s, EventCode.FLASH_STATUS_CHANGE, 1)
        self.source.register(self.layout)
        self._last_report_s = time_s
        self._show(time_s, self._exit.state(time_s) if self._exit else self.timer.state())
        if self._exit is None:
            self.event_log.record(time_s, EventCode.PHASE_BEGIN_GREEN, 1)

    def on_step(self, time_s: float, sumo) -> None:
        self.last_time_s = time_s
        self._sample(sumo, time_s)
        if self._exit is not None:
            state = self._exit.state(time_s)
            if self._exit.finished(time_s):
                self._begin_pending(time_s)
                state = self.timer.state()
        else:
            self._apply_commands(time_s)
            if (self.max_gap_s is not None and not self.detector_fault
                    and self.timer.phase not in self.commands.call
                    and self.timer.phase not in self.commands.hold and self._gapped_out(sumo)):
                self.timer.end_green(self.step_s)
                self.gap_outs += 1
                self.event_log.record(time_s, EventCode.PHASE_GAP_OUT, self.timer.phase + 1)
            for stage, phase in self.timer.advance(time_s, self.step_s):
                self.event_log.record(time_s, _STAGE_EVENTS[stage], phase + 1)
            state = self.timer.state()
        self._show(time_s, state)

    def _sample(self, sumo, time_s: float) -> None:
        """Detector reads; a failing read costs the gap-out, never the signal."""
        try:
            self.detectors.sample(sumo, time_s)
            edges = self.presence.sample(sumo)
        except Exception as error:  # noqa: BLE001 - any simulator or driver fault
            if not self.detector_fault:
                log.warning("junction %s: detector read failed at %.1f s (%s); greens run "
                            "to their planned length until detectors answer",
                            self.layout.tls_id, time_s, error)
            self.detector_fault = True
            return
        if self.detector_fault:
            log.info("junction %s: detectors answer again at %.1f s", self.layout.tls_id, time_s)
            self.detector_fault = False
        for channel, occupied in edges:
            code = EventCode.DETECTOR_ON if occupied else EventCode.DETECTOR_OFF
            self.event_log.record(time_s, code, channel)

    def _apply_commands(self, time_s: float) -> None:
        """NTCIP hold, force-off and soft omit, always inside the phase's bounds."""
        timer, commands = self.timer, self.commands
        elapsed = timer.green_elapsed_s()
        if elapsed is None:
            return
        phase = self.layout.phases[timer.phase]
        served_min = elapsed + self.step_s >= phase.min_green_s
        if timer.phase in commands.hold:
            if timer.remaining <= self.step_s and elapsed + self.step_s < phase.max_green_s:
                timer.remaining = self.step_s * 2  # one more step of green
            return
        if served_min and (timer.phase in commands.force_off or timer.phase in commands.omit):
            if timer.remaining > self.step_s:
                timer.end_green(self.step_s)
                self.event_log.record(time_s, EventCode.PHASE_FORCE_OFF, timer.phase + 1)

    def load_timing(self, phases: tuple[PhaseLayout, ...], plan: CyclePlan,
                    origin: str) -> bool:
        """Takes new phase definitions and greens after a dry run; refuses unsafe ones.

        On acceptance the junction is cleared through yellow and all-red and the new
        timing starts from its first phase. A refusal leaves the running timing alone.
        """
        time_s = self.last_time_s
        candidate = replace(self.layout, phases=tuple(phases))
        try:
            checked_plan(candidate, list(plan.greens_s), plan.version, origin)
            problems = verify_timing(candidate, plan, self.conflicts, self.monitor.rules,
                                     self.step_s)
        except (PlanRejected, ValueError, IndexError) as error:
            problems = [Violation("malformed", (), str(error))]
        if problems:
            self.refused_timings += 1
            log.error("junction %s: refused timing from %s: %s (and %d more problems); "
                      "the running timing stays", self.layout.tls_id, origin, problems[0],
                      len(problems) - 1)
            self.event_log.record(time_s, EventCode.UNIT_ALARM_STATUS_1_CHANGE,
                                  ALARM_RULES["unsafe_timing"])
            return False
        log.info("junction %s: timing from %s passed the monitor's dry run; clearing the "
                 "junction to start it", self.layout.tls_id, origin)
        self.safe_layout = candidate
        self._pending = (candidate, plan)
        if self._exit is None or self._exit.then != "flash":
            # Its first state is shown at the coming step, so it is timed from there.
            self._exit = SafeExit(self.monitor, time_s + self.step_s, self.step_s, "restart")
        return True

    def reset_flash(self) -> None:
        """An operator's reset after a latched flash: restart on the safe layout."""
        if self.flashing:
            self._exit = SafeExit(self.monitor, self.last_time_s + self.step_s, self.step_s,
                                  "restart")
            self._pending = (self.safe_layout, program_plan(self.safe_layout))
            self.trips.clear()
            self.event_log.record(self.last_time_s, EventCode.FLASH_STATUS_CHANGE, 0)

    def _begin_pending(self, time_s: float) -> None:
        layout, plan = self._pending or (self.safe_layout, program_plan(self.safe_layout))
        self.layout = layout
        self._gap_lanes = [_green_lanes(layout, phase) for phase in layout.phases]
        self._call_lanes = [_green_lanes(layout, phase, "G") for phase in layout.phases]
        self.timer = self._make_timer(layout, plan)
        self.plans.append((time_s, plan))
        self._exit = None
        self._pending = None
        self.event_log.record(time_s, EventCode.PHASE_BEGIN_GREEN, 1)

    def _make_timer(self, layout: JunctionLayout, plan: CyclePlan) -> PhaseTimer:
        return PhaseTimer(layout, plan, self._cycle_start, self._phase_wanted)

    def _waiting_links(self) -> set[int]:
        """Links some wanted phase would serve: the ones a long red keeps waiting."""
        waiting: set[int] = set()
        for i, phase in enumerate(self.layout.phases):
            if self._phase_wanted(i):
                waiting.update(k for k, c in enumerate(phase.green_state) if c in "Gg")
        return waiting

    def _phase_wanted(self, phase_index: int) -> bool:
        """Whether the sequence should serve a phase: NTCIP omit and call first, then
        (actuated control only) detected demand."""
        if phase_index in self.commands.omit:
            return False
        if phase_index in self.commands.call or self.max_gap_s is None:
            return True
        return self._has_demand(phase_index)

    def _has_demand(self, phase_index: int) -> bool:
        """A vehicle waits or approaches on a lane that this phase gives protected green."""
        lanes = self._call_lanes[phase_index]
        return not lanes or any(self.detectors.vehicles_on(lane) for lane in lanes)

    def _gapped_out(self, sumo) -> bool:
        elapsed = self.timer.green_elapsed_s()
        phase = self.layout.phases[self.timer.phase]
        # The step about to be taken would complete the minimum.
        if elapsed is None or elapsed + self.step_s < phase.min_green_s:
            return False
        for lane in self._gap_lanes[self.timer.phase]:
            length = sumo.lane.getLength(lane)
            for vid in sumo.lane.getLastStepVehicleIDs(lane):
                distance = length - sumo.vehicle.getLanePosition(vid)
                if distance <= max(GAP_MIN_DISTANCE_M, sumo.vehicle.getSpeed(vid) * self.max_gap_s):
                    return False
        return True

    def _show(self, time_s: float, state: str) -> None:
        if self.right_on_red is not None and self._exit is None:
            state = self.right_on_red.compose(state, self._sumo)
        state = self._monitored(time_s, state)
        if state != self._shown:
            try:
                self._sumo.trafficlight.setRedYellowGreenState(self.layout.tls_id, state)
            except Exception as error:  # noqa: BLE001 - the heads keep the last state
                self.output_faults += 1
                log.error("junction %s: could not set state %s at %.1f s (%s); the heads "
                          "keep the last one and the next step retries",
                          self.layout.tls_id, state, time_s, error)
                self.monitor.commit(time_s, self._shown, self._waiting_links())
                return
        self.monitor.commit(time_s, state, self._waiting_links())
        if state == self._shown:
            return
        self._shown = state
        if self.right_on_red is not None:
            state = self.right_on_red.heads(state)
        self.event_log.record_signal_state(time_s, group_colours(self.layout, state))

    def _monitored(self, time_s: float, state: str) -> str:
        """The state to show: ``state`` if the monitor passes it, else the safe exit's."""
        found = self.monitor.check(time_s, state)
        blocking = [v for v in found if v.rule != "max_red"]
        # A link may rest red while nobody waits for it (its phases skipped for want of
        # demand); only a link with a waiting vehicle counts as stalled.
        stalled = [v for v in found if v.rule == "max_red"
                   and v.links[0] not in self._stalls_reported]
        if not blocking and not stalled:
            if not found:
                self._stalls_reported.clear()
            return state
        self._stalls_reported.update(v.links[0] for v in stalled)
        if blocking or self._exit is None:
            self._trip(time_s, blocking or stalled)
        fallback = self._exit.state(time_s)
        again = [v for v in self.monitor.check(time_s, fallback) if v.rule != "max_red"]
        if again:
            # Cannot happen while the exit starts from a state the monitor passed; if it
            # does, holding the last passed state is the least unsafe choice.
            log.critical("junction %s: safe exit refused too (%s); holding the last "
                         "passed state", self.layout.tls_id, again[0])
            return self.monitor.shown
        return fallback

    def _trip(self, time_s: float, violations: list[Violation]) -> None:
        self.trips = [(t, v) for t, v in self.trips if time_s - t <= TRIP_WINDOW_S]
        self.trips.append((time_s, violations))
        latch = self.fallback_mode == "flash" or len(self.trips) >= self.max_trips
        then = "flash" if latch else "restart"
        log.error("junction %s: conflict monitor refused a state at %.1f s: %s%s; "
                  "clearing the junction, then %s", self.layout.tls_id, time_s,
                  violations[0], f" (+{len(violations) - 1} more)" if len(violations) > 1
                  else "", "flashing yellow" if latch else "the fixed plan")
        self.event_log.record(time_s, EventCode.UNIT_ALARM_STATUS_1_CHANGE,
                              ALARM_RULES.get(violations[0].rule, 0))
        if latch and not self.flashing:
            self.event_log.record(time_s, EventCode.FLASH_STATUS_CHANGE, 1)
        self._exit = SafeExit(self.monitor, time_s, self.step_s, then)
        self._pending = (self.safe_layout, program_plan(self.safe_layout))

    def _cycle_start(self, time_s: float) -> CyclePlan:
        interval = max(time_s - self._last_report_s, self.step_s)
        readings = self.detectors.report()
        self._last_report_s = time_s
        current = self.timer.plan
        try:
            plan = self.source.next_plan(self.layout, readings, interval, time_s)
            if plan is not None:
                plan = checked_plan(self.layout, list(plan.greens_s), plan.version,
                                    plan.source)
        except Exception as error:  # noqa: BLE001 - no plan source may stop the junction
            log.error("junction %s: plan source failed at %.1f s (%s); keeping the "
                      "current plan", self.layout.tls_id, time_s, error)
            return current
        if plan is None:
            return current
        if plan.greens_s != current.greens_s:
            self.event_log.record(time_s, EventCode.COORD_PATTERN_CHANGE, plan.version % 256)
        self.plans.append((time_s, plan))
        return plan


def _green_lanes(layout: JunctionLayout, phase, letters: str = "Gg") -> tuple[str, ...]:
    """Incoming lanes with a green in ``phase`` (by default permissive turns included: a
    turner still waiting for a gap in the opposing stream keeps the green alive)."""
    return tuple(dict.fromkeys(link.in_lane for link in layout.links
                               if phase.green_state[link.index] in letters))


def verify_timing(layout: JunctionLayout, plan: CyclePlan, matrix: ConflictMatrix,
                  rules: MonitorRules, step_s: float, cycles: int = 2) -> list[Violation]:
    """Dry run: every state of ``cycles`` cycles of ``plan``, from an all-red start,
    through a fresh monitor. Returns the blocking violations (empty: safe)."""
    monitor = ConflictMonitor(matrix, rules)
    monitor.seed_red(-_longest_clearance(rules))
    timer = PhaseTimer(layout, plan, lambda _t: plan)
    time_s, found = 0.0, []
    horizon = cycles * plan.cycle_s(layout)
    while time_s <= horizon + step_s and len(found) < 20:
        state = timer.state()
        problems = [v for v in monitor.check(time_s, state) if v.rule != "max_red"]
        found.extend(problems)
        monitor.commit(time_s, state)
        time_s += step_s
        timer.advance(time_s, step_s)
    return found


def _derive_conflicts(sumo, layout: JunctionLayout) -> ConflictMatrix:
    """From the running network's file when SUMO can say which it is, else the program."""
    try:
        net_file = sumo.simulation.getOption("net-file")
    except Exception:  # noqa: BLE001 - older SUMO, or a driver without options
        net_file = ""
    if net_file:
        try:
            return conflict_rules.from_net(net_file, layout)
        except Exception as error:  # noqa: BLE001
            log.warning("junction %s: could not read conflicts from %s (%s); using the "
                        "program's own pairs", layout.tls_id, net_file, error)
    return conflict_rules.from_program(layout)


def _longest_clearance(rules: MonitorRules) -> float:
    return max([rules.min_all_red_s, *rules.pedestrian_clearance_s.values()])
