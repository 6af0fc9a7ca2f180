"""Routing, formats and follow-ups through the dispatcher on the in-process bus."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from incident_helpers import (
    make_event,
    receiver_entry,
    secret_env,
    wait_for,
    write_config,
)

from incidents.bus import EVENTS_STREAM, MemoryBus
from incidents.config import load_config
from incidents.dispatcher import BackgroundDispatcher
from incidents.messages import cancel_of, new_alert, update_of
from incidents.model import EventType, Severity

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def test_default_routes_formats_and_follow_ups(tmp_path: Path, start_receiver,
                                               tls_cert) -> None:
    """Police get everything as CAP XML, 115 only the possible crash, as JSON; the update
    and the cancel reach both and point at the first alert."""
    police = start_receiver("police")
    ems = start_receiver("ems115")
    config = load_config(write_config(tmp_path / "d.yaml", [
        receiver_entry("police", police.url, tls_cert[0]),
        receiver_entry("ems115", ems.url, tls_cert[0], format="json"),
    ], None), secret_env())
    bus = MemoryBus()
    crash = new_alert(make_event(1, EventType.STOPPED_VEHICLE), "nhip-test.dongnai")
    worse = make_event(1, EventType.STOPPED_VEHICLE)
    worse.severity = Severity.EXTREME
    follow_ups = [update_of(crash, worse, "two vehicles involved"),
                  cancel_of(crash, "vehicles cleared, no injuries")]
    red = new_alert(make_event(2, EventType.RED_LIGHT), "nhip-test.dongnai")
    for message in (crash, red, *follow_ups):
        bus.publish(EVENTS_STREAM, message.to_fields())

    dispatcher = BackgroundDispatcher(config, bus)
    try:
        wait_for(lambda: len(police.receiver.accepted) == 4
                 and len(ems.receiver.accepted) == 3, 15, "all deliveries")
    finally:
        dispatcher.stop()

    assert [a.key for a in ems.receiver.accepted] == [
        crash.message_id, *(f.message_id for f in follow_ups)]
    assert {a.content_type for a in ems.receiver.accepted} == {"application/json"}
    assert {a.content_type for a in police.receiver.accepted} == {"application/cap+xml"}
    assert dispatcher.dispatcher.counts["ems115"]["skipped"] == 1  # the red light

    update, cancel = (json.loads(a.body)["alert"] for a in ems.receiver.accepted[1:])
    reference = f"nhip-test.dongnai,nhip-{crash.message_id},{crash.sent}"
    assert (update["msgType"], update["references"]) == ("Update", reference)
    assert (cancel["msgType"], cancel["references"]) == ("Cancel", reference)
    assert update["info"][0]["severity"] == "Extreme"
    by_key = {a.key: ET.fromstring(a.body) for a in police.receiver.accepted}
    assert by_key[follow_ups[1].message_id].findtext(f"{NS}note") == (
        "vehicles cleared, no injuries")
