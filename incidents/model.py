"""The data that flows through the incident path: observations in, events out.

``TrackObservation`` is what every source (SUMO, camera tracks) produces; detectors only
ever see this type. ``IncidentEvent`` is what goes on the bus and, reshaped as CAP, to
the receivers. Both serialise to plain JSON-friendly dicts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    STOPPED_VEHICLE = "stopped_vehicle"
    WRONG_WAY = "wrong_way"
    RED_LIGHT = "red_light"
    SPEEDING = "speeding"
    SPILLBACK = "spillback"


class Category(StrEnum):
    VIOLATION = "violation"
    INCIDENT = "incident"


class Severity(StrEnum):
    """The CAP 1.2 severity values."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


# What each event type is and how bad it is by default. A stopped vehicle in a live lane
# is treated as a possible crash, so it is the one type that may involve injury.
EVENT_PROFILE: dict[EventType, tuple[Category, Severity, bool]] = {
    EventType.STOPPED_VEHICLE: (Category.INCIDENT, Severity.SEVERE, True),
    EventType.WRONG_WAY: (Category.VIOLATION, Severity.SEVERE, False),
    EventType.RED_LIGHT: (Category.VIOLATION, Severity.MODERATE, False),
    EventType.SPEEDING: (Category.VIOLATION, Severity.MODERATE, False),
    EventType.SPILLBACK: (Category.INCIDENT, Severity.MINOR, False),
}

VEHICLE_CLASSES = ("motorcycle", "passenger", "bus", "truck", "bicycle", "emergency", "other")


@dataclass(frozen=True, slots=True)
class TrackObservation:
    """One sighting of one tracked vehicle, whatever the source.

    Positions are metres in the site's local frame (SUMO network coordinates, or road
    coordinates after a camera's homography). ``stop_line_distance_m`` is how far the
    vehicle still is from its approach's stop line along the direction of travel
    (negative once past it), or None when the vehicle is on no monitored approach.
    """

    track_id: str
    vehicle_class: str
    time_s: float
    x_m: float
    y_m: float
    speed_mps: float
    approach_id: str | None = None
    lane_id: str | None = None
    signal_group_id: str | None = None
    stop_line_distance_m: float | None = None
    device_id: str = "unknown"

    def __post_init__(self) -> None:
        if self.vehicle_class not in VEHICLE_CLASSES:
            msg = (f"vehicle_class {self.vehicle_class!r} of track {self.track_id!r} is not "
                   f"one of {', '.join(VEHICLE_CLASSES)}")
            raise ValueError(msg)
        if self.speed_mps < 0:
            msg = f"speed_mps of track {self.track_id!r} is {self.speed_mps}; it must be >= 0"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class EvidenceRef:
    """A pointer to evidence held in the evidence store, never the bytes themselves."""

    sha256: str
    sha1: str  # CAP 1.2 <digest> is SHA-1; SHA-256 is what the store is keyed on
    media_type: str
    size_bytes: int
    description: str
    uri: str


@dataclass(slots=True)
class IncidentEvent:
    """One detected incident or violation, ready for the bus."""

    event_type: EventType
    junction_id: str
    approach_id: str | None
    time_utc: str  # ISO 8601, UTC, millisecond precision
    latitude: float
    longitude: float
    vehicle_class: str
    track_id: str
    device_id: str
    signal_state: dict[str, str | None]
    phase: int | None
    severity: Severity
    category: Category
    possible_injury: bool
    details: dict[str, Any] = field(default_factory=dict)
    evidence: list[EvidenceRef] = field(default_factory=list)
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["event_type"] = str(self.event_type)
        data["severity"] = str(self.severity)
        data["category"] = str(self.category)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncidentEvent:
        fields = dict(data)
        fields["event_type"] = EventType(fields["event_type"])
        fields["severity"] = Severity(fields["severity"])
        fields["category"] = Category(fields["category"])
        fields["evidence"] = [EvidenceRef(**ref) for ref in fields.get("evidence", [])]
        return cls(**fields)


def utc_millis(instant: dt.datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-12-04T15:49:51.123+00:00."""
    if instant.tzinfo is None:
        msg = "a naive datetime has no zone; event times must be UTC"
        raise ValueError(msg)
    return instant.astimezone(dt.UTC).isoformat(timespec="milliseconds")
