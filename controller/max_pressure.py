"""Max-pressure control (Varaiya 2013), a baseline that needs no plan and no demand model.

Every ``decision_s`` seconds after the current green has served its minimum, the phase
whose served links carry the most pressure (vehicles on the incoming lane minus vehicles on
the outgoing lane, summed over the phase's green links) takes over, through the usual
yellow and all-red. A green never runs past its maximum, so no movement is starved.
"""

from __future__ import annotations

from controller.eventlog import EventCode, EventLog
from controller.right_on_red import RightOnRed
from controller.timer import transition_states
from controller.topology import JunctionLayout, group_colours

DEFAULT_DECISION_S = 5.0


class MaxPressureController:
    def __init__(self, layout: JunctionLayout, step_s: float = 1.0,
                 decision_s: float = DEFAULT_DECISION_S,
                 right_on_red: RightOnRed | None = None) -> None:
        self.layout = layout
        self.right_on_red = right_on_red  # signed right turns on red, laid over each state
        self.step_s = step_s
        self.decision_s = decision_s
        self.event_log = EventLog(layout.tls_id, [g.id for g in layout.groups])
        self.phase = 0
        self.target = 0
        self.stage = "green"
        self.elapsed = 0.0
        self.remaining = 0.0
        self._links = green_link_lanes(layout)
        self._shown = ""
        self.switches = 0

    def start(self, sumo, time_s: float) -> None:
        self._show(sumo, time_s)

    def on_step(self, time_s: float, sumo) -> None:
        self.elapsed += self.step_s
        phase = self.layout.phases[self.phase]
        if self.stage == "green":
            decide = (self.elapsed >= phase.min_green_s
                      and self.elapsed % self.decision_s < self.step_s)
            if self.elapsed >= phase.max_green_s or decide:
                best = self._best_phase(sumo)
                if best == self.phase and self.elapsed >= phase.max_green_s:
                    best = (self.phase + 1) % len(self.layout.phases)
                if best != self.phase:
                    self.target = best
                    self.stage, self.remaining = "yellow", phase.yellow_s
                    self.switches += 1
                    self.event_log.record(time_s, EventCode.PHASE_BEGIN_YELLOW, self.phase + 1)
        else:
            self.remaining -= self.step_s
            if self.remaining <= 1e-9:
                if self.stage == "yellow" and phase.all_red_s > 0:
                    self.stage, self.remaining = "all_red", phase.all_red_s
                else:
                    self.phase, self.stage, self.elapsed = self.target, "green", 0.0
                    self.event_log.record(time_s, EventCode.PHASE_BEGIN_GREEN, self.phase + 1)
        self._show(sumo, time_s)

    def _best_phase(self, sumo) -> int:
        pressures = phase_pressures(sumo, self._links)
        return max(range(len(pressures)), key=lambda k: (pressures[k], k == self.phase))

    def _state(self) -> str:
        current = self.layout.phases[self.phase].green_state
        if self.stage == "green":
            return current
        yellow, all_red = transition_states(current, self.layout.phases[self.target].green_state)
        return yellow if self.stage == "yellow" else all_red

    def _show(self, sumo, time_s: float) -> None:
        state = self._state()
        if self.right_on_red is not None:
            state = self.right_on_red.compose(state, sumo)
        if state == self._shown:
            return
        sumo.trafficlight.setRedYellowGreenState(self.layout.tls_id, state)
        self._shown = state
        if self.right_on_red is not None:
            state = self.right_on_red.heads(state)
        self.event_log.record_signal_state(time_s, group_colours(self.layout, state))


def green_link_lanes(layout: JunctionLayout) -> list[list[tuple[str, str]]]:
    """Per phase, the (incoming lane, outgoing lane) of every link it gives green to."""
    return [[(link.in_lane, link.out_lane) for link in layout.links
             if phase.green_state[link.index] in "Gg"]
            for phase in layout.phases]


def phase_pressures(sumo, links: list[list[tuple[str, str]]]) -> list[int]:
    """Each phase's pressure: vehicles on its links' incoming lanes minus outgoing lanes,
    each lane read once."""
    counts: dict[str, int] = {}

    def vehicles(lane: str) -> int:
        if lane not in counts:
            counts[lane] = sumo.lane.getLastStepVehicleNumber(lane)
        return counts[lane]

    return [sum(vehicles(i) - vehicles(o) for i, o in pairs) for pairs in links]
