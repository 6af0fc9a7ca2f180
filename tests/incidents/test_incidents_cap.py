"""CAP 1.2 structure of the alerts: namespace, elements, order, required fields."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
from incident_helpers import make_event

from incidents import cap
from incidents.messages import cancel_of, new_alert, update_of
from incidents.model import EventType, EvidenceRef, Severity

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
# Element order from CAP 1.2 sections 3.2.1-3.2.4 (all elements that may appear).
ALERT_ORDER = ["identifier", "sender", "sent", "status", "msgType", "source", "scope",
               "restriction", "addresses", "code", "note", "references", "incidents", "info"]
INFO_ORDER = ["language", "category", "event", "responseType", "urgency", "severity",
              "certainty", "audience", "eventCode", "effective", "onset", "expires",
              "senderName", "headline", "description", "instruction", "web", "contact",
              "parameter", "resource", "area"]
RESOURCE_ORDER = ["resourceDesc", "mimeType", "size", "uri", "derefUri", "digest"]
AREA_ORDER = ["areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling"]
CAP_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
CATEGORIES = {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env",
              "Transport", "Infra", "CBRNE", "Other"}


def names(element: ET.Element) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


def assert_ordered(found: list[str], order: list[str]) -> None:
    positions = [order.index(name) for name in found]  # ValueError: unknown element
    assert positions == sorted(positions), found


def parse(message) -> ET.Element:
    return ET.fromstring(cap.to_xml(message))


def with_evidence(event_type: EventType = EventType.STOPPED_VEHICLE):
    event = make_event(1, event_type)
    event.evidence = [EvidenceRef("a" * 64, "b" * 40, "image/jpeg", 2048, "key frame",
                                  "nhip-evidence://sha256/" + "a" * 64)]
    return new_alert(event, "nhip-test.dongnai")


def test_alert_is_in_the_cap_namespace_with_elements_in_order() -> None:
    """Every element is CAP 1.2 and appears in the order the standard sets."""
    root = parse(with_evidence())

    assert root.tag == f"{NS}alert"
    assert_ordered(names(root), ALERT_ORDER)
    info = root.find(f"{NS}info")
    assert info is not None
    assert_ordered(names(info), INFO_ORDER)
    assert_ordered(names(info.find(f"{NS}resource")), RESOURCE_ORDER)
    assert_ordered(names(info.find(f"{NS}area")), AREA_ORDER)
    assert all(el.tag.startswith(NS) for el in root.iter())


def test_required_fields_and_values() -> None:
    """Required elements are present with values CAP allows."""
    message = with_evidence()
    root = parse(message)

    for required in ("identifier", "sender", "sent", "status", "msgType", "scope"):
        assert root.findtext(f"{NS}{required}"), required
    assert root.findtext(f"{NS}identifier") == f"nhip-{message.message_id}"
    assert CAP_DATETIME.match(root.findtext(f"{NS}sent"))
    assert root.findtext(f"{NS}status") == "Actual"
    assert root.findtext(f"{NS}msgType") == "Alert"
    assert root.findtext(f"{NS}scope") == "Restricted"
    assert root.findtext(f"{NS}restriction")  # required when scope is Restricted
    info = root.find(f"{NS}info")
    assert {c.text for c in info.findall(f"{NS}category")} == {"Transport", "Rescue", "Health"}
    assert {c.text for c in info.findall(f"{NS}category")} <= CATEGORIES
    assert info.findtext(f"{NS}urgency") == "Immediate"
    assert info.findtext(f"{NS}severity") == "Severe"
    assert info.findtext(f"{NS}certainty") == "Possible"
    assert CAP_DATETIME.match(info.findtext(f"{NS}onset"))
    assert CAP_DATETIME.match(info.findtext(f"{NS}expires"))
    assert info.findtext(f"{NS}area/{NS}areaDesc") == "Junction C, approach W"
    assert info.findtext(f"{NS}area/{NS}circle") == "10.9574000,106.8426000 0.2"
    assert info.findtext(f"{NS}resource/{NS}digest") == "b" * 40


def test_parameters_carry_the_millisecond_time_and_signal_state() -> None:
    root = parse(new_alert(make_event(3), "nhip-test.dongnai"))
    params = {p.findtext(f"{NS}valueName"): p.findtext(f"{NS}value")
              for p in root.iter(f"{NS}parameter")}

    assert params["detectedAtUTC"] == "2026-12-04T08:00:00.750+00:00"
    assert json.loads(params["signalState"]) == {"EW": "r", "NS": "G"}
    assert params["signalPhase"] == "2"
    assert params["junctionId"] == "C"
    assert params["approachId"] == "W"
    assert params["deviceId"] == "cam-C-W"
    assert params["vehicleClass"] == "motorcycle"


def test_update_and_cancel_reference_the_original_alert() -> None:
    """Follow-ups carry CAP references "sender,identifier,sent" of the first alert."""
    original = new_alert(make_event(1, EventType.STOPPED_VEHICLE), "nhip-test.dongnai")
    worse = make_event(1, EventType.STOPPED_VEHICLE)
    worse.severity = Severity.EXTREME
    update = update_of(original, worse, note="second vehicle involved")
    cancel = cancel_of(original, note="vehicle drove off; no crash")

    expected = f"nhip-test.dongnai,nhip-{original.message_id},{original.sent}"
    for follow_up, kind in ((update, "Update"), (cancel, "Cancel")):
        root = parse(follow_up)
        assert root.findtext(f"{NS}msgType") == kind
        assert root.findtext(f"{NS}references") == expected
        assert root.findtext(f"{NS}identifier") != f"nhip-{original.message_id}"
        assert_ordered(names(root), ALERT_ORDER)
    assert parse(update).findtext(f"{NS}info/{NS}severity") == "Extreme"
    assert update.event.event_id == original.event.event_id


def test_follow_up_without_reference_is_refused() -> None:
    from incidents.messages import AlertMessage

    with pytest.raises(ValueError, match="must reference"):
        AlertMessage("Cancel", make_event(1), "s", "2026-12-04T08:00:00+00:00")


def test_violation_categories_and_urgency() -> None:
    info = parse(new_alert(make_event(1, EventType.RED_LIGHT), "s")).find(f"{NS}info")

    assert [c.text for c in info.findall(f"{NS}category")] == ["Security", "Transport"]
    assert info.findtext(f"{NS}urgency") == "Past"
    assert info.findtext(f"{NS}certainty") == "Observed"
    assert info.find(f"{NS}responseType") is None


def test_json_mirrors_the_xml_tree() -> None:
    message = with_evidence()
    body = json.loads(cap.to_json(message))["alert"]

    assert body["identifier"] == f"nhip-{message.message_id}"
    assert body["info"][0]["category"] == ["Transport", "Rescue", "Health"]
    assert body["info"][0]["resource"][0]["digest"] == "b" * 40
    assert body["info"][0]["area"][0]["areaDesc"] == "Junction C, approach W"


def test_message_survives_the_bus_round_trip() -> None:
    from incidents.messages import AlertMessage

    message = with_evidence()
    again = AlertMessage.from_fields(message.to_fields())

    assert cap.to_xml(again) == cap.to_xml(message)


def test_text_with_markup_characters_is_escaped() -> None:
    """Free text from detectors cannot break the XML or inject elements."""
    event = make_event(1)
    event.details = {"note": "a<b & c>d </description><x>"}

    root = parse(new_alert(event, "nhip-test.dongnai"))

    params = {p.findtext(f"{NS}valueName"): p.findtext(f"{NS}value")
              for p in root.iter(f"{NS}parameter")}
    assert params["detail:note"] == "a<b & c>d </description><x>"
    assert root.find(f".//{NS}x") is None


def test_control_characters_are_replaced_so_the_xml_parses() -> None:
    """XML 1.0 cannot carry most C0 controls; they become U+FFFD in XML and JSON."""
    event = make_event(1)
    event.track_id = "veh\x00\x01\x1b1\tx"
    event.details = {"note": "a\x0bb"}
    message = new_alert(event, "nhip-test.dongnai")

    params = {p.findtext(f"{NS}valueName"): p.findtext(f"{NS}value")
              for p in parse(message).iter(f"{NS}parameter")}
    body = json.loads(cap.to_json(message))["alert"]["info"][0]

    assert params["trackId"] == "veh\ufffd\ufffd\ufffd1\tx"
    assert params["detail:note"] == "a\ufffdb"
    assert {"valueName": "trackId", "value": "veh\ufffd\ufffd\ufffd1\tx"} in body["parameter"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"latitude": float("nan")}, "latitude: must be finite and from -90 to 90"),
    ({"latitude": 400.0}, "latitude: must be finite and from -90 to 90"),
    ({"longitude": -180.5}, "longitude: must be finite and from -180 to 180"),
    ({"longitude": float("inf")}, "longitude: must be finite and from -180 to 180"),
    ({"latitude": "10.9"}, "latitude: must be a number"),
    ({"time_utc": "2026-12-04T08:00:00.250"}, "time_utc: must carry a UTC offset"),
    ({"time_utc": "yesterday"}, "time_utc: must be an ISO 8601 date and time"),
    ({"track_id": "veh\ud8001"}, "track_id: is not valid Unicode (lone surrogate)"),
    ({"details": [1, 2]}, "details: must be a mapping"),
])
def test_content_that_cannot_be_valid_cap_is_refused(change, expected) -> None:
    event = make_event(1)
    for name, value in change.items():
        setattr(event, name, value)
    message = new_alert(event, "nhip-test.dongnai")

    for render in (cap.to_xml, cap.to_json):
        with pytest.raises(cap.Unrenderable) as caught:
            render(message)
        assert str(caught.value) == expected


def test_message_id_and_sent_are_checked() -> None:
    message = new_alert(make_event(1), "nhip-test.dongnai")
    message.message_id = "bad id\r\nX-Injected: 1"
    with pytest.raises(cap.Unrenderable, match="^message_id: "):
        cap.to_xml(message)
    message = new_alert(make_event(1), "nhip-test.dongnai")
    message.sent = "2026-12-04T08:00:00Z"
    with pytest.raises(cap.Unrenderable, match="^sent: "):
        cap.to_xml(message)


def test_times_with_an_offset_other_than_utc_are_accepted() -> None:
    event = make_event(1)
    event.time_utc = "2026-12-04T15:00:00.250+07:00"

    info = parse(new_alert(event, "nhip-test.dongnai")).find(f"{NS}info")

    assert info.findtext(f"{NS}onset") == "2026-12-04T15:00:00+07:00"
