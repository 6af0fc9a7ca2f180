"""Two centre instances sharing one Redis: one field, one audit chain, shared plans."""

from __future__ import annotations

import time

import pytest

from centre.auth import DEFAULT_PEOPLE, UserDirectory
from tests.centre.conftest import start_centre
from tests.conftest import RedisServer


@pytest.fixture(scope="module")
def two_centres(tmp_path_factory, optimizer):
    redis_server = RedisServer(tmp_path_factory.mktemp("shared-redis"))
    users = UserDirectory.with_new_tokens(DEFAULT_PEOPLE)
    first, first_server = start_centre(tmp_path_factory.mktemp("a"), optimizer.address,
                                       redis_server.url, users=users)
    second, second_server = start_centre(tmp_path_factory.mktemp("b"), optimizer.address,
                                         redis_server.url, users=users)
    try:
        yield first, second
    finally:
        second_server.stop()
        first_server.stop()
        redis_server.stop()


def test_instances_share_one_field_plans_and_audit(two_centres):
    """Only one instance runs the field; a change approved through the other reaches
    it, and both see the same state, history and audit chain."""
    first, second = two_centres
    first.wait_for_state("TP")
    second.wait_for_state("TP")
    owners = [len(c.centre.link.runners) for c in (first, second)]
    assert sorted(owners) == [0, 1]

    with first.client("operator") as operator:
        proposed = operator.put("/api/junctions/TP/plan", json={"greens_s": [31, 7, 29]}).json()
    with second.client("supervisor") as supervisor:
        approved = supervisor.post(f"/api/plan-changes/{proposed['id']}/approve", json={})
    assert approved.json()["status"] == "approved"

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = first.wait_for_state("TP")
        with second.client("operator") as client:
            history = client.get("/api/junctions/TP/plans").json()
        if state["plan"]["greens_s"] == [31.0, 7.0, 29.0] and history[0]["status"] == "applied":
            break
        time.sleep(0.3)
    assert state["plan"]["greens_s"] == [31.0, 7.0, 29.0]
    assert history[0]["status"] == "applied"

    with first.client("admin") as a, second.client("admin") as b:
        assert a.get("/api/audit").json() == b.get("/api/audit").json()
        check = a.get("/api/audit/verify").json()
    assert (check["ok"], check["store"]) == (True, "redis")
