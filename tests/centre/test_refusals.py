"""Refusals over HTTP: bad numbers, impossible bounds, stale approvals, unsafe reports."""

from __future__ import annotations

import json
import time

import pytest

TP_LIMITS = [{"min_green_s": 8, "max_green_s": 90}, {"min_green_s": 6, "max_green_s": 90},
             {"min_green_s": 8, "max_green_s": 90}]
STATE = {"phase_index": 0, "stage": "green", "stage_elapsed_s": 1.0, "sim_time_s": 5.0}
TP_GROUPS = [f"{approach}:{turn}"
             for approach in ("DK_N2TP", "NAQ_E2TP", "DK_S2TP", "NAQ_W2TP")
             for turn in ("right", "through", "left")]


def _signals(**shown: str) -> dict[str, str]:
    """Every TP group red but those given (``DK_S2TP__through="G"``)."""
    signals = dict.fromkeys(TP_GROUPS, "r")
    signals.update({name.replace("__", ":"): colour for name, colour in shown.items()})
    return signals


def _strict_json(text: str):
    """Parses JSON as a browser does: NaN and Infinity are errors, not numbers."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def _send(client, method: str, path: str, raw: str):
    return client.request(method, path, content=raw.encode(),
                          headers={"Content-Type": "application/json"})


def _tp(client) -> dict:
    return client.get("/api/junctions/TP").json()


@pytest.mark.parametrize(("who", "method", "path", "raw", "loc"), [
    pytest.param("supervisor", "PUT", "/api/junctions/TP/bounds",
                 '{"phases": [{"min_green_s": NaN, "max_green_s": 40}, '
                 '{"min_green_s": 6, "max_green_s": 10}, '
                 '{"min_green_s": 8, "max_green_s": 40}]}',
                 ["body", "phases", 0, "min_green_s"], id="nan-bound"),
    pytest.param("supervisor", "PUT", "/api/junctions/TP/plan",
                 '{"greens_s": [30, Infinity, 30]}', ["body", "greens_s", 1],
                 id="infinite-green"),
    pytest.param("operator", "POST", "/api/junctions/TP/plan/preview",
                 '{"greens_s": [30, 8, 30], "window_s": NaN}', ["body", "window_s"],
                 id="nan-window"),
    pytest.param("controller", "POST", "/api/junctions/TP/state",
                 json.dumps({**STATE, "stage_elapsed_s": "X"}).replace('"X"', "-Infinity"),
                 ["body", "stage_elapsed_s"], id="minus-infinite-elapsed"),
    pytest.param("controller", "POST", "/api/junctions/TP/state",
                 json.dumps({**STATE, "stage_elapsed_s": "X"}).replace('"X"', "Infinity"),
                 ["body", "stage_elapsed_s"], id="infinite-elapsed"),
    pytest.param("controller", "POST", "/api/junctions/TP/state",
                 json.dumps({**STATE, "queues_m": {"NAQ_E2TP": "X"}}).replace('"X"', "NaN"),
                 ["body", "queues_m", "NAQ_E2TP"], id="nan-queue"),
    pytest.param("supervisor", "PUT", "/api/junctions/TP/plan", '{"greens": [NaN, 8, 30]}',
                 ["body", "greens_s"], id="misspelt-field-beside-nan"),
])
def test_non_finite_numbers_are_refused_naming_the_field(live_centre, who, method, path,
                                                         raw, loc):
    """NaN and Infinity get 422 naming the field, in an answer that is valid JSON itself
    and never echoes the number; nothing is filed."""
    with live_centre.client(who) as client:
        before = len(client.get("/api/junctions/TP/plans").json())
        response = _send(client, method, path, raw)
        after = len(client.get("/api/junctions/TP/plans").json())

    assert response.status_code == 422, response.text
    problem = _strict_json(response.text)["detail"][0]
    assert problem["loc"] == loc
    assert problem["type"] in ("finite_number", "missing")
    assert "input" not in problem
    assert after == before


@pytest.mark.parametrize(("who", "path", "body", "loc", "kind"), [
    pytest.param("operator", "/api/junctions/TP/plan", {"greens_s": ["30", 8, 30]},
                 ["body", "greens_s", 0], "float_type", id="green-as-string"),
    pytest.param("operator", "/api/junctions/TP/plan", {"greens_s": [30, True, 30]},
                 ["body", "greens_s", 1], "float_type", id="green-as-boolean"),
    pytest.param("operator", "/api/junctions/TP/bounds",
                 {"phases": [{"min_green_s": "10", "max_green_s": 40}, *TP_LIMITS[1:]]},
                 ["body", "phases", 0, "min_green_s"], "float_type", id="bound-as-string"),
    pytest.param("operator", "/api/junctions/TP/schedule",
                 {"entries": [{"start": "06:30", "greens_s": [30, 8, False]}]},
                 ["body", "entries", 0, "greens_s", 2], "float_type",
                 id="schedule-green-as-boolean"),
    pytest.param("controller", "/api/junctions/TP/state", {**STATE, "phase_index": "1"},
                 ["body", "phase_index"], "int_type", id="phase-index-as-string"),
])
def test_numbers_must_be_json_numbers(live_centre, who, path, body, loc, kind):
    """A string or a boolean is never taken for a number of seconds."""
    with live_centre.client(who) as client:
        method = "POST" if path.endswith("/state") else "PUT"
        response = client.request(method, path, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (loc, kind)


@pytest.mark.parametrize("start", ["06:30\n", "06:30\r\n"])
def test_a_schedule_start_with_a_trailing_newline_is_refused(live_centre, start):
    with live_centre.client("operator") as operator:
        before = len(operator.get("/api/junctions/TP/plans").json())
        response = operator.put("/api/junctions/TP/schedule", json={
            "entries": [{"start": start, "greens_s": [30, 8, 30]}]})
        after = len(operator.get("/api/junctions/TP/plans").json())
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "entries", 0, "start"],
                                                 "safety.clock_time")
    assert after == before


def test_bounds_whose_minimum_greens_overflow_the_longest_cycle_are_refused(live_centre):
    """TP's minimum greens 60+40+60 s and 15 s of yellow and all-red make 175 s, above
    its 150 s maximum cycle; the bounds in force stay as they were."""
    body = {"phases": [{"min_green_s": 60, "max_green_s": 90},
                       {"min_green_s": 40, "max_green_s": 90},
                       {"min_green_s": 60, "max_green_s": 90}]}
    with live_centre.client("supervisor") as supervisor:
        before = _tp(supervisor)["config"]
        response = supervisor.put("/api/junctions/TP/bounds", json=body)
        after = _tp(supervisor)["config"]

    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "phases"], "safety.cycle_length")
    assert "175 s cycle" in problem["msg"] and "maximum cycle 150 s" in problem["msg"]
    assert after == before


def test_approval_checks_an_old_change_against_the_bounds_now_in_force(live_centre):
    """A plan proposed before a supervisor narrowed the bounds is refused on approval
    with the safety rule it now breaks, and stays pending; nothing reaches the config."""
    with live_centre.client("supervisor") as supervisor:
        earlier_bounds = _tp(supervisor)["config"]["bounds"]
        # In adaptive mode no manual plan runs that the narrowed bounds could exclude.
        adaptive = supervisor.put("/api/junctions/TP/mode", json={"mode": "adaptive"})
        assert adaptive.status_code == 200, adaptive.text
    with live_centre.client("operator") as operator:
        proposed = operator.put("/api/junctions/TP/plan", json={"greens_s": [30, 8, 30]})
    assert proposed.status_code == 200, proposed.text
    change_id = proposed.json()["id"]
    try:
        with live_centre.client("supervisor") as supervisor:
            narrowed = supervisor.put("/api/junctions/TP/bounds", json={"phases": [
                {"min_green_s": 40, "max_green_s": 60}, *TP_LIMITS[1:]]})
            assert narrowed.json()["status"] == "approved", narrowed.text
            config_before = _tp(supervisor)["config"]
            response = supervisor.post(f"/api/plan-changes/{change_id}/approve", json={})
            config_after = _tp(supervisor)["config"]
            pending = supervisor.get("/api/plan-changes").json()

        assert response.status_code == 422
        problem = response.json()["detail"][0]
        assert problem["loc"] == ["change", change_id, "payload", "greens_s", 0]
        assert problem["type"] == "safety.min_green"
        assert "below its minimum 40 s" in problem["msg"]
        assert "stays pending" in problem["msg"]
        assert config_after == config_before
        assert config_after["bounds"][0] == [40.0, 60.0]
        assert [c["status"] for c in pending if c["id"] == change_id] == ["pending"]
    finally:
        with live_centre.client("supervisor") as supervisor:
            supervisor.post(f"/api/plan-changes/{change_id}/reject",
                            json={"reason": "test over"})
            restore = [{"min_green_s": lo, "max_green_s": hi}
                       for lo, hi in (earlier_bounds or
                                      [(b["min_green_s"], b["max_green_s"])
                                       for b in TP_LIMITS])]
            supervisor.put("/api/junctions/TP/bounds", json={"phases": restore})


def test_a_report_of_conflicting_greens_raises_an_alarm(live_centre):
    """Two conflicting signal groups green together are accepted as what the street
    shows, but the answer, the state and an alarm event on the stream name them."""
    clash = {**STATE, "signals": _signals(DK_S2TP__through="G", NAQ_E2TP__through="G")}
    # A left turn that yields to the opposing through movement is no conflict.
    yielding = {**STATE, "signals": _signals(DK_S2TP__through="G", DK_N2TP__left="G")}
    alarms = []
    with live_centre.client("operator") as reader, \
            reader.stream("GET", "/api/stream") as stream, \
            live_centre.client("controller") as controller:
        fine = controller.post("/api/junctions/TP/state", json=yielding)
        flagged = controller.post("/api/junctions/TP/state", json=clash)
        deadline = time.monotonic() + 20
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "alarm":
                alarms.append(_strict_json(line[6:]))
                break
            if time.monotonic() > deadline:
                break
    with live_centre.client() as client:
        metrics = client.get("/metrics").text

    assert (fine.status_code, fine.json()["conflicts"]) == (202, [])
    assert flagged.status_code == 202
    assert flagged.json()["conflicts"] == [["DK_S2TP:through", "NAQ_E2TP:through"]]
    assert len(alarms) == 1
    assert (alarms[0]["junction_id"], alarms[0]["rule"]) == ("TP", "conflict")
    assert alarms[0]["conflicts"] == [["DK_S2TP:through", "NAQ_E2TP:through"]]
    assert "nhip_centre_conflict_alarms_total 1" in metrics


def test_audit_verify_names_the_store_it_read(live_centre):
    with live_centre.client("admin") as admin:
        check = admin.get("/api/audit/verify").json()
    assert check["store"] == "memory"
    assert check["ok"] is True


def test_approving_a_change_proposed_before_newer_approvals_is_refused(live_centre):
    """A change proposed at one configuration version cannot be approved once another
    change moved the junction on: 409 naming both versions, the change stays pending and
    the newer plan keeps running."""
    with live_centre.client("operator") as operator:
        old = operator.put("/api/junctions/TP/plan", json={"greens_s": [30, 8, 30]}).json()
    with live_centre.client("supervisor") as supervisor:
        newer = supervisor.put("/api/junctions/TP/plan", json={"greens_s": [29, 8, 29]})
        assert newer.json()["status"] == "approved", newer.text
        config_before = _tp(supervisor)["config"]
        response = supervisor.post(f"/api/plan-changes/{old['id']}/approve", json={})
        config_after = _tp(supervisor)["config"]
        pending = [c["id"] for c in supervisor.get("/api/plan-changes").json()]
        supervisor.post(f"/api/plan-changes/{old['id']}/reject", json={"reason": "stale"})

    assert old["config_version"] == config_before["version"] - 1
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert (f"proposed against version {old['config_version']} of junction TP's "
            f"configuration; the junction is at version {config_before['version']}"
            in detail)
    assert "stays pending" in detail and "propose again" in detail
    assert config_after == config_before
    assert config_after["greens_s"] == [29.0, 8.0, 29.0]
    assert old["id"] in pending


def test_bounds_that_exclude_the_running_plan_are_refused(live_centre):
    """Bounds the running manual plan breaks get 422 naming the phase and its green;
    in adaptive mode they pass, and then a switch to that manual plan is refused."""
    narrow = [{"min_green_s": 10, "max_green_s": 20}, *TP_LIMITS[1:]]
    with live_centre.client("supervisor") as supervisor:
        plan = supervisor.put("/api/junctions/TP/plan", json={"greens_s": [30, 8, 30]})
        assert plan.json()["status"] == "approved", plan.text
        config_before = _tp(supervisor)["config"]
        refused = supervisor.put("/api/junctions/TP/bounds", json={"phases": narrow})
        config_after = _tp(supervisor)["config"]
        adaptive = supervisor.put("/api/junctions/TP/mode", json={"mode": "adaptive"})
        in_adaptive = supervisor.put("/api/junctions/TP/bounds", json={"phases": narrow})
        to_manual = supervisor.put("/api/junctions/TP/mode", json={"mode": "manual"})
        supervisor.put("/api/junctions/TP/bounds", json={"phases": TP_LIMITS})

    assert refused.status_code == 422
    problem = refused.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "phases", 0, "max_green_s"],
                                                 "safety.running_plan")
    assert "phase p0 30 s of green, outside the bounds' maximum 20 s" in problem["msg"]
    assert config_after == config_before
    assert adaptive.json()["status"] == "approved", adaptive.text
    assert in_adaptive.json()["status"] == "approved", in_adaptive.text
    assert to_manual.status_code == 422
    problem = to_manual.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (["body", "mode"], "safety.running_plan")
