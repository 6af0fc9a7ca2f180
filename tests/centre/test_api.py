"""The centre's API against a running centre: roles, refusals, approval, the field, audit."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from incidents.bus import EVENTS_STREAM
from incidents.messages import new_alert
from incidents.model import Category, EventType, IncidentEvent, Severity


def _wait_applied(running, change_id: int, timeout_s: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout_s
    with running.client("operator") as client:
        while time.monotonic() < deadline:
            history = client.get("/api/junctions/TP/plans").json()
            change = next(c for c in history if c["id"] == change_id)
            if change["status"] == "applied":
                return change
            time.sleep(0.2)
    raise AssertionError(f"change {change_id} was not applied within {timeout_s} s")


def test_requests_without_a_valid_token_are_refused(live_centre):
    """No token, or a made-up one, gets 401 on every read and write."""
    with live_centre.client() as client:
        assert client.get("/api/junctions").status_code == 401
        forged = client.put("/api/junctions/TP/plan", json={"greens_s": [30, 8, 30]},
                            headers={"Authorization": "Bearer not-a-real-token"})
    assert forged.status_code == 401
    assert "valid token" in forged.json()["detail"]


@pytest.mark.parametrize(("who", "method", "path", "body"), [
    pytest.param("police", "PUT", "/api/junctions/TP/plan", {"greens_s": [30, 8, 30]},
                 id="police-cannot-change-plans"),
    pytest.param("controller", "PUT", "/api/junctions/TP/plan", {"greens_s": [30, 8, 30]},
                 id="machine-cannot-change-plans"),
    pytest.param("admin", "PUT", "/api/junctions/TP/plan", {"greens_s": [30, 8, 30]},
                 id="admin-cannot-change-plans"),
    pytest.param("operator", "POST", "/api/plan-changes/1/approve", {},
                 id="operator-cannot-approve"),
    pytest.param("controller", "GET", "/api/incidents", None,
                 id="machine-cannot-read-incidents"),
    pytest.param("operator", "GET", "/api/audit", None, id="operator-cannot-read-audit"),
    pytest.param("operator", "POST", "/api/junctions/TP/state",
                 {"phase_index": 0, "stage": "green", "stage_elapsed_s": 1, "sim_time_s": 1},
                 id="people-cannot-push-field-state"),
])
def test_a_role_without_the_permission_is_refused(live_centre, who, method, path, body):
    """403 names the caller's role, what it may not do and who may."""
    with live_centre.client(who) as client:
        response = client.request(method, path, json=body)

    assert response.status_code == 403
    assert f"role {who} may not" in response.json()["detail"]


@pytest.mark.parametrize(("body", "loc", "kind"), [
    pytest.param({"greens_s": [3, 8, 30]}, ["body", "greens_s", 0], "safety.min_green",
                 id="below-min-green"),
    pytest.param({"greens_s": [30, 8, 91]}, ["body", "greens_s", 2], "safety.max_green",
                 id="above-max-green"),
    pytest.param({"greens_s": [30, 8.5, 30]}, ["body", "greens_s", 1],
                 "safety.whole_seconds", id="fractional-green"),
    pytest.param({"greens_s": [30, 8]}, ["body", "greens_s"], "safety.phase_count",
                 id="missing-phase"),
    pytest.param({"greens_s": [90, 90, 90]}, ["body", "greens_s"], "safety.cycle_length",
                 id="cycle-too-long"),
])
def test_a_plan_that_breaks_safety_rules_is_refused(live_centre, body, loc, kind):
    """Unsafe plans get 422 naming the field and the rule; nothing is filed."""
    with live_centre.client("supervisor") as client:
        before = len(client.get("/api/junctions/TP/plans").json())
        response = client.put("/api/junctions/TP/plan", json=body)
        after = len(client.get("/api/junctions/TP/plans").json())

    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert (problem["loc"], problem["type"]) == (loc, kind)
    assert after == before


@pytest.mark.parametrize(("body", "field"), [
    pytest.param({"greens_s": "thirty"}, "greens_s", id="not-a-list"),
    pytest.param({"greens": [30, 8, 30]}, "greens_s", id="misspelt-field"),
    pytest.param({"greens_s": [30, None, 30]}, "greens_s", id="null-green"),
])
def test_a_malformed_request_is_refused(live_centre, body, field):
    """Bodies of the wrong shape get 422 naming the field."""
    with live_centre.client("operator") as client:
        response = client.put("/api/junctions/TP/plan", json=body)

    assert response.status_code == 422
    assert field in response.json()["detail"][0]["loc"]


def test_unknown_junction_is_404(live_centre):
    with live_centre.client("operator") as client:
        response = client.put("/api/junctions/NOPE/plan", json={"greens_s": [30, 8, 30]})
    assert response.status_code == 404
    assert "NOPE" in response.json()["detail"]


def test_an_operator_plan_runs_only_after_a_supervisor_approves_it(live_centre):
    """Operator proposes, supervisor approves, the field runs it from a cycle boundary,
    and the audit log holds both steps with the state before and after."""
    greens = [28, 7, 27]
    with live_centre.client("operator") as operator:
        proposed = operator.put("/api/junctions/TP/plan",
                                json={"greens_s": greens, "note": "test"}).json()
    assert proposed["status"] == "pending"
    time.sleep(1.0)
    assert live_centre.wait_for_state("TP")["plan"]["greens_s"] != [float(g) for g in greens]

    with live_centre.client("supervisor") as supervisor:
        approved = supervisor.post(f"/api/plan-changes/{proposed['id']}/approve",
                                   json={"note": "ok"})
        again = supervisor.post(f"/api/plan-changes/{proposed['id']}/approve", json={})
    assert approved.json()["decided_by"] == "supervisor"
    assert again.status_code == 409

    applied = _wait_applied(live_centre, proposed["id"])
    state = live_centre.wait_for_state("TP")
    assert state["mode"] == "manual"
    assert state["plan"]["greens_s"] == [float(g) for g in greens]
    assert applied["applied_at_sim_s"] <= state["sim_time_s"]

    with live_centre.client("admin") as admin:
        entries = admin.get("/api/audit").json()
        check = admin.get("/api/audit/verify").json()
    mine = [e for e in entries if e["target"] in ("junction/TP", f"change/{proposed['id']}")]
    actions = [(e["actor"], e["action"]) for e in mine[-2:]]
    assert actions == [("operator", "plan.propose"), ("supervisor", "plan.approve")]
    assert mine[-1]["after"]["greens_s"] == [float(g) for g in greens]
    assert mine[-1]["before"]["greens_s"] != mine[-1]["after"]["greens_s"]
    assert check["ok"] is True and check["entries"] == len(entries)


def test_a_rejected_change_never_reaches_the_field(live_centre):
    with live_centre.client("operator") as operator:
        proposed = operator.put("/api/junctions/TP/plan", json={"greens_s": [40, 8, 40]}).json()
    with live_centre.client("supervisor") as supervisor:
        short = supervisor.post(f"/api/plan-changes/{proposed['id']}/reject",
                                json={"reason": ""})
        rejected = supervisor.post(f"/api/plan-changes/{proposed['id']}/reject",
                                   json={"reason": "peak hour"}).json()
    assert short.status_code == 422
    assert rejected["status"] == "rejected"
    time.sleep(2.0)
    assert live_centre.wait_for_state("TP")["plan"]["greens_s"] != [40.0, 8.0, 40.0]


def _field_has_run(live_centre, junction_id: str, field_s: float) -> None:
    """Waits until the field's own clock at the junction has passed ``field_s``."""
    hub = live_centre.centre.hub
    deadline = time.monotonic() + 60
    while hub.field_time_s.get(junction_id, 0.0) < field_s:
        assert time.monotonic() < deadline, f"the field did not reach {field_s:g} s"
        time.sleep(0.5)


def test_preview_runs_both_plans_on_recent_demand(live_centre):
    """The preview simulates the same vehicles under the current and proposed plan."""
    _field_has_run(live_centre, "TP", 300)
    with live_centre.client("operator") as client:
        response = client.post("/api/junctions/TP/plan/preview",
                               json={"greens_s": [45, 8, 45], "window_s": 300})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["trips"] > 50
    assert result["current"]["trips"] == result["candidate"]["trips"] == result["trips"]
    assert result["candidate"]["greens_s"] == [45.0, 8.0, 45.0]
    assert result["current"]["mean_time_loss_s"] > 0
    assert result["delay_change_s"] == pytest.approx(
        result["candidate"]["mean_time_loss_s"] - result["current"]["mean_time_loss_s"])


def test_preview_refuses_an_unsafe_plan_before_simulating(live_centre):
    with live_centre.client("operator") as client:
        response = client.post("/api/junctions/TP/plan/preview", json={"greens_s": [1, 8, 30]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "safety.min_green"


def test_the_event_stream_delivers_live_state(live_centre):
    """Server-sent events carry junction state with a simulated clock that moves."""
    times = []
    with live_centre.client("police") as client, client.stream("GET", "/api/stream") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "state":
                times.append(json.loads(line[6:])["sim_time_s"])
                if len(times) >= 6:
                    break
    assert times[-1] > times[0]


def test_incidents_from_the_bus_can_be_read_and_acknowledged(live_centre):
    """An alert on the incident bus reaches the board; police read it, an operator
    acknowledges it once, and the acknowledgement is audited."""
    event = IncidentEvent(
        event_type=EventType.RED_LIGHT, junction_id="TP", approach_id="DK_S2TP",
        time_utc="2026-12-04T07:10:00.000+00:00", latitude=10.95, longitude=106.84,
        vehicle_class="motorcycle", track_id="m17", device_id="sumo",
        signal_state={"DK_S2TP:through": "r"}, phase=3, severity=Severity.MODERATE,
        category=Category.VIOLATION, possible_injury=False)
    live_centre.bus.publish(EVENTS_STREAM, new_alert(event, "nhip-test").to_fields())

    deadline = time.monotonic() + 10
    with live_centre.client("police") as police:
        while time.monotonic() < deadline:
            listed = police.get("/api/incidents").json()
            found = [i for i in listed if i["id"] == event.event_id]
            if found:
                break
            time.sleep(0.1)
        assert found and found[0]["status"] == "open"
        assert police.post(f"/api/incidents/{event.event_id}/ack", json={}).status_code == 403
    with live_centre.client("operator") as operator:
        first = operator.post(f"/api/incidents/{event.event_id}/ack", json={"note": "seen"})
        second = operator.post(f"/api/incidents/{event.event_id}/ack", json={})
    assert first.json()["acknowledged_by"] == "operator"
    assert second.status_code == 409
    with live_centre.client("admin") as admin:
        last = admin.get("/api/audit").json()[-1]
    assert (last["action"], last["target"]) == ("incident.acknowledge",
                                                f"incident/{event.event_id}")


def test_a_field_controller_can_report_state(live_centre):
    with live_centre.client("operator") as client:
        groups = [g["id"] for a in client.get("/api/junctions/TP").json()["approaches"]
                  for g in a["groups"]]
    signals = {**dict.fromkeys(groups, "r"), "NAQ_E2TP:through": "y"}
    report = {"phase_index": 2, "stage": "yellow", "stage_elapsed_s": 1.0, "sim_time_s": 5.0,
              "signals": signals, "queues_m": {"NAQ_E2TP": 12.5}}
    with live_centre.client("controller") as controller:
        accepted = controller.post("/api/junctions/TP/state", json=report)
        bad = controller.post("/api/junctions/TP/state", json={**report, "phase_index": 9})
    assert accepted.status_code == 202
    assert bad.status_code == 422


def test_metrics_and_openapi_describe_the_service(live_centre):
    with live_centre.client() as client:
        metrics = client.get("/metrics").text
        spec = client.get("/openapi.json").json()
    assert 'route="/api/junctions/{junction_id}/plan"' in metrics
    assert "nhip_centre_dashboard_streams" in metrics
    for path in ("/api/junctions/{junction_id}/plan", "/api/plan-changes/{change_id}/approve",
                 "/api/junctions/{junction_id}/plan/preview", "/api/incidents",
                 "/api/audit/verify", "/api/stream"):
        assert path in spec["paths"], path
    plan_put = spec["paths"]["/api/junctions/{junction_id}/plan"]["put"]
    assert {"403", "422"} <= set(plan_put["responses"])


def test_bounds_then_schedule_then_adaptive_again(live_centre):
    """Bounds narrow later plans; a schedule runs its entry in force; adaptive returns."""
    bounds = [{"min_green_s": 10, "max_green_s": 40}, {"min_green_s": 6, "max_green_s": 12},
              {"min_green_s": 10, "max_green_s": 40}]
    with live_centre.client("supervisor") as supervisor:
        set_bounds = supervisor.put("/api/junctions/TP/bounds", json={"phases": bounds})
        too_long = supervisor.put("/api/junctions/TP/plan", json={"greens_s": [45, 8, 30]})
        schedule = supervisor.put("/api/junctions/TP/schedule", json={"entries": [
            {"start": "00:00", "greens_s": [26, 8, 24]}]}).json()
    assert set_bounds.json()["status"] == "approved"
    assert (too_long.status_code, too_long.json()["detail"][0]["type"]) == (
        422, "safety.max_green")

    _wait_applied(live_centre, schedule["id"])
    # The bounds went out with the schedule's command if no cycle boundary came between.
    _wait_applied(live_centre, set_bounds.json()["id"])
    state = live_centre.wait_for_state("TP")
    assert (state["mode"], state["plan"]["greens_s"]) == ("manual", [26.0, 8.0, 24.0])

    with live_centre.client("supervisor") as supervisor:
        back = supervisor.put("/api/junctions/TP/mode", json={"mode": "adaptive"}).json()
    _wait_applied(live_centre, back["id"])
    assert live_centre.wait_for_state("TP")["mode"] == "adaptive"


def test_an_optimizer_proposal_waits_for_a_supervisor(live_centre):
    with live_centre.client("operator") as operator:
        response = operator.post("/api/junctions/TP/proposals/optimizer")
    assert response.status_code == 200, response.text
    proposal = response.json()
    assert (proposal["origin"], proposal["status"]) == ("optimizer", "pending")
    assert len(proposal["payload"]["greens_s"]) == 3
    with live_centre.client("supervisor") as supervisor:
        rejected = supervisor.post(f"/api/plan-changes/{proposal['id']}/reject",
                                   json={"reason": "keep the schedule"}).json()
    assert rejected["status"] == "rejected"


def test_preview_replays_only_traffic_the_field_has_seen(live_centre):
    """The window ends at the field's own clock, whatever a field controller reports, and
    the preview leaves no files behind."""
    tp = [g.id for g in live_centre.centre.desk.layout("TP").groups]
    _field_has_run(live_centre, "TP", 120)  # two minutes of field time: traffic to replay
    with live_centre.client("controller") as client:
        wild = client.post("/api/junctions/TP/state", json={
            "sim_time_s": 1e9, "phase_index": 0, "stage": "green", "stage_elapsed_s": 1.0,
            "signals": {g: "r" for g in tp}})
    assert wild.status_code == 202, wild.text
    field_now = live_centre.centre.hub.field_time_s["TP"]
    assert field_now < 1e6
    with live_centre.client("operator") as client:
        # The configured greens fit whatever bounds earlier tests left on TP.
        greens = client.get("/api/junctions/TP").json()["config"]["greens_s"]
        response = client.post("/api/junctions/TP/plan/preview",
                               json={"greens_s": greens, "window_s": 1800})
    assert response.status_code == 200, response.text
    result = response.json()
    end = result["window_end_s"]
    assert field_now <= end < field_now + 60
    assert result["window_start_s"] == max(0.0, end - 1800)
    assert result["window_s"] == pytest.approx(end - result["window_start_s"])
    assert result["window_asked_s"] == 1800
    assert result["trips"] > 0
    assert not list((live_centre.centre.settings.workdir / "preview").glob("*"))
    # The chart kept following the field's clock, not the report's.
    with live_centre.client("operator") as client:
        chart = client.get("/api/junctions/TP/chart").json()
    assert max(point["sim_time_s"] for point in chart) < 1e6


def test_recent_trips_stop_at_the_window_end(tmp_path):
    from centre.preview import recent_trips

    routes = tmp_path / "field.rou.xml"
    routes.write_text("<routes>\n" + "\n".join(
        f'    <trip id="t{t}" type="car" depart="{t}.00" from="a" to="b"/>'
        for t in range(0, 1000, 10)) + "\n</routes>\n")
    out = tmp_path / "recent.rou.xml"

    assert recent_trips(routes, 300.0, 600.0, out) == 30  # 0..290, none still to come
    departs = [float(line.split('depart="')[1].split('"')[0])
               for line in out.read_text().splitlines() if "<trip" in line]
    assert departs[0] == 0.0 and departs[-1] == 290.0
    assert recent_trips(routes, 900.0, 200.0, out) == 20  # 700..890, shifted to 0..190
    assert "depart=\"190.00\"" in out.read_text()


def test_a_preview_whose_asker_leaves_is_stopped(live_centre):
    """An abandoned preview frees the one preview slot at once, not at its end."""
    _field_has_run(live_centre, "TP", 600)
    with live_centre.client("operator") as client:
        greens = client.get("/api/junctions/TP").json()["config"]["greens_s"]
    with live_centre.client("operator") as client:
        whole = client.post("/api/junctions/TP/plan/preview",
                            json={"greens_s": greens, "window_s": 1800}).json()
    # A whole preview takes longer than the asker below waits plus the slack allowed.
    assert whole["wall_s"] > 1.3
    lock = live_centre.centre.preview_lock
    with live_centre.client("operator") as client:
        client.timeout = httpx.Timeout(0.3)
        with pytest.raises(httpx.ReadTimeout):
            client.post("/api/junctions/TP/plan/preview",
                        json={"greens_s": greens, "window_s": 1800})
    left_at = time.monotonic()
    while not lock.acquire(blocking=False):
        assert time.monotonic() - left_at < 1.0, "the abandoned preview kept running"
        time.sleep(0.1)
    lock.release()
    assert not list((live_centre.centre.settings.workdir / "preview").glob("*"))
