"""The audit log's hash chain shows any rewriting, in memory and in Redis."""

from __future__ import annotations

import json

import pytest
import redis

from centre.audit import MemoryAuditLog, RedisAuditLog, verify_chain
from tests.conftest import RedisServer


def _filled(log):
    log.append("operator", "operator", "plan.propose", "junction/TP", {"g": [36]}, {"g": [30]})
    log.append("supervisor", "supervisor", "plan.approve", "change/1", {"g": [36]}, {"g": [30]})
    log.append("operator", "operator", "incident.acknowledge", "incident/x", {}, {"a": 1})
    return log


@pytest.fixture(scope="module")
def private_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("audit-redis"))
    yield server
    server.stop()


def test_an_untouched_chain_verifies():
    check = _filled(MemoryAuditLog()).verify()
    assert (check.ok, check.entries, check.first_bad_seq) == (True, 3, None)


@pytest.mark.parametrize(("tamper", "bad_seq"), [
    pytest.param(lambda e: e[1]["after"].update(g=[90]), 2, id="edited-after-value"),
    pytest.param(lambda e: e[0].update(actor="someone else"), 1, id="edited-actor"),
    pytest.param(lambda e: e.pop(1), 2, id="deleted-entry"),
    pytest.param(lambda e: e.insert(0, e.pop(2)), 1, id="reordered"),
])
def test_rewriting_the_log_is_detected_at_the_first_bad_entry(tamper, bad_seq):
    entries = _filled(MemoryAuditLog()).entries()
    tamper(entries)
    check = verify_chain(entries)
    assert (check.ok, check.first_bad_seq) == (False, bad_seq)


def test_redis_chain_is_shared_and_shows_tampering(private_redis):
    """Two instances appending to one Redis make one chain; editing an entry in Redis
    directly breaks it."""
    first = RedisAuditLog(redis.Redis.from_url(private_redis.url))
    second = RedisAuditLog(redis.Redis.from_url(private_redis.url))
    first.append("a", "operator", "x", "t", None, 1)
    second.append("b", "supervisor", "y", "t", 1, 2)
    first.append("a", "operator", "z", "t", 2, 3)
    assert [e["actor"] for e in second.entries()] == ["a", "b", "a"]
    assert second.verify().ok

    raw = json.loads(first.client.lindex(first.key, 1))
    raw["after"] = 99
    first.client.lset(first.key, 1, json.dumps(raw))
    assert (first.verify().ok, first.verify().first_bad_seq) == (False, 2)
