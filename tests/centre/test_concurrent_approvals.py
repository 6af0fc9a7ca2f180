"""Many approvals of different changes for one junction at the same instant, over HTTP.

Every change is proposed against the same configuration version, so exactly one may be
approved; the others must get 409 naming both versions and stay pending, whichever
instance they reach. The centres here run without a field: approval never waits on it.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from centre.auth import DEFAULT_PEOPLE, UserDirectory
from tests.centre.conftest import start_centre

AT_ONCE = 12  # approvals sent together in each round
ROUNDS = 4
READ_DELAY_S = 0.02


def _payload(kind: str, n: int) -> dict:
    """A change that passes every rule, different for each ``n``."""
    if kind == "plan":
        return {"greens_s": [30 + n, 8, 30]}
    if kind == "mode":  # adaptive needs an optimizer, which these centres lack
        return {"mode": "manual"}
    return {"phases": [{"min_green_s": 8, "max_green_s": 90},
                       {"min_green_s": 6, "max_green_s": 90 - n},
                       {"min_green_s": 8, "max_green_s": 90}]}


def _approve_at_once(clients: list[httpx.Client], change_ids: list[int]) -> dict:
    """Approves each change through its own client, all released together."""
    start = threading.Barrier(len(change_ids))

    def approve(client: httpx.Client, change_id: int) -> httpx.Response:
        start.wait()
        return client.post(f"/api/plan-changes/{change_id}/approve", json={})

    with ThreadPoolExecutor(len(change_ids)) as pool:
        futures = {change_id: pool.submit(approve, client, change_id)
                   for client, change_id in zip(clients, change_ids, strict=True)}
    return {change_id: future.result() for change_id, future in futures.items()}


def _race(centres: list) -> None:
    """Rounds of simultaneous approvals spread over ``centres``; checks each round and
    then the audit chain of the whole run."""
    # One open connection per approval, so the requests leave together.
    clients = [centres[n % len(centres)].client("supervisor") for n in range(AT_ONCE)]
    operator = centres[0].client("operator")
    won = 0
    try:
        for client in clients:
            assert client.get("/api/plan-changes").status_code == 200
        for round_no in range(ROUNDS):
            version = operator.get("/api/junctions/TP").json()["config"]["version"]
            proposed = {}
            for n in range(AT_ONCE):
                kind = ("plan", "plan", "bounds", "mode")[(n + round_no) % 4]
                path = f"/api/junctions/TP/{kind}"
                response = operator.put(path, json=_payload(kind, n))
                assert response.status_code == 200, response.text
                change = response.json()
                assert change["config_version"] == version
                proposed[change["id"]] = change

            answers = _approve_at_once(clients, list(proposed))

            codes = sorted(r.status_code for r in answers.values())
            assert codes == [200] + [409] * (AT_ONCE - 1), codes
            winner = next(i for i, r in answers.items() if r.status_code == 200)
            won += 1
            for change_id, response in answers.items():
                if change_id == winner:
                    assert response.json()["status"] == "approved"
                    continue
                detail = response.json()["detail"]
                assert (f"plan change {change_id} was proposed against version {version} "
                        f"of junction TP's configuration; the junction is at version "
                        f"{version + 1}") in detail, detail
            for centre in centres:
                with centre.client("operator") as reader:
                    config = reader.get("/api/junctions/TP").json()["config"]
                    pending = {c["id"] for c in reader.get("/api/plan-changes").json()}
                assert (config["version"], config["change_id"]) == (version + 1, winner)
                kind, payload = proposed[winner]["kind"], proposed[winner]["payload"]
                if kind == "plan":
                    assert (config["mode"], config["greens_s"]) == ("manual",
                                                                    payload["greens_s"])
                elif kind == "bounds":
                    assert config["bounds"] == payload["bounds"]
                else:
                    assert config["mode"] == payload["mode"]
                assert pending == set(proposed) - {winner}
            for change_id in pending:
                rejected = clients[0].post(f"/api/plan-changes/{change_id}/reject",
                                           json={"reason": "lost the race"})
                assert rejected.status_code == 200, rejected.text
    finally:
        for client in (*clients, operator):
            client.close()

    for centre in centres:
        with centre.client("admin") as admin:
            entries = admin.get("/api/audit").json()
            check = admin.get("/api/audit/verify").json()
        assert check["ok"] is True, check
        approvals = [e for e in entries if e["action"].endswith(".approve")]
        assert len(approvals) == won == ROUNDS
        # Each approval entry moved the configuration on by exactly one version.
        assert [e["after"]["version"] - e["before"]["version"] for e in approvals] == \
            [1] * ROUNDS
        assert sorted(e["after"]["version"] for e in approvals) == list(
            range(1, ROUNDS + 1))


@pytest.fixture()
def memory_centre(tmp_path, monkeypatch):
    running, server = start_centre(tmp_path, None, run_field=False)
    # Reads in memory take microseconds, so unguarded approvals rarely overlap by
    # chance; reads as slow as a networked store's make any gap between a check and
    # its write show every time.
    records = running.centre.records
    read = records.get

    def slow_read(kind: str, key: str):
        time.sleep(READ_DELAY_S)
        return read(kind, key)

    monkeypatch.setattr(records, "get", slow_read)
    try:
        yield running
    finally:
        server.stop()


@pytest.fixture()
def two_centres_on_redis(tmp_path, redis_url, redis_client):
    users = UserDirectory.with_new_tokens(DEFAULT_PEOPLE)
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    first, first_server = start_centre(tmp_path / "a", None, redis_url, users=users,
                                       run_field=False)
    try:
        second, second_server = start_centre(tmp_path / "b", None, redis_url, users=users,
                                             run_field=False)
        try:
            yield first, second
        finally:
            second_server.stop()
    finally:
        first_server.stop()


def test_one_of_many_simultaneous_approvals_wins_in_memory(memory_centre):
    _race([memory_centre])


def test_one_of_many_simultaneous_approvals_wins_across_instances_on_redis(
        two_centres_on_redis):
    _race(list(two_centres_on_redis))
