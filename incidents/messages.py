"""Messages on the bus: an alert for a new event, and updates or cancels that follow it.

Every message has its own ``message_id``; it is the CAP identifier and the idempotency
key receivers deduplicate on. Updates and cancels name the alert they follow in
``references`` (CAP's "sender,identifier,sent" triple).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from incidents.model import IncidentEvent

MSG_TYPES = ("Alert", "Update", "Cancel")


@dataclass(slots=True)
class AlertMessage:
    msg_type: str
    event: IncidentEvent
    sender: str
    sent: str  # CAP DateTime: seconds, numeric UTC offset, no "Z"
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    references: list[str] = field(default_factory=list)
    note: str = ""
    detected_unix: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.msg_type not in MSG_TYPES:
            msg = f"msg_type {self.msg_type!r} must be one of {', '.join(MSG_TYPES)}"
            raise ValueError(msg)
        if self.msg_type != "Alert" and not self.references:
            msg = f"a {self.msg_type} message must reference the alert it follows"
            raise ValueError(msg)

    @property
    def identifier(self) -> str:
        return f"nhip-{self.message_id}"

    def reference_to_self(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"

    def to_fields(self) -> dict[str, str]:
        """The stream entry: one JSON field, so the bus never reshapes the content, and
        the event id beside it, so a dispatcher can tell which event an entry is about
        without parsing it (to keep each event's messages in order)."""
        body = {"msg_type": self.msg_type, "event": self.event.to_dict(),
                "sender": self.sender, "sent": self.sent, "message_id": self.message_id,
                "references": self.references, "note": self.note,
                "detected_unix": self.detected_unix}
        return {"data": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                "event_id": self.event.event_id}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> AlertMessage:
        if "data" not in fields:
            msg = "stream entry has no 'data' field; it was not written by the incident path"
            raise ValueError(msg)
        body: dict[str, Any] = json.loads(fields["data"])
        body["event"] = IncidentEvent.from_dict(body["event"])
        return cls(**body)


def cap_datetime(instant: dt.datetime | None = None) -> str:
    """CAP 1.2 DateTime: whole seconds and a numeric offset ("Z" is not allowed)."""
    instant = instant or dt.datetime.now(dt.UTC)
    return instant.astimezone(dt.UTC).replace(microsecond=0).isoformat()


def new_alert(event: IncidentEvent, sender: str) -> AlertMessage:
    return AlertMessage("Alert", event, sender, cap_datetime())


def update_of(original: AlertMessage, event: IncidentEvent, note: str = "") -> AlertMessage:
    """A follow-up that replaces the content of ``original`` (e.g. severity raised)."""
    event.event_id = original.event.event_id
    return AlertMessage("Update", event, original.sender, cap_datetime(),
                        references=[original.reference_to_self()], note=note)


def cancel_of(original: AlertMessage, note: str) -> AlertMessage:
    """Withdraws ``original`` (e.g. the stopped vehicle drove off: no crash after all)."""
    return AlertMessage("Cancel", original.event, original.sender, cap_datetime(),
                        references=[original.reference_to_self()], note=note)
