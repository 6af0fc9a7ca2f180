"""The bus on real Redis and in process: delivery, acknowledgement, recovery."""

from __future__ import annotations

import time

import pytest
import redis

from incidents.bus import MemoryBus, RedisBus

STREAM, GROUP = "nhip:test:events", "g"


@pytest.fixture(params=["redis", "memory"])
def bus(request: pytest.FixtureRequest):
    if request.param == "memory":
        return MemoryBus()
    client: redis.Redis = request.getfixturevalue("redis_client")
    url = client.connection_pool.connection_kwargs
    return RedisBus(f"redis://{url['host']}:{url['port']}/{url.get('db', 0)}")


def test_messages_published_before_the_group_exists_are_delivered(bus) -> None:
    """A group created late still sees what was already on the stream."""
    first = bus.publish(STREAM, {"data": "1"})
    bus.ensure_group(STREAM, GROUP)
    bus.ensure_group(STREAM, GROUP)  # idempotent
    second = bus.publish(STREAM, {"data": "2"})

    got = bus.read_new(STREAM, GROUP, "c1", 10, 100)

    assert [m[0] for m in got] == [first, second]
    assert [m[1]["data"] for m in got] == ["1", "2"]


def test_unacknowledged_messages_come_back_to_their_consumer(bus) -> None:
    bus.ensure_group(STREAM, GROUP)
    ids = [bus.publish(STREAM, {"data": str(i)}) for i in range(3)]
    bus.read_new(STREAM, GROUP, "c1", 10, 100)
    bus.ack(STREAM, GROUP, [ids[1]])

    pending = bus.read_own_pending(STREAM, GROUP, "c1", 10)

    assert [m[0] for m in pending] == [ids[0], ids[2]]
    assert bus.read_new(STREAM, GROUP, "c1", 10, 50) == []


def test_stale_messages_of_a_dead_consumer_are_claimed(bus) -> None:
    bus.ensure_group(STREAM, GROUP)
    ids = [bus.publish(STREAM, {"data": str(i)}) for i in range(2)]
    bus.read_new(STREAM, GROUP, "dead", 10, 100)

    assert bus.claim_stale(STREAM, GROUP, "alive", 10_000, 10) == []
    time.sleep(0.12)
    claimed = bus.claim_stale(STREAM, GROUP, "alive", 100, 10)

    assert [m[0] for m in claimed] == ids
    assert [m[0] for m in bus.read_own_pending(STREAM, GROUP, "alive", 10)] == ids


def test_delivered_markers(bus) -> None:
    assert not bus.was_delivered("police", "m1")
    bus.mark_delivered("police", "m1")

    assert bus.was_delivered("police", "m1")
    assert not bus.was_delivered("ems115", "m1")


def test_requeue_moves_an_entry_once(bus) -> None:
    """A replayed dead letter leaves its stream in the same step as it is republished,
    so a second replay finds nothing to publish."""
    dead = bus.publish("nhip:test:dead", {"data": "1", "receiver": "r"})

    first = bus.requeue("nhip:test:dead", dead, STREAM, {"data": "1", "replay_for": "r"})
    second = bus.requeue("nhip:test:dead", dead, STREAM, {"data": "1", "replay_for": "r"})

    assert first is not None and second is None
    assert bus.read_all("nhip:test:dead") == []
    assert bus.read_all(STREAM) == [(first, {"data": "1", "replay_for": "r"})]
    assert bus.length("nhip:test:dead") == 0


def test_pending_before_lists_earlier_unacknowledged_entries_of_any_consumer(bus) -> None:
    bus.ensure_group(STREAM, GROUP)
    ids = [bus.publish(STREAM, {"data": str(i)}) for i in range(4)]
    bus.read_new(STREAM, GROUP, "a", 1, 100)
    bus.read_new(STREAM, GROUP, "b", 3, 100)
    bus.ack(STREAM, GROUP, [ids[1]])

    earlier = bus.pending_before(STREAM, GROUP, ids[3])

    assert earlier == [(ids[0], {"data": "0"}), (ids[2], {"data": "2"})]
    assert bus.pending_before(STREAM, GROUP, ids[0]) == []


def test_unreachable_redis_is_reported_as_bus_unavailable() -> None:
    from incident_receivers import free_port

    from incidents.bus import BusUnavailable

    bus = RedisBus(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(BusUnavailable, match="unreachable"):
        bus.publish(STREAM, {"data": "x"})
