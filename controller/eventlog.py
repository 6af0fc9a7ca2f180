"""High-resolution controller event log, enumerated like the ATSPM (Indiana) event codes.

Every phase and signal-group change and every detector on/off edge is kept with its
UTC time to the millisecond. The log answers "what did signal group X show at instant
t", which red-light enforcement and audits rely on, and it can be written as CSV in the
column order ATSPM tools read (timestamp, event code, parameter).

Codes follow the Indiana Traffic Signal Hi Resolution Data Logger Enumerations
(Sturdevant et al., Purdue/INDOT, 2012). Signal groups are logged with the overlap codes
(61-65) and their 1-based position in the junction's group list as parameter.
Detectors (81/82) are numbered by the 1-based position of their lane in the junction's
incoming-lane list. The hold/call/omit (41-47) and alarm (174) codes were taken from
the same enumeration from memory and should be checked against it before an ATSPM
server reads these logs.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Iterable


class EventCode(IntEnum):
    PHASE_ON = 0
    PHASE_BEGIN_GREEN = 1
    PHASE_MIN_COMPLETE = 3
    PHASE_GAP_OUT = 4
    PHASE_MAX_OUT = 5
    PHASE_FORCE_OFF = 6
    PHASE_GREEN_TERMINATION = 7
    PHASE_BEGIN_YELLOW = 8
    PHASE_END_YELLOW = 9
    PHASE_BEGIN_RED_CLEARANCE = 10
    PHASE_END_RED_CLEARANCE = 11
    PHASE_INACTIVE = 12
    # Operator and external-controller inputs (NTCIP hold, call, omit).
    PHASE_HOLD_ACTIVE = 41
    PHASE_HOLD_RELEASED = 42
    PHASE_CALL_REGISTERED = 43
    PHASE_CALL_DROPPED = 44
    PHASE_OMIT_ON = 46
    PHASE_OMIT_OFF = 47
    GROUP_BEGIN_GREEN = 61
    GROUP_BEGIN_YELLOW = 63
    GROUP_BEGIN_RED = 64
    DETECTOR_OFF = 81
    DETECTOR_ON = 82
    COORD_PATTERN_CHANGE = 131
    CYCLE_LENGTH_CHANGE = 132
    OFFSET_CHANGE = 133
    FLASH_STATUS_CHANGE = 173
    # Raised by the conflict monitor; the parameter is the rule (see ALARM_RULES).
    UNIT_ALARM_STATUS_1_CHANGE = 174


# Parameters of UNIT_ALARM_STATUS_1_CHANGE: which monitor rule refused a state.
ALARM_RULES = {"conflict": 1, "min_green": 2, "no_yellow": 3, "short_yellow": 4,
               "bad_sequence": 5, "clearance": 6, "max_red": 7, "malformed": 8,
               "unsafe_timing": 9}


# Colour letters as SUMO writes them, folded to the three a driver sees.
_GROUP_CODES = {
    "G": EventCode.GROUP_BEGIN_GREEN,
    "y": EventCode.GROUP_BEGIN_YELLOW,
    "r": EventCode.GROUP_BEGIN_RED,
}


@dataclass(frozen=True, slots=True)
class Event:
    time_s: float
    code: EventCode
    param: int


class EventLog:
    """The event log of one junction.

    ``time_s`` is the controller's clock in seconds (simulation time under SUMO);
    ``start_utc`` is the UTC instant at which that clock read zero.
    """

    def __init__(
        self,
        junction_id: str,
        group_ids: Iterable[str],
        start_utc: dt.datetime | None = None,
        path: Path | None = None,
        sink=None,
    ) -> None:
        self.junction_id = junction_id
        self.group_ids = list(group_ids)
        self._group_index = {gid: i + 1 for i, gid in enumerate(self.group_ids)}
        self.start_utc = start_utc or dt.datetime.now(dt.timezone.utc)
        if self.start_utc.tzinfo is None:
            raise ValueError("start_utc must carry a time zone (UTC)")
        self._events: list[Event] = []
        # Per group: parallel lists of change times and colours, for bisection.
        self._changes: dict[str, tuple[list[float], list[str]]] = {
            gid: ([], []) for gid in self.group_ids
        }
        self._file = path.open("a", newline="", encoding="utf-8") if path else None
        self._writer = csv.writer(self._file) if self._file else None
        # Anything with ``write(utc, code, param)``, e.g. a DailyCsvSink that keeps the
        # log on disk per day for audits.
        self._sink = sink

    def utc(self, time_s: float) -> dt.datetime:
        """The UTC instant of a controller time, rounded to the millisecond."""
        instant = self.start_utc + dt.timedelta(seconds=time_s)
        return instant.replace(microsecond=(instant.microsecond // 1000) * 1000)

    def record(self, time_s: float, code: EventCode, param: int) -> None:
        if self._events and time_s < self._events[-1].time_s:
            raise ValueError(
                f"event time {time_s} s is earlier than the last logged event "
                f"({self._events[-1].time_s} s); the log only moves forward"
            )
        event = Event(time_s, EventCode(code), param)
        self._events.append(event)
        if self._writer is not None:
            stamp = self.utc(time_s).isoformat(timespec="milliseconds")
            self._writer.writerow([stamp, int(code), param])
        if self._sink is not None:
            self._sink.write(self.utc(time_s), int(code), param)

    def record_signal_state(self, time_s: float, colours: dict[str, str]) -> None:
        """Logs each signal group whose colour differs from the last one logged."""
        for gid, colour in colours.items():
            folded = fold_colour(colour)
            times, seen = self._changes[gid]
            if seen and seen[-1] == folded:
                continue
            times.append(time_s)
            seen.append(folded)
            self.record(time_s, _GROUP_CODES[folded], self._group_index[gid])

    def colour_at(self, group_id: str, time_s: float) -> str | None:
        """'G', 'y' or 'r' shown by a group at ``time_s``; None before its first record."""
        if group_id not in self._changes:
            raise KeyError(f"junction {self.junction_id} has no signal group {group_id!r}")
        times, seen = self._changes[group_id]
        position = bisect.bisect_right(times, time_s) - 1
        return seen[position] if position >= 0 else None

    def events(self, begin: float = float("-inf"), end: float = float("inf")) -> list[Event]:
        return [e for e in self._events if begin <= e.time_s <= end]

    def write_csv(self, path: Path) -> None:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp_utc", "event_code", "parameter"])
            for event in self._events:
                stamp = self.utc(event.time_s).isoformat(timespec="milliseconds")
                writer.writerow([stamp, int(event.code), event.param])

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()
        if self._file is not None:
            self._file.close()
            self._file = None
            self._writer = None


def fold_colour(letter: str) -> str:
    """Folds SUMO's link-state letters to green, yellow or red as a driver sees them.

    'G' and 'g' (protected and permissive green) and 's' (green after a stop, right on
    red) mean "may go"; 'y' and 'u' (red-yellow) are yellow; 'r', 'o' and 'O' are red.
    """
    if letter in "Ggs":
        return "G"
    if letter in "yu":
        return "y"
    return "r"
