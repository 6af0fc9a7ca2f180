"""Webhook signatures and the dispatch configuration's rules."""

from __future__ import annotations

import pytest
from incident_helpers import make_event

from incidents.config import config_from_dict
from incidents.model import EventType
from incidents.signing import sign, verify

SECRET = b"s3cret"
ENV = {"POLICE_SECRET": "p", "EMS_SECRET": "e"}


def test_signature_round_trip() -> None:
    headers = sign(SECRET, b"<alert/>", timestamp=1_800_000_000)

    verify(SECRET, b"<alert/>", headers, now=1_800_000_010)


@pytest.mark.parametrize(("secret", "body", "now", "message"), [
    pytest.param(SECRET, b"<alert>changed</alert>", 1_800_000_010, "does not match",
                 id="tampered-body"),
    pytest.param(b"other", b"<alert/>", 1_800_000_010, "does not match", id="wrong-secret"),
    pytest.param(SECRET, b"<alert/>", 1_800_001_000, "1000 s off", id="replayed-late"),
])
def test_bad_signatures_are_refused(secret: bytes, body: bytes, now: int,
                                    message: str) -> None:
    headers = sign(SECRET, b"<alert/>", timestamp=1_800_000_000)

    with pytest.raises(ValueError, match=message):
        verify(secret, body, headers, now=now)


def receivers(**police: object) -> list[dict[str, object]]:
    entry = {"name": "police", "url": "https://police.example.vn/cap",
             "secret_env": "POLICE_SECRET"}
    entry.update(police)
    return [entry, {"name": "ems115", "url": "https://115.example.vn/cap",
                    "secret_env": "EMS_SECRET", "format": "json"}]


@pytest.mark.parametrize(("event_type", "expected"), [
    pytest.param(EventType.RED_LIGHT, ["police"], id="violation-to-police"),
    pytest.param(EventType.WRONG_WAY, ["police"], id="wrong-way-to-police"),
    pytest.param(EventType.STOPPED_VEHICLE, ["ems115", "police"], id="possible-injury"),
    pytest.param(EventType.SPILLBACK, ["police"], id="incident-no-injury"),
])
def test_default_routes(event_type: EventType, expected: list[str]) -> None:
    config = config_from_dict({"sender": "nhip", "receivers": receivers()}, ENV)

    assert config.receivers_for(make_event(1, event_type)) == expected


def test_configured_routes_replace_the_defaults() -> None:
    config = config_from_dict({
        "sender": "nhip", "receivers": receivers(),
        "routes": [{"receiver": "ems115", "event_types": ["wrong_way"]}]}, ENV)

    assert config.receivers_for(make_event(1, EventType.WRONG_WAY)) == ["ems115"]
    assert config.receivers_for(make_event(1, EventType.RED_LIGHT)) == []


@pytest.mark.parametrize(("change", "message"), [
    pytest.param({"url": "http://police.example.vn/cap"}, "allow_plain_http",
                 id="plain-http"),
    pytest.param({"url": "http://10.0.0.5/cap", "allow_plain_http": True},
                 "only to a loopback host", id="plain-http-off-loopback"),
    pytest.param({"secret_env": "MISSING"}, r"receivers\[0\].secret_env",
                 id="secret-not-set"),
    pytest.param({"format": "xml"}, r"receivers\[0\].format 'xml'", id="bad-format"),
    pytest.param({"name": "police office"}, r"receivers\[0\].name", id="bad-name"),
    pytest.param({"max_attempts": 0},
                 r"receivers\[0\].max_attempts must be a whole number from 1 to 100, got 0",
                 id="no-attempts"),
])
def test_bad_receivers_are_refused_with_the_field_named(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_dict({"sender": "nhip", "receivers": receivers(**change)}, ENV)


def test_plain_http_allowed_on_loopback_when_asked() -> None:
    config = config_from_dict({"sender": "nhip", "receivers": receivers(
        url="http://127.0.0.1:8080/cap", allow_plain_http=True)}, ENV)

    assert config.receivers["police"].url == "http://127.0.0.1:8080/cap"


@pytest.mark.parametrize(("data", "message"), [
    pytest.param({"sender": "nhip dongnai"}, "sender", id="sender-with-space"),
    pytest.param({"sender": "nhip", "routes": [{"receiver": "fire"}]},
                 r"routes\[0\].receiver 'fire'", id="route-to-unknown-receiver"),
    pytest.param({"sender": "nhip", "routes": [{"receiver": "police",
                                                "categories": ["crime"]}]},
                 r"routes\[0\]", id="unknown-category"),
])
def test_bad_settings_are_refused(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config_from_dict({"receivers": receivers(), **data}, ENV)
