"""One intersection controller: detectors in, signal states out, a plan per cycle.

It is a simulation observer: ``on_step`` runs after every SUMO step, samples the
detectors, moves the phase timer on and shows the resulting state. At each cycle
boundary it reports the detector readings to its plan source and runs the plan it gets
back, or keeps the current one when none comes.

Within a cycle the plan's greens are ceilings, not quotas: once a green has served its
minimum and no vehicle is within ``max_gap_s`` of the stop line on any lane it gives
green to, it ends early (a gap-out, as in actuated control) and the next phase
starts sooner. The plan still bounds every green from above.
"""

from __future__ import annotations

import logging

from controller.detectors import JunctionDetectors
from controller.eventlog import EventCode, EventLog, fold_colour
from controller.plans import checked_plan
from controller.timer import CyclePlan, PhaseTimer, program_plan
from controller.topology import JunctionLayout

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


class JunctionController:
    def __init__(self, layout: JunctionLayout, source, event_log: EventLog | None = None,
                 step_s: float = 1.0, initial_plan: CyclePlan | None = None,
                 max_gap_s: float | None = DEFAULT_MAX_GAP_S) -> None:
        self.layout = layout
        self.source = source
        self.step_s = step_s
        self.detectors = JunctionDetectors(layout)
        self.event_log = event_log or EventLog(layout.tls_id, [g.id for g in layout.groups])
        self.fallback = program_plan(layout)
        plan = initial_plan or self.fallback
        checked_plan(layout, list(plan.greens_s), plan.version, plan.source)
        self.timer = PhaseTimer(layout, plan, self._cycle_start)
        self.plans: list[tuple[float, CyclePlan]] = [(0.0, plan)]
        self._last_report_s = 0.0
        self._shown = ""
        self._sumo = None
        self.max_gap_s = max_gap_s
        # Lanes that have green in each phase: the gap-out looks at these.
        self._gap_lanes = [_green_lanes(layout, phase) for phase in layout.phases]
        self.gap_outs = 0

    @property
    def link_groups(self) -> dict[int, str]:
        """SUMO link index to signal group id, for observers that judge violations."""
        return dict(self.layout.group_of_link)

    def start(self, sumo, time_s: float) -> None:
        self._sumo = sumo
        self.source.register(self.layout)
        self._last_report_s = time_s
        self._show(time_s)
        self.event_log.record(time_s, EventCode.PHASE_BEGIN_GREEN, 1)

    def on_step(self, time_s: float, sumo) -> None:
        self.detectors.sample(sumo, time_s)
        if self.max_gap_s is not None and self._gapped_out(sumo):
            self.timer.end_green()
            self.gap_outs += 1
            self.event_log.record(time_s, EventCode.PHASE_GAP_OUT, self.timer.phase + 1)
        for stage, phase in self.timer.advance(time_s, self.step_s):
            self.event_log.record(time_s, _STAGE_EVENTS[stage], phase + 1)
        self._show(time_s)

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

    def _show(self, time_s: float) -> None:
        state = self.timer.state()
        if state == self._shown:
            return
        self._sumo.trafficlight.setRedYellowGreenState(self.layout.tls_id, state)
        self._shown = state
        colours = {}
        for group in self.layout.groups:
            letters = [fold_colour(state[k]) for k in group.link_indices]
            colours[group.id] = "G" if "G" in letters else ("y" if "y" in letters else "r")
        self.event_log.record_signal_state(time_s, colours)

    def _cycle_start(self, time_s: float) -> CyclePlan:
        interval = max(time_s - self._last_report_s, self.step_s)
        readings = self.detectors.report()
        self._last_report_s = time_s
        plan = self.source.next_plan(self.layout, readings, interval, time_s)
        current = self.timer.plan
        if plan is None:
            return current
        if plan.greens_s != current.greens_s:
            self.event_log.record(time_s, EventCode.COORD_PATTERN_CHANGE, plan.version % 256)
        self.plans.append((time_s, plan))
        return plan


def _green_lanes(layout: JunctionLayout, phase) -> tuple[str, ...]:
    """Incoming lanes with any green in ``phase``, permissive turns included: a turner
    still waiting for a gap in the opposing stream keeps the green alive."""
    return tuple(dict.fromkeys(link.in_lane for link in layout.links
                               if phase.green_state[link.index] in "Gg"))
