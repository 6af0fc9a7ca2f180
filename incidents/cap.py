"""OASIS CAP 1.2 rendering of bus messages, as XML or as the same tree in JSON.

Element names and their order follow CAP 1.2 (OASIS Standard, 1 July 2010), sections
3.2.1 to 3.2.4. Times in <sent>, <onset> and <expires> are whole seconds, as the CAP
DateTime rule requires; the detection time to the millisecond goes in a <parameter>.
"""

from __future__ import annotations

import datetime as dt
import json
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


def alert_tree(message: AlertMessage) -> Tree:
    """The CAP alert as an ordered tree of (element, value) pairs."""
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
    detected = dt.datetime.fromisoformat(event.time_utc)
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
