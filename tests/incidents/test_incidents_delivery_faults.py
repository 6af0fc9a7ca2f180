"""Delivery under faults: receivers down, slow or failing, a killed dispatcher, a
restarted Redis. In every case each receiver accepts each event exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from incident_helpers import (
    RedisServer,
    publish_events,
    receiver_entry,
    redis_url_of,
    secret_env,
    start_dispatcher,
    wait_for,
    write_config,
)
from incident_receivers import free_port

from incidents.bus import DEAD_LETTER_STREAM, EVENTS_STREAM, RedisBus
from incidents.config import load_config
from incidents.dispatcher import BackgroundDispatcher, replay_dead_letters
from incidents.model import EventType


def load(path: Path):
    return load_config(path, secret_env())


def assert_exactly_once(accepted: Counter[str], keys: list[str]) -> None:
    assert set(accepted) == set(keys), "some events never arrived"
    assert max(accepted.values()) == 1, f"repeats accepted: {accepted.most_common(3)}"


def test_down_slow_and_failing_receivers(tmp_path: Path, redis_client: redis.Redis,
                                         start_receiver, tls_cert) -> None:
    """Flaky and slow receivers get every event once; the down one's go to dead letters,
    and once it is back a replay delivers them, again exactly once."""
    flaky = start_receiver("flaky", "flaky")
    slow = start_receiver("slow", "slow", slow_s=2.5)  # past the 2 s timeout
    down_port = free_port()
    routes = [{"receiver": name} for name in ("flaky", "slow", "down")]
    config = load(write_config(tmp_path / "d.yaml", [
        receiver_entry("flaky", flaky.url, tls_cert[0]),
        receiver_entry("slow", slow.url, tls_cert[0]),
        receiver_entry("down", f"https://127.0.0.1:{down_port}/alerts", tls_cert[0]),
    ], redis_url_of(redis_client), routes=routes))
    bus = RedisBus(redis_url_of(redis_client))
    keys = publish_events(bus, 30)

    dispatcher = BackgroundDispatcher(config, bus)
    counts = dispatcher.dispatcher.counts
    try:
        # The slow receiver records an event before it answers late, so its list fills
        # before the retries that follow the timeouts: wait on what the dispatcher settled.
        wait_for(lambda: counts["flaky"]["delivered"] == 30
                 and counts["slow"]["delivered"] == 30
                 and bus.length(DEAD_LETTER_STREAM) == 30, 30,
                 lambda: f"deliveries and dead letters (flaky {len(flaky.receiver.accepted)}, "
                         f"slow {len(slow.receiver.accepted)}, "
                         f"dead {bus.length(DEAD_LETTER_STREAM)}, "
                         f"{dispatcher.dispatcher.counts})")
    finally:
        dispatcher.stop()

    assert_exactly_once(flaky.receiver.accepted_keys(), keys)
    assert_exactly_once(slow.receiver.accepted_keys(), keys)
    assert min(flaky.receiver.requests.values()) >= 2  # a 500, then the retry
    assert min(slow.receiver.requests.values()) >= 2  # timed out once, then retried
    assert flaky.receiver.rejected_signatures == slow.receiver.rejected_signatures == 0
    dead = bus.read_all(DEAD_LETTER_STREAM)
    assert {f["receiver"] for _, f in dead} == {"down"}
    assert {f["attempts"] for _, f in dead} == {"4"}
    assert all("ConnectError" in f["reason"] for _, f in dead)
    assert sorted(json.loads(f["data"])["message_id"] for _, f in dead) == sorted(keys)
    assert (counts["flaky"]["delivered"], counts["slow"]["delivered"]) == (30, 30)
    assert (counts["down"]["dead"], counts["down"]["delivered"]) == (30, 0)

    back = start_receiver("down", port=down_port)
    assert replay_dead_letters(bus, "down") == 30
    dispatcher = BackgroundDispatcher(config, bus)
    try:
        wait_for(lambda: len(back.receiver.accepted) == 30, 20, "replayed deliveries")
    finally:
        dispatcher.stop()

    assert_exactly_once(back.receiver.accepted_keys(), keys)
    # The replay was for the 'down' receiver only; the others got nothing new.
    assert_exactly_once(flaky.receiver.accepted_keys(), keys)
    assert_exactly_once(slow.receiver.accepted_keys(), keys)


def test_killed_dispatcher_loses_nothing(tmp_path: Path, redis_client: redis.Redis,
                                         start_receiver, tls_cert) -> None:
    """SIGKILL the dispatcher mid-stream; a new one (another consumer) finishes the job."""
    police = start_receiver("police", delay_s=0.03)
    url = redis_url_of(redis_client)
    entry = receiver_entry("police", police.url, tls_cert[0], max_in_flight=4)
    first_config = write_config(tmp_path / "a.yaml", [entry], url, consumer="dispatch-a")
    second_config = write_config(tmp_path / "b.yaml", [entry], url, consumer="dispatch-b",
                                 claim_idle_s=1.0)
    bus = RedisBus(url)
    keys = publish_events(bus, 150, event_type=EventType.RED_LIGHT)

    first = start_dispatcher(first_config, tmp_path / "dispatch-a.log")
    try:
        wait_for(lambda: len(police.receiver.accepted) >= 40, 30, "the first deliveries")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    accepted_before = len(police.receiver.accepted)
    keys += publish_events(bus, 50, start=150, event_type=EventType.RED_LIGHT)
    assert accepted_before < 150  # killed with part of the first batch undelivered

    second = start_dispatcher(second_config, tmp_path / "dispatch-b.log")
    try:
        wait_for(lambda: len(police.receiver.accepted) >= 200, 60, "all 200 events")
        wait_for(lambda: _pending(redis_client, "dispatch:police") == 0, 10, "all acks")
    finally:
        _stop(second)

    assert first.returncode == -signal.SIGKILL
    assert_exactly_once(police.receiver.accepted_keys(), keys)
    log = (tmp_path / "dispatch-b.log").read_text()
    assert "took over" in log  # the messages the killed consumer held were claimed


def test_redis_restart_loses_nothing(tmp_path: Path, start_receiver, tls_cert,
                                     net_path: Path) -> None:
    """Kill Redis (SIGKILL, AOF with appendfsync always) mid-stream and start it again:
    the published events, the groups' positions and the acks all come back."""
    police = start_receiver("police", delay_s=0.05)
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    restarted: subprocess.Popen[bytes] | None = None
    redis.Redis.from_url(server.url).config_set("appendfsync", "always")
    config = write_config(tmp_path / "r.yaml",
                          [receiver_entry("police", police.url, tls_cert[0], max_in_flight=4)],
                          server.url)
    pipeline = _publishing_pipeline(server.url, net_path)
    dispatcher = start_dispatcher(config, tmp_path / "dispatch.log")
    try:
        keys = _publish_through(pipeline, 60, 0)
        wait_for(lambda: len(police.receiver.accepted) >= 20, 30, "first deliveries")

        server.process.kill()
        server.process.wait(timeout=10)
        accepted_at_kill = len(police.receiver.accepted)
        keys += _publish_through(pipeline, 40, 60)
        assert len(pipeline.outbox) == 40  # held while Redis is down
        time.sleep(1.5)  # long enough for the dispatcher's own calls to fail

        restarted = _restart_redis(server)
        pipeline.publish([])
        assert len(pipeline.outbox) == 0
        wait_for(lambda: len(police.receiver.accepted) >= 100, 60, "all 100 events")
    finally:
        _stop(dispatcher)
        if restarted is not None:
            restarted.terminate()
            restarted.wait(timeout=10)

    assert accepted_at_kill < 60  # Redis died with deliveries still to make
    assert_exactly_once(police.receiver.accepted_keys(), keys)
    assert "bus unavailable" in (tmp_path / "dispatch.log").read_text()


def _publishing_pipeline(url: str, net_path: Path):
    from incident_sim import crossing_site

    from controller.eventlog import EventLog
    from incidents.builder import EventBuilder
    from incidents.detectors import DetectorSet
    from incidents.pipeline import IncidentPipeline

    site = crossing_site(net_path)
    log = EventLog("C", ["NS", "EW"])
    return IncidentPipeline(DetectorSet(site, log), EventBuilder(site, log), RedisBus(url),
                            "nhip-test.dongnai")


def _publish_through(pipeline, count: int, start: int) -> list[str]:
    from incident_helpers import make_event

    from incidents.messages import new_alert

    alerts = [new_alert(make_event(i, EventType.RED_LIGHT), "nhip-test.dongnai")
              for i in range(start, start + count)]
    for alert in alerts:
        pipeline.publish([alert])
    return [a.message_id for a in alerts]


def _restart_redis(server: RedisServer) -> subprocess.Popen[bytes]:
    """The same redis-server command line, port and data folder as before the kill."""
    process = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(server.port), "--dir",
         str(server.workdir), "--appendonly", "yes", "--appendfsync", "always",
         "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis.from_url(server.url)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    wait_for(answers, 10, "the restarted Redis")
    return process


def _pending(client: redis.Redis, group: str) -> int:
    return int(client.xpending(EVENTS_STREAM, group)["pending"])


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
        pytest.fail("dispatcher did not stop within 15 s of SIGTERM")
