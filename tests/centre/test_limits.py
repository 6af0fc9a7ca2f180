"""Limits over HTTP: body size, quoted input, what a field controller may report."""

from __future__ import annotations

import json
import time

import pytest

from centre.service import CentreSettings

LIMIT = 1 << 20
STATE = {"phase_index": 0, "stage": "green", "stage_elapsed_s": 1.0, "sim_time_s": 5.0}


def _tp_groups(client) -> list[str]:
    return [g["id"] for a in client.get("/api/junctions/TP").json()["approaches"]
            for g in a["groups"]]


def _big_plan(size: int) -> bytes:
    body = json.dumps({"greens_s": [30, 8, 30], "note": "x" * size}).encode()
    assert len(body) > size
    return body


def test_a_body_over_the_limit_is_refused_before_the_token_is_checked(live_centre):
    """Content-Length over the limit: 413 naming the size and the limit, at once."""
    body = _big_plan(3 * LIMIT)
    with live_centre.client() as client:
        started = time.monotonic()
        response = client.put("/api/junctions/TP/plan", content=body,
                              headers={"Content-Type": "application/json"})
        elapsed = time.monotonic() - started
    assert response.status_code == 413, response.text[:200]
    assert response.json()["detail"] == (f"the request body of {len(body)} bytes is over "
                                         f"the limit of {LIMIT} bytes")
    assert elapsed < 1.0


def test_a_chunked_body_is_cut_off_at_the_limit(live_centre):
    """Without a Content-Length the bytes are counted as they come; nothing is filed."""
    body = _big_plan(2 * LIMIT)

    def chunks():
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    with live_centre.client("operator") as client:
        before = len(client.get("/api/junctions/TP/plans").json())
        response = client.put("/api/junctions/TP/plan", content=chunks(),
                              headers={"Content-Type": "application/json"})
    with live_centre.client("operator") as client:
        after = len(client.get("/api/junctions/TP/plans").json())
    assert response.status_code == 413, response.text[:200]
    assert f"over the limit of {LIMIT} bytes" in response.json()["detail"]
    assert after == before


def test_a_body_under_the_limit_is_still_read(live_centre):
    with live_centre.client("operator") as client:
        response = client.post("/api/junctions/TP/plan/preview",
                               content=_big_plan(LIMIT - 100),
                               headers={"Content-Type": "application/json"})
    # The preview has no note: the body was parsed and its extra field ignored.
    assert response.status_code != 413


def test_the_body_limit_is_configurable(monkeypatch):
    monkeypatch.setenv("NHIP_MAX_BODY_BYTES", "4096")
    assert CentreSettings.from_env().max_body_bytes == 4096
    monkeypatch.setenv("NHIP_MAX_BODY_BYTES", "10")
    with pytest.raises(ValueError, match="at least 1024"):
        CentreSettings.from_env()


@pytest.mark.parametrize(("path", "body", "loc"), [
    pytest.param("/api/junctions/TP/plan", {"greens_s": [30, 8, 30], "note": "n" * 600_000},
                 ["body", "note"], id="long-note"),
    pytest.param("/api/junctions/TP/schedule",
                 {"entries": [{"start": "0" * 50_000, "greens_s": [30, 8, 30]}]},
                 ["body", "entries", 0, "start"], id="long-start"),
])
def test_a_long_string_is_refused_quoting_only_its_start(live_centre, path, body, loc):
    with live_centre.client("operator") as client:
        response = client.put(path, json=body)
    assert response.status_code == 422
    assert len(response.content) < 1000
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (loc, "string_too_long")
    assert problem["input"].endswith("characters)")
    assert len(problem["input"]) < 100


def test_a_long_list_is_refused_without_echoing_it(live_centre):
    with live_centre.client("operator") as client:
        response = client.put("/api/junctions/TP/plan", json={"greens_s": [30] * 50_000})
    assert response.status_code == 422
    assert len(response.content) < 1000
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "greens_s"], "too_long")


@pytest.mark.parametrize("path", ["/api/junctions/{id}", "/api/junctions/{id}/plans"])
def test_an_unknown_long_junction_id_is_quoted_short(live_centre, path):
    long_id = "J" * 10_000
    with live_centre.client("operator") as client:
        response = client.get(path.format(id=long_id))
    assert response.status_code == 404
    detail = response.json()["detail"]
    assert detail == f"no junction {'J' * 64!r}... (10000 characters)"


def test_an_unknown_long_incident_id_is_quoted_short(live_centre):
    with live_centre.client("operator") as client:
        response = client.post(f"/api/incidents/{'i' * 10_000}/ack", json={})
    assert response.status_code == 404
    assert len(response.json()["detail"]) < 120


def test_a_report_naming_groups_the_junction_lacks_is_refused(live_centre):
    with live_centre.client("controller") as controller:
        groups = _tp_groups(controller)
        signals = {**dict.fromkeys(groups, "r"), "<script>alert(1)</script>": "G",
                   "bogus": "G"}
        response = controller.post("/api/junctions/TP/state",
                                   json={**STATE, "signals": signals})
    assert response.status_code == 422
    problems = response.json()["detail"]
    assert [(p["loc"], p["type"]) for p in problems] == [
        (["body", "signals", "<script>alert(1)</script>"], "safety.signal_group"),
        (["body", "signals", "bogus"], "safety.signal_group")]
    assert "junction TP has no signal group 'bogus'" in problems[1]["msg"]


@pytest.mark.parametrize("signals", [{}, None], ids=["empty", "left-out"])
def test_a_report_must_give_every_signal_group(live_centre, signals):
    with live_centre.client("controller") as controller:
        groups = _tp_groups(controller)
        body = {**STATE, "signals": signals} if signals is not None else STATE
        response = controller.post("/api/junctions/TP/state", json=body)
        partial = controller.post("/api/junctions/TP/state", json={
            **STATE, "signals": dict.fromkeys(groups[1:], "r")})
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "signals"], "safety.every_group")
    assert groups[-1] in problem["msg"]
    assert partial.status_code == 422
    assert partial.json()["detail"][0]["msg"].endswith(f"missing: {groups[0]}")


def test_a_signal_letter_outside_the_alphabet_is_refused(live_centre):
    with live_centre.client("controller") as controller:
        groups = _tp_groups(controller)
        signals = {**dict.fromkeys(groups, "r"), groups[0]: "X"}
        response = controller.post("/api/junctions/TP/state",
                                   json={**STATE, "signals": signals})
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "signals", groups[0]],
                                                 "literal_error")


def test_a_controller_reports_only_for_the_junctions_it_serves(live_centre):
    """controller-cs1 serves CS1 only: its report for TP is refused naming TP."""
    with live_centre.client("controller-cs1") as controller:
        me = controller.get("/api/me").json()
        signals = dict.fromkeys(_tp_groups(controller), "r")
        response = controller.post("/api/junctions/TP/state",
                                   json={**STATE, "signals": signals})
    with live_centre.client("controller") as controller:
        everywhere = controller.get("/api/me").json()
    assert me["junctions"] == ["CS1"]
    assert everywhere["junctions"] is None
    assert response.status_code == 403
    assert response.json()["detail"] == ("controller controller-cs1 does not serve "
                                         "junction TP (it serves: CS1)")
