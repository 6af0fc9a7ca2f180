"""The controller's outside interface in the terms of NTCIP 1202 (actuated signal controller).

An external optimiser or an operator drives a cabinet controller through the phase
control groups (Hold, ForceOff, PhaseOmit, VehCall) and reads the phase status groups
(reds, yellows, greens) and detector status. ``SignalController`` is that interface;
``SumoSignalController`` implements it on our SUMO junction controller, and a driver for
a real cabinet (SNMP to the 1202 objects) would implement the same methods. Phases are
numbered from 1 as in NTCIP; bit ``n - 1`` of a group stands for phase ``n``.

Every command only bends timing inside the controller's own bounds: a hold never keeps
a green past its maximum, a force-off never cuts it below its minimum, and every state
still passes the conflict monitor.
An omitted phase is skipped from the next time the sequence reaches it (with the
clearance the pair of phases on either side needs); one already green when the omit
arrives ends as soon as its minimum is served. A call makes the sequence serve its phase
and keeps it from gapping out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from controller.eventlog import EventCode


class CommandError(ValueError):
    """A command naming a phase the junction does not have, or otherwise refused."""


@dataclass
class PhaseCommands:
    """The control groups as sets of 0-based phase indices."""

    hold: set[int] = field(default_factory=set)
    force_off: set[int] = field(default_factory=set)
    omit: set[int] = field(default_factory=set)
    call: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class PhaseStatus:
    """phaseStatusGroup Reds/Yellows/Greens, one bit per phase."""

    reds: int
    yellows: int
    greens: int


class SignalController(Protocol):
    def phase_count(self) -> int: ...
    def set_hold(self, bits: int) -> None: ...
    def set_force_off(self, bits: int) -> None: ...
    def set_omit(self, bits: int) -> None: ...
    def set_call(self, bits: int) -> None: ...
    def phase_status(self) -> PhaseStatus: ...
    def detector_status(self) -> int: ...


class SumoSignalController:
    """NTCIP-style control of a ``JunctionController`` running under SUMO."""

    def __init__(self, controller) -> None:
        self.controller = controller

    def phase_count(self) -> int:
        return len(self.controller.layout.phases)

    def _phases(self, bits: int, what: str) -> set[int]:
        count = self.phase_count()
        if bits < 0 or bits >> count:
            raise CommandError(f"{what}: bits {bits:#x} name phases beyond 1..{count}")
        return {i for i in range(count) if bits >> i & 1}

    def set_hold(self, bits: int) -> None:
        self._set("hold", self._phases(bits, "hold"), EventCode.PHASE_HOLD_ACTIVE,
                  EventCode.PHASE_HOLD_RELEASED)

    def set_force_off(self, bits: int) -> None:
        self.controller.commands.force_off = self._phases(bits, "force_off")

    def set_omit(self, bits: int) -> None:
        phases = self._phases(bits, "omit")
        if len(phases) == self.phase_count():
            raise CommandError("omit: every phase omitted; at least one must be served")
        self._set("omit", phases, EventCode.PHASE_OMIT_ON, EventCode.PHASE_OMIT_OFF)

    def set_call(self, bits: int) -> None:
        self._set("call", self._phases(bits, "call"), EventCode.PHASE_CALL_REGISTERED,
                  EventCode.PHASE_CALL_DROPPED)

    def _set(self, name: str, phases: set[int], on: EventCode, off: EventCode) -> None:
        commands = self.controller.commands
        before = getattr(commands, name)
        time_s = self.controller.last_time_s
        for phase in sorted(phases - before):
            self.controller.event_log.record(time_s, on, phase + 1)
        for phase in sorted(before - phases):
            self.controller.event_log.record(time_s, off, phase + 1)
        setattr(commands, name, set(phases))

    def phase_status(self) -> PhaseStatus:
        timer = self.controller.timer
        bit = 1 << timer.phase
        everything = (1 << self.phase_count()) - 1
        if self.controller.in_fallback_exit:
            return PhaseStatus(reds=everything, yellows=0, greens=0)
        if timer.stage == "green":
            return PhaseStatus(everything & ~bit, 0, bit)
        if timer.stage == "yellow":
            return PhaseStatus(everything & ~bit, bit, 0)
        return PhaseStatus(everything, 0, 0)

    def detector_status(self) -> int:
        """vehicleDetectorStatusGroupActive: bit ``n - 1`` for detector channel ``n``."""
        bits = 0
        for channel, occupied in self.controller.presence_state.items():
            if occupied:
                bits |= 1 << (channel - 1)
        return bits
