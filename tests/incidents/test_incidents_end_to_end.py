"""End to end: a red light run in SUMO reaches a receiver as signed CAP 1.2 XML.

SUMO (libsumo) -> controller event log -> detectors -> Redis Streams -> dispatcher ->
HTTPS webhook with HMAC -> receiver on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import redis
from incident_helpers import (
    SECRETS,
    receiver_entry,
    redis_url_of,
    secret_env,
    wait_for,
    write_config,
)
from incident_sim import Crossing, crossing_site

from incidents.builder import EventBuilder
from incidents.bus import RedisBus
from incidents.config import load_config
from incidents.detectors import DetectorSet
from incidents.dispatcher import BackgroundDispatcher
from incidents.evidence import EvidenceStore
from incidents.pipeline import IncidentPipeline
from incidents.signing import verify
from incidents.sumo_source import SumoTrackSource

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"


def test_red_light_in_sumo_arrives_as_signed_cap_xml(
        tmp_path: Path, net_path: Path, redis_client: redis.Redis, start_receiver,
        tls_cert) -> None:
    police = start_receiver("police")
    ems = start_receiver("ems115")
    url = redis_url_of(redis_client)
    config = load_config(write_config(tmp_path / "dispatch.yaml", [
        receiver_entry("police", police.url, tls_cert[0]),
        receiver_entry("ems115", ems.url, tls_cert[0]),
    ], url), secret_env())
    bus = RedisBus(url)
    store = EvidenceStore(tmp_path / "evidence")
    crossing = Crossing(net_path)
    site = crossing_site(net_path)
    pipeline = IncidentPipeline(
        DetectorSet(site, crossing.event_log),
        EventBuilder(site, crossing.event_log, store), bus, "nhip-test.dongnai",
        SumoTrackSource(site, "C", crossing.link_groups, device_id="sumo-C"))
    crossing.observers.append(pipeline)
    dispatcher = BackgroundDispatcher(config, bus)
    try:
        crossing.add_vehicle("runner", ("W2C", "C2E"), "passenger", speed_mode=7)
        crossing.run_until(25.0)
        wait_for(lambda: len(police.receiver.accepted) == len(pipeline.published) > 0, 15,
                 "the alerts at the police")
    finally:
        crossing.close()
        dispatcher.stop()

    # SUMO drivers keep a speed factor around 1.1, so the runner may also be speeding.
    kinds = {a.event.event_type.value: a for a in pipeline.published}
    assert set(kinds) <= {"red_light", "speeding"}
    published = kinds["red_light"]
    [delivery] = [d for d in police.receiver.accepted if d.key == published.message_id]
    assert delivery.content_type == "application/cap+xml"
    assert police.receiver.rejected_signatures == 0
    assert ems.receiver.accepted == []  # a violation is not for 115
    root = ET.fromstring(delivery.body)
    assert root.tag == f"{NS}alert"
    assert root.findtext(f"{NS}msgType") == "Alert"
    assert root.findtext(f"{NS}identifier") == f"nhip-{delivery.key}"
    info = root.find(f"{NS}info")
    assert info.findtext(f"{NS}event") == "Red-light running"
    params = {p.findtext(f"{NS}valueName"): p.findtext(f"{NS}value")
              for p in info.iter(f"{NS}parameter")}
    assert json.loads(params["signalState"]) == {"NS": "G", "EW": "r"}
    assert params["junctionId"] == "C" and params["approachId"] == "W"
    assert params["detectedAtUTC"] == published.event.time_utc
    crossing_s = float(params["detail:crossing_time_s"])
    assert crossing.event_log.colour_at("EW", crossing_s) == "r"

    # The resource digest is the SHA-1 of evidence the store still holds, unaltered.
    resource = info.find(f"{NS}resource")
    sha256 = resource.findtext(f"{NS}uri").rsplit("/", 1)[1]
    trace = store.read_media(sha256, accessor="test", purpose="check the alert's evidence")
    assert hashlib.sha1(trace).hexdigest() == resource.findtext(f"{NS}digest")
    assert json.loads(trace)[-1]["track_id"] == "runner"

    # The signature the receiver checked is the HMAC of exactly these bytes.
    verify(SECRETS["police"], delivery.body, delivery.headers)
    tampered = delivery.body.replace(b"Red-light running", b"Red-light runninG")
    with pytest.raises(ValueError, match="does not match"):
        verify(SECRETS["police"], tampered, delivery.headers)
