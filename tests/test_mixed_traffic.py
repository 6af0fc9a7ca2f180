"""Start-up lost time by the class at the front of each queue, with motorcycles filtering."""

from __future__ import annotations

import math

import pytest

from controller.approach_view import ApproachView
from controller.decider import request_message
from nhip.simulation import RunSpec, read_layouts, run
from optimizer.decision import (START_UP_LOSS_S, DecisionRequest, GroupState, PhaseBounds,
                                decide, request_from_message)
from optimizer.junction import RequestError
from optimizer.mixed_traffic import MixedTraffic, mixed_traffic_option
from sumo_networks import scenario
from sumo_networks.demand import write_routes
from tests.helpers import record_local_decisions

MOTORCYCLE, CAR = 1.8, 2.0
# Phase 1 serves n (clearance 5 s, young under 12 s), phase 2 serves e and w.
PHASES = (PhaseBounds(("n",), 6, 40, 3, 2), PhaseBounds(("e", "w"), 6, 40, 3, 2))


def request(elapsed: float, n: GroupState, e: GroupState,
            w: GroupState | None = None) -> DecisionRequest:
    groups = {"n": n, "e": e, "w": w or GroupState("w")}
    return DecisionRequest(PHASES, groups, current_phase=0, green_elapsed_s=elapsed)


class TestStartUpLoss:
    @pytest.mark.parametrize("vehicles, filtering, expected", [
        pytest.param([("car", True), ("motorcycle", True)], True, MOTORCYCLE, id="filters"),
        pytest.param([("car", True), ("motorcycle", True)], False, CAR, id="no-filtering"),
        pytest.param([("car", True), ("motorcycle", False)], True, CAR, id="moving-moto"),
        pytest.param([("motorcycle", False), ("car", True)], True, MOTORCYCLE, id="moto-front"),
        pytest.param([("truck", True)], True, CAR, id="truck-takes-car-figure"),
        pytest.param([], True, CAR, id="empty"),
    ])
    def test_the_front_of_the_queue_sets_the_loss(self, vehicles, filtering, expected):
        """A standing motorcycle sets the loss when it filters; otherwise the front does."""
        assert expected == MixedTraffic(filtering=filtering).start_up_loss_s(vehicles)

    def test_each_class_has_its_own_figure(self):
        """A truck at the front of an unfiltered queue takes the truck figure."""
        model = MixedTraffic(truck=3.5, filtering=False)
        assert 3.5 == model.start_up_loss_s([("truck", True), ("motorcycle", True)])

    @pytest.mark.parametrize("fields, message", [
        ({"motorcycle": 0}, "mixed_traffic.motorcycle: start-up lost time must be"),
        ({"car": math.nan}, "mixed_traffic.car: start-up lost time must be"),
        ({"truck": 31}, "at most 30, got 31"),
        ({"bus": "2"}, "mixed_traffic.bus: start-up lost time must be a number of seconds"),
        ({"filtering": 1}, "mixed_traffic.filtering: must be True or False, got 1"),
    ])
    def test_bad_figures_are_refused_naming_the_field(self, fields, message):
        """Each figure is checked on construction, and the error names it."""
        with pytest.raises(ValueError, match=message):
            MixedTraffic(**fields)

    def test_the_option_takes_a_model_a_mapping_or_none(self):
        """A configuration file's mapping builds the model; an unknown key is refused."""
        assert mixed_traffic_option(None) is None
        assert MixedTraffic(motorcycle=1.5) == mixed_traffic_option({"motorcycle": 1.5})
        with pytest.raises(ValueError, match="'moto' is not a field; pick from bus, car"):
            mixed_traffic_option({"moto": 1.5})
        with pytest.raises(ValueError, match="must be a MixedTraffic, a mapping"):
            mixed_traffic_option(1.8)


class TestDischargeOrder:
    # (name, standing, class), nearest the stop line first.
    VEHICLES = [("c1", True, "car"), ("m1", False, "motorcycle"), ("c2", True, "car"),
                ("m2", True, "motorcycle"), ("t1", True, "truck"), ("m3", True, "motorcycle")]

    def order(self, model: MixedTraffic) -> list[str]:
        ordered = model.discharge_order(self.VEHICLES, lambda v: v[1], lambda v: v[2])
        return [v[0] for v in ordered]

    def test_standing_motorcycles_leave_ahead_of_standing_four_wheelers(self):
        """With filtering the queue's motorcycles go first; a moving one keeps its place."""
        assert ["m2", "m1", "m3", "c1", "c2", "t1"] == self.order(MixedTraffic())

    def test_without_filtering_the_queue_keeps_its_order(self):
        """Without filtering vehicles leave in the order they stand."""
        assert ["c1", "m1", "c2", "m2", "t1", "m3"] == self.order(MixedTraffic(filtering=False))


class TestDecision:
    def test_a_young_green_is_cut_for_a_motorcycle_fronted_rival_only(self):
        """The same pressure is worth a switch when its queue starts at motorcycle pace."""
        # Holding serves n for the 20 s horizon: 0.5 * 13.1 * 20 = 131. Switching serves e
        # for 20 - 5 - start-up s: 0.5 * 20 * 13.2 = 132 behind motorcycles, 130 behind cars.
        n = GroupState("n", queue_pcu=13.1)

        car_front = decide(request(10.0, n, GroupState("e", queue_pcu=20.0, red_s=30.0)))
        moto_front = decide(request(10.0, n, GroupState("e", queue_pcu=20.0, red_s=30.0,
                                                        start_up_loss_s=MOTORCYCLE)))

        assert (car_front.hold, car_front.binding) == (True, "pressure")
        assert (moto_front.hold, moto_front.next_phase) == (False, 1)

    def test_the_rival_takes_the_slowest_start_among_its_groups_with_traffic(self):
        """A car-fronted group of the rival phase keeps the car's loss; empty ones don't count."""
        n = GroupState("n", queue_pcu=13.1)
        e = GroupState("e", queue_pcu=20.0, red_s=30.0, start_up_loss_s=MOTORCYCLE)

        slow_w = decide(request(10.0, n, e, GroupState("w", queue_pcu=0.01, red_s=30.0)))
        empty_w = decide(request(10.0, n, e, GroupState("w", start_up_loss_s=9.0)))

        # The small queue on w adds 0.005 PCU/s of pressure: not enough to tip it alone.
        assert slow_w.hold and not empty_w.hold

    def test_the_switch_cost_guard_uses_the_running_phase_start(self):
        """A 6.9 s green is too young to cut after a car start, not after a motorcycle one."""
        e = GroupState("e", queue_pcu=40.0, red_s=30.0)
        car_green = decide(request(6.9, GroupState("n", queue_pcu=1.0), e))
        moto_green = decide(request(6.9, GroupState("n", queue_pcu=1.0,
                                                    start_up_loss_s=MOTORCYCLE), e))

        assert (car_green.hold, car_green.binding) == (True, "switch_cost")
        assert (moto_green.hold, moto_green.binding) == (False, "pressure")


class TestProto:
    def message(self, start_up_loss_s: float):
        req = request(10.0, GroupState("n", queue_pcu=3.0, start_up_loss_s=start_up_loss_s),
                      GroupState("e", queue_pcu=2.0))
        return request_message("J1", req)

    def test_the_start_up_loss_travels_and_zero_takes_the_default(self):
        """A group's figure survives the wire; 0 (unset) takes the HCM 2 s."""
        message = self.message(MOTORCYCLE)
        assert MOTORCYCLE == request_from_message(message).groups["n"].start_up_loss_s

        message.groups[0].start_up_loss_s = 0.0
        assert START_UP_LOSS_S == request_from_message(message).groups["n"].start_up_loss_s

    @pytest.mark.parametrize("value, rule", [
        pytest.param(math.nan, "must be a finite number", id="nan"),
        pytest.param(math.inf, "must be a finite number", id="inf"),
        pytest.param(-1.0, "must be at least 0", id="negative"),
        pytest.param(30.5, "must be at most 30", id="too-long"),
    ])
    def test_a_bad_start_up_loss_is_refused_naming_the_field(self, value, rule):
        """The error names the group's field and the rule it broke."""
        message = self.message(MOTORCYCLE)
        message.groups[0].start_up_loss_s = value
        with pytest.raises(RequestError) as refused:
            request_from_message(message)
        assert "groups[0].start_up_loss_s" in str(refused.value)
        assert rule in str(refused.value)


SCENARIO = scenario("tan_phong")


class FakeSumo:
    """Just enough of TraCI for ``ApproachView.released`` on one approach lane."""

    def __init__(self, lane: str, route: list[str], vehicles: dict) -> None:
        outer = self

        class Lane:
            def getLastStepVehicleIDs(self, name):
                return list(vehicles) if name == lane else []

            def getLength(self, name):
                return 200.0

            def getMaxSpeed(self, name):
                return 10.0

        class Vehicle:
            def getRoute(self, vid):
                return route

            def getRouteIndex(self, vid):
                return 0

            def getLanePosition(self, vid):
                return vehicles[vid][1]

            def getSpeed(self, vid):
                return vehicles[vid][2]

            def getVehicleClass(self, vid):
                return vehicles[vid][0]

        outer.lane, outer.vehicle = Lane(), Vehicle()


@pytest.mark.parametrize("mixed_traffic, first", [
    pytest.param(MixedTraffic(), "moto", id="filtering"),
    pytest.param(MixedTraffic(filtering=False), "car1", id="no-filtering"),
    pytest.param(None, "car1", id="model-off"),
])
def test_the_released_forecast_puts_queued_motorcycles_first(mixed_traffic, first):
    """With filtering, the motorcycle behind two standing cars is forecast to leave first."""
    layout = read_layouts(SCENARIO.net_file, SCENARIO.tls_ids)[0]
    view = ApproachView(layout, 10.0, mixed_traffic=mixed_traffic)
    sumo = FakeSumo("DK_N2TP_1", ["DK_N2TP", "TP2DK_S"], {
        "car1": ("passenger", 195.0, 0.0), "car2": ("passenger", 190.0, 0.0),
        "moto": ("motorcycle", 186.0, 0.0)})

    released = view.released(sumo, 0.0, {"DK_N2TP:through"}, horizon_s=60.0)

    forecasts = sorted(released["TP2DK_S"], key=lambda f: f.eta_s)
    assert first == forecasts[0].vehicle and len(forecasts) == 3


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    path = tmp_path_factory.mktemp("routes") / "short.rou.xml"
    write_routes(SCENARIO.demand_spec(), path, 300.0, seed=7)
    return path


def test_motorcycle_queues_report_the_motorcycle_start(routes, tmp_path, monkeypatch):
    """On Tân Phong, mostly motorcycles, nearly every queue reports the motorcycle figure;
    with the model off every group reports HCM's 2 s."""
    model = MixedTraffic(motorcycle=1.3, car=2.6, bus=2.6, truck=2.6)
    seen: dict[str, list[float]] = {"on": [], "off": []}
    for name, option in (("on", model), ("off", None)):
        record_local_decisions(monkeypatch, seen[name], lambda g: (
            g.start_up_loss_s if g.queue_pcu > 0 else None))
        spec = RunSpec("realtime", SCENARIO.net_file, routes, SCENARIO.tls_ids, 300.0, 7,
                       tmp_path / name, options={"local": True, "mixed_traffic": option})
        assert run(spec)["teleports"] == 0

    on = seen["on"]
    assert len(on) > 100 and set(on) <= {1.3, 2.6}
    assert on.count(1.3) > 0.8 * len(on)
    assert set(seen["off"]) == {START_UP_LOSS_S}
