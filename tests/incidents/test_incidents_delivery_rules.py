"""Delivery rules against real Redis and real receivers on 127.0.0.1: one send per
receiver and message id, replays, unreadable entries, Retry-After, deadlines, 409 and
redirects, and the order of an event's messages across two dispatchers."""

from __future__ import annotations

import email.utils
import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import redis
from incident_helpers import (
    make_event,
    publish_events,
    receiver_entry,
    redis_url_of,
    secret_env,
    wait_for,
    write_config,
)
from incident_receivers import free_port

from incidents.bus import DEAD_LETTER_STREAM, EVENTS_STREAM, RedisBus
from incidents.config import load_config
from incidents.dispatcher import BackgroundDispatcher, replay_dead_letters
from incidents.messages import cancel_of, new_alert, update_of
from incidents.model import EventType, Severity

NS = "{urn:oasis:names:tc:emergency:cap:1.2}"
SENDER = "nhip-test.dongnai"


def config_for(tmp_path: Path, url: str | None, entries: list[dict[str, Any]],
               **options: Any):
    routes = [{"receiver": e["name"]} for e in entries]
    return load_config(write_config(tmp_path / "d.yaml", entries, url, routes=routes,
                                    **options), secret_env())


def running(config, bus) -> BackgroundDispatcher:
    return BackgroundDispatcher(config, bus)


def test_replay_sends_once_per_message_and_only_to_its_receiver(
        tmp_path: Path, redis_client: redis.Redis, start_receiver, tls_cert) -> None:
    """Replaying twice, and copies of one message in one batch, still make one request
    per message; the replay reaches only the receiver it failed for and leaves the
    dead-letter stream."""
    police = start_receiver("police")
    down_port = free_port()
    url = redis_url_of(redis_client)
    config = config_for(tmp_path, url, [
        receiver_entry("police", police.url, tls_cert[0]),
        receiver_entry("down", f"https://127.0.0.1:{down_port}/alerts", tls_cert[0],
                       max_attempts=1)])
    bus = RedisBus(url)
    keys = publish_events(bus, 3)
    dispatcher = running(config, bus)
    try:
        wait_for(lambda: bus.length(DEAD_LETTER_STREAM) == 3
                 and len(police.receiver.accepted) == 3, 20, "first round")
    finally:
        dispatcher.stop()
    # A dead letter of the police receiver, which a replay for "down" must leave alone.
    police_dead = new_alert(make_event(99), SENDER)
    bus.publish(DEAD_LETTER_STREAM, {**police_dead.to_fields(), "receiver": "police",
                                     "reason": "HTTP 500", "attempts": "4"})

    assert replay_dead_letters(bus, "down") == 3
    assert replay_dead_letters(bus, "down") == 0
    left = bus.read_all(DEAD_LETTER_STREAM)
    assert [f["receiver"] for _, f in left] == ["police"]
    replayed = [f for _, f in bus.read_all(EVENTS_STREAM) if "replay_for" in f]
    assert [f["replay_for"] for f in replayed] == ["down"] * 3

    # Three copies of one alert in a row land in the same batch.
    copies = new_alert(make_event(50), SENDER)
    for _ in range(3):
        bus.publish(EVENTS_STREAM, copies.to_fields())
    back = start_receiver("down", port=down_port)
    dispatcher = running(config, bus)
    counts = dispatcher.dispatcher.counts
    try:
        wait_for(lambda: len(back.receiver.accepted) == 4
                 and len(police.receiver.accepted) == 4
                 and counts["police"]["duplicate"] == 2, 20,
                 lambda: f"replayed deliveries {counts}")
        time.sleep(0.5)  # room for any extra request to show up
    finally:
        dispatcher.stop()

    assert back.receiver.requests == Counter({k: 1 for k in [*keys, copies.message_id]})
    assert police.receiver.requests == Counter({k: 1 for k in [*keys, copies.message_id]})
    assert counts["down"]["duplicate"] == 2
    assert bus.length(DEAD_LETTER_STREAM) == 1


def _mutated(index: int, **changes: Any) -> dict[str, str]:
    fields = new_alert(make_event(index), SENDER).to_fields()
    data = json.loads(fields["data"])
    data["event"].update(changes)
    return {**fields, "data": json.dumps(data)}


def test_unreadable_entries_are_dead_lettered_and_acknowledged(
        tmp_path: Path, redis_client: redis.Redis, start_receiver, tls_cert) -> None:
    """Entries that parse but cannot be rendered, or are not even UTF-8, become dead
    letters named 'unreadable: <field>: ...'; nothing stays pending, delivery goes on."""
    police = start_receiver("police")
    url = redis_url_of(redis_client)
    config = config_for(tmp_path, url, [receiver_entry("police", police.url, tls_cert[0])])
    bus = RedisBus(url)
    bad = [_mutated(1, time_utc="yesterday"), _mutated(2, details=[1, 2]),
           _mutated(3, track_id="\ud800"), _mutated(4, latitude=400.0),
           _mutated(5, time_utc="2026-12-04T08:00:00")]
    for fields in bad:
        bus.publish(EVENTS_STREAM, fields)
    raw = _mutated(6)
    raw_data = raw["data"].encode().replace(b'"veh6"', b'"veh\xff6"')
    redis_client.xadd(EVENTS_STREAM, {"data": raw_data})
    control = new_alert(make_event(7), SENDER)
    control.event.track_id = "veh\x017\x1b"
    keys = publish_events(bus, 2, start=10)
    bus.publish(EVENTS_STREAM, control.to_fields())

    dispatcher = running(config, bus)
    try:
        wait_for(lambda: bus.length(DEAD_LETTER_STREAM) == 6
                 and len(police.receiver.accepted) == 3, 20,
                 lambda: f"dead letters and deliveries {dispatcher.dispatcher.counts}")
        wait_for(lambda: int(redis_client.xpending(EVENTS_STREAM, "dispatch:police")
                             ["pending"]) == 0, 10, "all acks")
    finally:
        dispatcher.stop()

    reasons = [f["reason"] for _, f in bus.read_all(DEAD_LETTER_STREAM)]
    assert all(r.startswith("unreadable: ") for r in reasons), reasons
    assert reasons[0] == "unreadable: time_utc: must be an ISO 8601 date and time"
    assert reasons[1] == "unreadable: details: must be a mapping"
    assert reasons[2].startswith("unreadable: track_id: ")
    assert reasons[3].startswith("unreadable: latitude: ")
    assert reasons[4] == "unreadable: time_utc: must carry a UTC offset"
    assert reasons[5].startswith("unreadable: track_id: ")
    # The dead letter keeps the original bytes of the entry that was not UTF-8.
    assert b'"veh\xff6"' in redis_client.xrange(DEAD_LETTER_STREAM)[5][1][b"data"]
    assert {a.key for a in police.receiver.accepted} == {*keys, control.message_id}
    sent = next(a for a in police.receiver.accepted if a.key == control.message_id)
    params = {p.findtext(f"{NS}valueName"): p.findtext(f"{NS}value")
              for p in ET.fromstring(sent.body).iter(f"{NS}parameter")}
    assert params["trackId"] == "veh\ufffd7\ufffd"


def test_retry_after_is_honoured_without_holding_up_other_messages(
        tmp_path: Path, start_receiver, tls_cert) -> None:
    """429 with Retry-After in seconds and 503 with an HTTP date are waited out, while a
    message behind them goes through on the one connection slot."""
    from incidents.bus import MemoryBus

    police = start_receiver("police")
    config = config_for(tmp_path, None, [receiver_entry(
        "police", police.url, tls_cert[0], backoff_initial_s=0.05, backoff_max_s=5,
        max_in_flight=1)])
    bus = MemoryBus()
    first, second, third = (new_alert(make_event(i), SENDER) for i in range(3))
    http_date = email.utils.formatdate(time.time() + 2.5, usegmt=True)
    police.receiver.script = [(429, {"Retry-After": "1"})]
    bus.publish(EVENTS_STREAM, first.to_fields())
    dispatcher = running(config, bus)
    try:
        wait_for(lambda: police.receiver.requests[first.message_id] == 1, 10, "first try")
        police.receiver.script = [(503, {"Retry-After": http_date})]
        bus.publish(EVENTS_STREAM, second.to_fields())
        wait_for(lambda: police.receiver.requests[second.message_id] == 1, 10, "second")
        police.receiver.script = []
        bus.publish(EVENTS_STREAM, third.to_fields())
        wait_for(lambda: len(police.receiver.accepted) == 3, 15, "all three")
    finally:
        dispatcher.stop()

    times: dict[str, list[float]] = {}
    for key, at in police.receiver.arrivals:
        times.setdefault(key, []).append(at)
    assert len(times[first.message_id]) == 2
    assert times[first.message_id][1] - times[first.message_id][0] >= 0.95
    assert len(times[second.message_id]) == 2
    assert times[second.message_id][1] - times[second.message_id][0] >= 1.4
    # The third went out while the second was still waiting for its retry.
    assert times[third.message_id][0] < times[second.message_id][1]


def test_retry_after_beyond_the_cap_is_named_in_the_dead_letter(
        tmp_path: Path, start_receiver, tls_cert) -> None:
    from incidents.bus import MemoryBus

    police = start_receiver("police")
    police.receiver.script = [(429, {"Retry-After": "120"})] * 5
    config = config_for(tmp_path, None, [receiver_entry(
        "police", police.url, tls_cert[0], backoff_initial_s=0.05, backoff_max_s=0.5,
        max_attempts=2)])
    bus = MemoryBus()
    alert = new_alert(make_event(1), SENDER)
    bus.publish(EVENTS_STREAM, alert.to_fields())
    started = time.monotonic()
    dispatcher = running(config, bus)
    try:
        wait_for(lambda: bus.length(DEAD_LETTER_STREAM) == 1, 10, "the dead letter")
    finally:
        dispatcher.stop()

    assert time.monotonic() - started < 5
    waited = police.receiver.arrivals[1][1] - police.receiver.arrivals[0][1]
    assert 0.45 <= waited < 2
    (_, dead), = bus.read_all(DEAD_LETTER_STREAM)
    assert dead["reason"] == ("HTTP 429 (Retry-After asked for 120 s; we wait at most "
                              "backoff_max_s = 0.5 s)")


class TrickleServer:
    """Plain HTTP on 127.0.0.1 that answers slowly, one byte at a time: in the headers
    (``mode='headers'``) or in the body after a complete 200 status (``mode='body'``)."""

    def __init__(self, mode: str, every_s: float = 0.25, bytes_: int = 60) -> None:
        self.mode, self.every_s, self.bytes = mode, every_s, bytes_
        self.requests = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/alerts"
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length"))
            while len(body) < length:
                body += conn.recv(65536)
            self.requests += 1
            try:
                if self.mode == "headers":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                else:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % self.bytes)
                for _ in range(self.bytes):
                    time.sleep(self.every_s)
                    conn.sendall(b"x")
            except OSError:
                return

    def close(self) -> None:
        self.closed = True
        self.sock.close()


def _plain(name: str, url: str, **options: Any) -> dict[str, Any]:
    entry = receiver_entry(name, url, Path("unused"), allow_plain_http=True,
                           timeout_s=1.0, max_attempts=2, **options)
    del entry["ca_file"]
    return entry


def test_timeout_bounds_each_attempt_and_a_late_body_after_200_counts(
        tmp_path: Path) -> None:
    """A receiver trickling its headers is cut off at timeout_s per attempt; one that
    sent a 200 status and trickles the body has the message (delivered, not re-sent)."""
    from incidents.bus import MemoryBus

    headers, body = TrickleServer("headers"), TrickleServer("body")
    config = config_for(tmp_path, None, [_plain("slow", headers.url),
                                         _plain("police", body.url)])
    bus = MemoryBus()
    bus.publish(EVENTS_STREAM, new_alert(make_event(1), SENDER).to_fields())
    started = time.monotonic()
    dispatcher = running(config, bus)
    counts = dispatcher.dispatcher.counts
    try:
        wait_for(lambda: bus.length(DEAD_LETTER_STREAM) == 1
                 and counts["police"]["delivered"] == 1, 10, lambda: f"outcomes {counts}")
        elapsed = time.monotonic() - started
    finally:
        dispatcher.stop()
        headers.close()
        body.close()

    assert elapsed < 4.5  # two attempts of at most 1 s each, plus backoff and start-up
    (_, dead), = bus.read_all(DEAD_LETTER_STREAM)
    assert (dead["receiver"], dead["attempts"]) == ("slow", "2")
    assert dead["reason"] == "Timeout: no answer within 1 s"
    assert headers.requests == 2
    assert body.requests == 1
    assert counts["police"]["retried"] == 0


def test_409_counts_as_already_delivered_and_redirects_name_the_location(
        tmp_path: Path, redis_client: redis.Redis, start_receiver, tls_cert) -> None:
    police = start_receiver("police")
    police.receiver.script = [(409, {})]
    elsewhere = f"https://127.0.0.1:{free_port()}/moved"
    ems = start_receiver("ems115")
    ems.receiver.script = [(308, {"Location": elsewhere})]
    url = redis_url_of(redis_client)
    config = config_for(tmp_path, url, [receiver_entry("police", police.url, tls_cert[0]),
                                        receiver_entry("ems115", ems.url, tls_cert[0])])
    bus = RedisBus(url)
    (key,) = publish_events(bus, 1)
    dispatcher = running(config, bus)
    counts = dispatcher.dispatcher.counts
    try:
        wait_for(lambda: counts["police"].get("already_had") == 1
                 and bus.length(DEAD_LETTER_STREAM) == 1, 10, lambda: f"outcomes {counts}")
        wait_for(lambda: bus.was_delivered("police", key), 5, "the delivered marker")
    finally:
        dispatcher.stop()

    assert police.receiver.requests[key] == 1
    assert (counts["police"]["dead"], counts["police"]["delivered"]) == (0, 0)
    assert ems.receiver.requests[key] == 1  # not retried, not followed
    (_, dead), = bus.read_all(DEAD_LETTER_STREAM)
    assert dead["receiver"] == "ems115"
    assert dead["reason"] == (f"HTTP 308 redirect to {elsewhere!r}, not followed; "
                              "configure the receiver's final URL")
    assert not bus.was_delivered("ems115", key)


def test_follow_ups_never_overtake_their_alert_across_two_dispatchers(
        tmp_path: Path, redis_client: redis.Redis, start_receiver, tls_cert) -> None:
    """Two dispatcher consumers share the group; the receiver is slow on Alerts, so an
    Update or Cancel read by the other consumer would overtake it without the guard."""
    police = start_receiver("police", alert_delay_s=0.3)
    url = redis_url_of(redis_client)
    entry = receiver_entry("police", police.url, tls_cert[0], max_in_flight=8)
    bus = RedisBus(url)
    config_a = config_for(tmp_path, url, [entry], consumer="a", batch_size=1)
    config_b = config_for(tmp_path, url, [entry], consumer="b", batch_size=1)
    expected: dict[str, list[str]] = {}
    for index in range(20):
        alert = new_alert(make_event(index, EventType.STOPPED_VEHICLE), SENDER)
        worse = make_event(index, EventType.STOPPED_VEHICLE)
        worse.severity = Severity.EXTREME
        chain = [alert, update_of(alert, worse, "worse"), cancel_of(alert, "cleared")]
        for message in chain:
            bus.publish(EVENTS_STREAM, message.to_fields())
        expected[alert.event.event_id] = [m.message_id for m in chain]
    first, second = running(config_a, bus), running(config_b, bus)
    try:
        wait_for(lambda: len(police.receiver.accepted) == 60, 40,
                 lambda: f"60 deliveries, have {len(police.receiver.accepted)}")
    finally:
        first.stop()
        second.stop()

    assert first.dispatcher.counts["police"]["delivered"] > 0
    assert second.dispatcher.counts["police"]["delivered"] > 0
    order = [a.key for a in police.receiver.accepted]
    for event_id, chain in expected.items():
        assert sorted(chain, key=order.index) == chain, event_id
