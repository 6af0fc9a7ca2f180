"""Phase-decision control on the real Tân Phong junction, over a real gRPC socket."""

from __future__ import annotations

import logging

import grpc
import pytest

from controller.decider import GrpcDecider, request_message
from controller.plans import registration
from nhip.simulation import RunSpec, read_layouts, run
from controller import realtime
from optimizer.decision import DecisionRequest, GroupState, PhaseBounds, decide
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc
from sumo_networks import scenario
from sumo_networks.demand import write_routes
from tests.helpers import record_local_decisions

SCENARIO = scenario("tan_phong")
SHORT_S = 600.0


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    path = tmp_path_factory.mktemp("routes") / "short.rou.xml"
    write_routes(SCENARIO.demand_spec(), path, SHORT_S, seed=7)
    return path


def test_decisions_come_from_the_optimizer(optimizer, routes, tmp_path) -> None:
    spec = RunSpec("realtime", SCENARIO.net_file, routes, SCENARIO.tls_ids, SHORT_S, 7,
                   tmp_path, optimizer.address, namespace="realtime-test/")

    result = run(spec)

    stats, decisions = result["optimizer"], result["decisions"]
    assert stats["failures"] == 0 and decisions["local"] == 0
    # A decision every 2 s of green once its minimum is served: about a hundred greens
    # in ten minutes, most of them a few decisions long.
    assert stats["decisions"] > 60
    assert stats["decisions"] == sum(decisions["by_binding"].values())
    assert decisions["by_binding"].get("pressure", 0) > 30
    assert result["vehicles_served"] == result["trips"] > 300
    assert result["teleports"] == 0
    assert 0 < result["mean_time_loss_s"] < 60


def test_without_the_optimizer_the_junction_decides_locally(routes, tmp_path, caplog) -> None:
    # Nothing listens on port 9 of loopback.
    spec = RunSpec("realtime", SCENARIO.net_file, routes, SCENARIO.tls_ids, 300.0, 7,
                   tmp_path, "127.0.0.1:9")

    with caplog.at_level(logging.WARNING, logger="nhip.controller"):
        result = run(spec)

    assert result["optimizer"]["decisions"] == 0
    assert result["decisions"]["local"] > 50
    assert result["vehicles_served"] > 100 and result["teleports"] == 0
    warned = [r for r in caplog.records if "deciding locally" in r.getMessage()]
    assert 1 <= len(warned) <= 3  # once per outage (and per hundred), not per decision


def _request(current: int, elapsed: float) -> DecisionRequest:
    layout = read_layouts(SCENARIO.net_file, SCENARIO.tls_ids)[0]
    bounds = tuple(PhaseBounds(p.group_ids, p.min_green_s, p.max_green_s, p.yellow_s,
                               p.all_red_s, p.permissive_group_ids) for p in layout.phases)
    groups = {g.id: GroupState(g.id, queue_pcu=12.0 if g.id.startswith("DK") else 0.0,
                               lanes=g.lanes) for g in layout.groups}
    return layout, DecisionRequest(bounds, groups, current, elapsed)


def test_an_emergency_corridor_takes_the_next_decision_and_then_lets_go(optimizer) -> None:
    layout, request = _request(current=0, elapsed=20.0)
    junction_id = "corridor-test/TP"
    with grpc.insecure_channel(optimizer.address) as channel:
        stub = pb_grpc.SignalOptimizerStub(channel)
        decider = GrpcDecider(optimizer.address, junction_id, channel=channel)
        decider.register(layout)
        assert decider(request).hold  # the busy north-south green holds

        stub.RequestCorridor(pb.CorridorRequest(
            corridor_id="amb-1", duration_s=120, incident_id="115-42",
            steps=[pb.CorridorStep(junction_id=junction_id, signal_group_id="NAQ_E2TP:through",
                                   eta_s=30)]))
        answer = stub.DecidePhase(request_message(junction_id, request))
        assert (answer.hold, answer.next_phase, answer.binding) == (False, 2, "priority")
        assert "phase 3" in answer.reason
        # A controller that restarts registers again: the corridor still holds.
        decider.register(layout)
        again = stub.DecidePhase(request_message(junction_id, request))
        assert (again.next_phase, again.binding) == (2, "priority")

        stub.CancelCorridor(pb.CancelCorridorRequest(corridor_id="amb-1"))
        assert decider(request).hold


def test_a_bad_decision_request_is_refused_naming_the_field(optimizer) -> None:
    _, request = _request(current=1, elapsed=3.0)
    message = request_message("bad/TP", request)
    message.groups[2].arriving_pcu = float("inf")
    with grpc.insecure_channel(optimizer.address) as channel:
        with pytest.raises(grpc.RpcError) as refused:
            pb_grpc.SignalOptimizerStub(channel).DecidePhase(message, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "groups[2].arriving_pcu" in refused.value.details()


def test_width_based_saturation_follows_the_motorcycle_mix(routes, tmp_path, monkeypatch) -> None:
    seen: dict[str, list[float]] = {"calibrated": [], "width": []}
    for model in seen:
        record_local_decisions(monkeypatch, seen[model], lambda g: (
            g.saturation_pcu_per_s / g.lanes if g.demand_pcu > 0 else None))
        spec = RunSpec("realtime", SCENARIO.net_file, routes, SCENARIO.tls_ids, 300.0, 7,
                       tmp_path / model, options={"local": True, "saturation_model": model})
        assert run(spec)["teleports"] == 0
    # Calibrated: 1,300 PCU/h per lane throughout. From width: mostly motorcycles, which
    # the width relation (600 car units per metre, a motorcycle 0.2 of one, 0.3 PCU here)
    # lets through at 900 PCU/h per metre, about 2,900 per 3.2 m lane.
    assert set(round(r * 3600) for r in seen["calibrated"]) == {1300}
    per_lane = sorted(r * 3600 for r in seen["width"])
    assert len(per_lane) > 100 and per_lane[len(per_lane) // 2] > 2000


def test_an_unknown_saturation_model_is_refused_naming_it() -> None:
    from controller.realtime import RealtimeController

    layout = read_layouts(SCENARIO.net_file, SCENARIO.tls_ids)[0]
    with pytest.raises(ValueError, match="saturation_model: must be one of calibrated, width"):
        RealtimeController(layout, saturation_model="lanes")


@pytest.mark.parametrize("options, message", [
    ({"interval_s": float("inf")}, "interval_s: must be a positive number of seconds"),
    ({"max_red_s": float("nan")}, "max_red_s: must be a positive number of seconds"),
    ({"max_red_s": -1}, "max_red_s: must be a positive number of seconds"),
    ({"horizon_s": float("nan")}, "horizon_s: must be a number of seconds"),
    ({"lookahead_s": -5}, "lookahead_s: must be a positive number of seconds, or None"),
    ({"interval_s": "2"}, "interval_s: must be a positive number of seconds, got '2'"),
    ({"mixed_traffic": {"car": -1}}, "mixed_traffic.car: start-up lost time must be a number"),
    ({"mixed_traffic": 1.8}, "mixed_traffic: must be a MixedTraffic, a mapping of its fields"),
    ({"bogus": 1}, "options: 'bogus' is not a real-time option; pick from coordination, horizon_s"),
])
def test_bad_real_time_options_are_refused_naming_them(routes, tmp_path, options, message):
    spec = RunSpec("realtime", SCENARIO.net_file, routes, SCENARIO.tls_ids, 60.0, 7,
                   tmp_path, options={"local": True, **options})
    with pytest.raises(ValueError) as refused:
        run(spec)
    assert message in str(refused.value)


def test_the_permissive_left_is_known_to_give_way_to_the_opposing_through(tmp_path,
                                                                         monkeypatch) -> None:
    # Tam Hiệp: QL1's westbound left turns across the eastbound through in the main
    # road's phase; the side street's phase has no permissive turn.
    tam_hiep = scenario("tam_hiep")
    routes = tmp_path / "tam_hiep.rou.xml"
    write_routes(tam_hiep.demand_spec(), routes, 120.0, seed=3)
    yields: list = []

    def noting(request):
        yields.append(tuple(p.yields for p in request.phases))
        return decide(request)

    monkeypatch.setattr(realtime, "decide", noting)
    spec = RunSpec("realtime", tam_hiep.net_file, routes, tam_hiep.tls_ids, 120.0, 3,
                   tmp_path, options={"local": True})
    assert run(spec)["teleports"] == 0
    assert len(yields) > 10
    assert set(yields) == {((("QL1_W2TH:left", "QL1_E2TH:through"),), ())}


def test_an_outage_is_logged_with_its_cause_and_its_end(monkeypatch, caplog) -> None:
    from controller import decider as decider_module
    from controller.decider import DecisionUnavailable
    from nhip.optimizer_process import OptimizerProcess

    monkeypatch.setattr(decider_module, "RETRY_AFTER_S", 0.0)
    layout, request = _request(current=0, elapsed=20.0)
    first = OptimizerProcess().start()
    port = first.port
    first.stop()
    decider = GrpcDecider(f"127.0.0.1:{port}", "outage-test/TP")
    try:
        with caplog.at_level(logging.INFO, logger="nhip.controller"):
            for _ in range(3):
                with pytest.raises(DecisionUnavailable):
                    decider(request)
            with OptimizerProcess(port=port) as again:
                grpc.channel_ready_future(decider.channel).result(timeout=10)
                assert decider(request).hold
                assert again.port == port
    finally:
        decider.close()
    lines = [r.getMessage() for r in caplog.records]
    failed = [m for m in lines if "gave no decision (UNAVAILABLE: " in m]
    assert len(failed) == 1 and "1 failed calls in this outage" in failed[0]
    assert any("decides again, after 3 failed calls" in m for m in lines)
