"""Webster's plan against an example worked by hand."""

import pytest

from optimizer.junction import demand_from_request, junction_from_request
from optimizer.traffic import PcuFactors
from optimizer.webster import webster_cycle_s, webster_timing
from tests.helpers import report, two_phase_request


def test_hand_computed_two_phase_plan() -> None:
    # A: 1800 motorcycles/h x 0.3 PCU = 540 PCU/h over 1800 PCU/h saturation -> y = 0.30
    # B: 360 cars/h -> y = 0.20.  Y = 0.50, L = 2 x (3 + 2) = 10 s.
    # C0 = (1.5 x 10 + 5) / (1 - 0.5) = 40 s; effective green 30 s split 0.3 : 0.2
    # -> 18 s and 12 s.
    junction = junction_from_request(two_phase_request())
    demand = demand_from_request(junction, report(A={"motorcycle": 1800}, B={"car": 360}),
                                 PcuFactors())

    timing, reason, *_ = webster_timing(junction, demand)

    assert timing.cycle_s == 40.0
    assert timing.greens_s == (18.0, 12.0)
    assert "Y=0.50" in reason


def test_cycle_formula() -> None:
    assert webster_cycle_s(10, 0.5) == pytest.approx(40.0)
    assert webster_cycle_s(16, 0.25) == pytest.approx((24 + 5) / 0.75)
    assert webster_cycle_s(10, 0.95) == float("inf")


def test_saturated_junction_gets_longest_cycle() -> None:
    junction = junction_from_request(two_phase_request())
    demand = demand_from_request(junction, report(A={"car": 900}, B={"car": 900}), PcuFactors())

    timing, reason, *_ = webster_timing(junction, demand)

    assert timing.cycle_s == 120.0
    assert timing.greens_s == (55.0, 55.0)
    assert "saturated" in reason


def test_minimum_green_holds_for_a_light_movement() -> None:
    junction = junction_from_request(two_phase_request())
    demand = demand_from_request(junction, report(A={"car": 700}, B={"car": 10}), PcuFactors())

    timing, *_ = webster_timing(junction, demand)

    assert timing.greens_s[1] == 5.0
    assert timing.cycle_s == sum(timing.greens_s) + 10


def test_pcu_factors_are_configuration() -> None:
    heavy = PcuFactors(motorcycle=0.5)
    junction = junction_from_request(two_phase_request())
    demand = demand_from_request(junction, report(A={"motorcycle": 1000}), heavy)

    assert demand.flow_pcu_per_s["A"] == pytest.approx(500 / 3600)
    with pytest.raises(ValueError, match="motorcycle must be positive"):
        PcuFactors(motorcycle=0)
