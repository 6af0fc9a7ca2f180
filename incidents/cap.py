"""OASIS CAP 1.2 rendering of bus messages, as XML or as the same tree in JSON.

Element names and their order follow CAP 1.2 (OASIS Standard, 1 July 2010), sections
3.2.1 to 3.2.4. Times in <sent>, <onset> and <expires> are whole seconds, as the CAP
DateTime rule requires; the detection time to the millisecond goes in a <parameter>.

Content is checked before it is rendered, so nothing that is not valid CAP 1.2 goes
out: ``Unrenderable`` (a ValueError, "<field>: <rule>") for a message id that cannot be
an Idempotency-Key, a ``sent`` that is not a CAP DateTime, a detection time without a
zone (naive times are refused, not guessed to be UTC: a local clock would be off by
hours), a latitude outside [-90, 90] or longitude outside [-180, 180] or not finite, and
text that is not valid Unicode (a lone surrogate). Characters that XML 1.0 cannot carry
(C0 controls other than tab, newline and carriage return; U+FFFE, U+FFFF) are replaced
with U+FFFD in XML and JSON alike, so both formats carry the same text.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from typing import Any
from xml.sax.saxutils import escape

from incidents.messages import AlertMessage
from incidents.model import Category, EventType, IncidentEvent

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
ALERT_LIFETIME = dt.timedelta(hours=2)
AREA_RADIUS_KM = 0.2

_EVENT_NAMES = {
    EventType.STOPPED_VEHICLE: "Stopped vehicle in a live lane (possible crash)",
    EventType.WRONG_WAY: "Wrong-way driving",
    EventType.RED_LIGHT: "Red-light running",
    EventType.SPEEDING: "Speeding",
    EventType.SPILLBACK: "Queue spillback blocking an upstream junction",
}
_URGENCY = {
    EventType.STOPPED_VEHICLE: "Immediate",
    EventType.WRONG_WAY: "Immediate",
    EventType.SPILLBACK: "Expected",
    EventType.RED_LIGHT: "Past",
    EventType.SPEEDING: "Past",
}

Tree = list[tuple[str, Any]]  # ordered (element name, text or subtree)

# The message id travels as the Idempotency-Key header and inside <identifier>.
_MESSAGE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CAP_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
_SURROGATE = re.compile("[\ud800-\udfff]")
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class Unrenderable(ValueError):
    """The message cannot become valid CAP 1.2; the text names the field and the rule."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field


def check(message: AlertMessage) -> None:
    """Raises ``Unrenderable`` unless the message can be rendered as valid CAP 1.2."""
    if not isinstance(message.message_id, str) or not _MESSAGE_ID.fullmatch(
            message.message_id):
        raise Unrenderable("message_id", "1 to 128 letters, digits, '.', '_' or '-'")
    if not isinstance(message.sent, str) or not _CAP_DATETIME.fullmatch(message.sent):
        raise Unrenderable("sent", "CAP DateTime with a numeric offset, whole seconds")
    event = message.event
    detected_at(event)
    for name, low, high in (("latitude", -90, 90), ("longitude", -180, 180)):
        value = getattr(event, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise Unrenderable(name, "must be a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise Unrenderable(name, f"must be finite and from {low} to {high}")
    for name in ("details", "signal_state"):
        if not isinstance(getattr(event, name), dict):
            raise Unrenderable(name, "must be a mapping")
    _check_text("message", {"event": event, "sender": message.sender,
                            "note": message.note, "references": message.references})


def detected_at(event: IncidentEvent) -> dt.datetime:
    """The detection time; it must be ISO 8601 with a zone."""
    try:
        instant = dt.datetime.fromisoformat(event.time_utc)
    except (TypeError, ValueError):
        raise Unrenderable("time_utc", "must be an ISO 8601 date and time") from None
    if instant.tzinfo is None:
        raise Unrenderable("time_utc", "must carry a UTC offset")
    return instant


def _check_text(path: str, value: Any) -> None:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise Unrenderable(path.removeprefix("message.event."),
                               "is not valid Unicode (lone surrogate)")
    elif dataclasses.is_dataclass(value):
        for item in dataclasses.fields(value):
            _check_text(f"{path}.{item.name}", getattr(value, item.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(f"{path}.{key}", key)
            _check_text(f"{path}.{key}", item)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_text(f"{path}[{index}]", item)


def _xml_text(value: str) -> str:
    return _XML_INVALID.sub("\ufffd", value)


def _clean(tree: Tree) -> Tree:
    return [(name, _clean(value) if isinstance(value, list) else _xml_text(value))
            for name, value in tree]


def alert_tree(message: AlertMessage) -> Tree:
    """The CAP alert as an ordered tree of (element, value) pairs, checked and cleaned."""
    check(message)
    return _clean(_alert_tree(message))


def _alert_tree(message: AlertMessage) -> Tree:
    event = message.event
    tree: Tree = [
        ("identifier", message.identifier),
        ("sender", message.sender),
        ("sent", message.sent),
        ("status", "Actual"),
        ("msgType", message.msg_type),
        ("source", event.device_id),
        ("scope", "Restricted"),
        ("restriction", "Police command centre and emergency medical services only"),
    ]
    if message.note:
        tree.append(("note", message.note))
    if message.references:
        tree.append(("references", " ".join(message.references)))
    tree.append(("incidents", f"nhip-event-{event.event_id}"))
    tree.append(("info", _info_tree(message)))
    return tree


def _info_tree(message: AlertMessage) -> Tree:
    event = message.event
    detected = detected_at(event)
    onset = detected.replace(microsecond=0).isoformat()
    expires = (detected.replace(microsecond=0) + ALERT_LIFETIME).isoformat()
    info: Tree = [("language", "vi-VN")]
    info.extend(("category", c) for c in _categories(event))
    info += [
        ("event", _EVENT_NAMES[event.event_type]),
    ]
    if event.possible_injury:
        info.append(("responseType", "Assess"))
    info += [
        ("urgency", _URGENCY[event.event_type]),
        ("severity", str(event.severity)),
        ("certainty", "Possible" if event.event_type == EventType.STOPPED_VEHICLE
         else "Observed"),
        ("eventCode", [("valueName", "nhip:eventType"), ("value", str(event.event_type))]),
        ("onset", onset),
        ("expires", expires),
        ("senderName", "Nhịp traffic signal service, Đồng Nai"),
        ("headline", f"{_EVENT_NAMES[event.event_type]} at junction {event.junction_id}"),
        ("description", _description(event)),
    ]
    for name, value in _parameters(event):
        info.append(("parameter", [("valueName", name), ("value", value)]))
    for ref in event.evidence:
        info.append(("resource", [
            ("resourceDesc", ref.description),
            ("mimeType", ref.media_type),
            ("size", str(ref.size_bytes)),
            ("uri", ref.uri),
            ("digest", ref.sha1),
        ]))
    info.append(("area", [
        ("areaDesc", f"Junction {event.junction_id}"
                     + (f", approach {event.approach_id}" if event.approach_id else "")),
        ("circle", f"{event.latitude:.7f},{event.longitude:.7f} {AREA_RADIUS_KM}"),
    ]))
    return info


def _categories(event: IncidentEvent) -> list[str]:
    if event.category == Category.VIOLATION:
        return ["Security", "Transport"]
    if event.possible_injury:
        return ["Transport", "Rescue", "Health"]
    return ["Transport"]


def _description(event: IncidentEvent) -> str:
    facts = ", ".join(f"{k}={v}" for k, v in sorted(event.details.items()))
    signal = ", ".join(f"{g}:{c}" for g, c in sorted(event.signal_state.items()))
    return (f"{_EVENT_NAMES[event.event_type]} detected at {event.time_utc} by "
            f"{event.device_id}; vehicle class {event.vehicle_class}; signal state "
            f"[{signal}]; {facts}.")


def _parameters(event: IncidentEvent) -> list[tuple[str, str]]:
    params = [
        ("eventId", event.event_id),
        ("detectedAtUTC", event.time_utc),
        ("junctionId", event.junction_id),
        ("approachId", event.approach_id or ""),
        ("vehicleClass", event.vehicle_class),
        ("trackId", event.track_id),
        ("deviceId", event.device_id),
        ("signalPhase", "" if event.phase is None else str(event.phase)),
        ("signalState", json.dumps(event.signal_state, sort_keys=True)),
        ("possibleInjury", "true" if event.possible_injury else "false"),
    ]
    params.extend((f"detail:{k}", str(v)) for k, v in sorted(event.details.items()))
    return params


def to_xml(message: AlertMessage) -> bytes:
    """CAP 1.2 XML, UTF-8, with the CAP namespace as default namespace.

    Written as text rather than through ElementTree: it is the dispatcher's hottest
    step and this is several times faster. Element names are fixed above; only text
    is escaped.
    """
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<alert xmlns="{CAP_NAMESPACE}">']
    _write(parts, alert_tree(message))
    parts.append("</alert>")
    return "".join(parts).encode("utf-8")


def _write(parts: list[str], tree: Tree) -> None:
    for name, value in tree:
        parts.append(f"<{name}>")
        if isinstance(value, list):
            _write(parts, value)
        else:
            parts.append(escape(value))
        parts.append(f"</{name}>")


def to_json(message: AlertMessage) -> bytes:
    """The same tree as JSON; repeated elements become lists, order is kept."""
    return json.dumps({"alert": _as_json(alert_tree(message))}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def _as_json(tree: Tree) -> dict[str, Any]:
    result: dict[str, Any] = {}
    repeated = {"category", "parameter", "resource", "area", "responseType", "eventCode",
                "info"}
    for name, value in tree:
        rendered = _as_json(value) if isinstance(value, list) else value
        if name in repeated:
            result.setdefault(name, []).append(rendered)
        else:
            result[name] = rendered
    return result
