"""Width-based saturation flow: sourced figures, unit conversion by mix, and bad input."""

import math

import pytest

from optimizer.saturation import (
    SUMO_DEFAULT_LANE_WIDTH_M,
    SaturationParameters,
    saturation_flow_for_lanes,
    saturation_flow_pcu_per_h,
    webster_cobbe_narrow_pcu_per_h,
)
from optimizer.traffic import PcuFactors

CARS = {"car": 1}
# The Tân Phong morning mix (sumo_networks/tan_phong/README.md).
TAN_PHONG = {"motorcycle": 80, "car": 14, "bus": 2, "truck": 4}


@pytest.mark.parametrize("width_m, expected", [(3.0, 1800.0), (3.5, 2100.0), (7.0, 4200.0),
                                               (12.0, 7200.0)])
def test_all_car_stream_follows_ihcm_600_per_metre(width_m: float, expected: float) -> None:
    # For cars the manual's unit and ours are both one car, so S = 600 x We exactly.
    assert saturation_flow_pcu_per_h(width_m, CARS) == pytest.approx(expected)


def test_motorcycles_convert_from_manual_units_to_ours() -> None:
    # 600 smp/h/m x 3.2 m = 1920 smp/h; at 0.2 smp a motorcycle that is 9600 motorcycles/h,
    # which at our 0.3 PCU is 2880 PCU/h.
    assert saturation_flow_pcu_per_h(3.2, {"motorcycle": 1}) == pytest.approx(2880.0)


def test_mix_changes_the_result_through_the_two_weightings() -> None:
    # Manual units per vehicle: 0.8 x 0.2 + 0.14 x 1 + 0.06 x 1.3 = 0.378.
    # Our PCU per vehicle:      0.8 x 0.3 + 0.14 x 1 + 0.02 x 3 + 0.04 x 2 = 0.52.
    expected = 600 * 10.5 / 0.378 * 0.52
    assert saturation_flow_pcu_per_h(10.5, TAN_PHONG) == pytest.approx(expected)
    assert expected == pytest.approx(8666.67, abs=0.01)
    assert saturation_flow_pcu_per_h(10.5, TAN_PHONG) > saturation_flow_pcu_per_h(10.5, CARS)


def test_shares_and_counts_give_the_same_answer() -> None:
    shares = {"motorcycle": 0.8, "car": 0.14, "bus": 0.02, "truck": 0.04}
    assert saturation_flow_pcu_per_h(7.0, shares) == pytest.approx(
        saturation_flow_pcu_per_h(7.0, TAN_PHONG))


def test_flow_ratio_does_not_depend_on_our_pcu_weighting() -> None:
    # Demand and saturation both in our PCU: q / S must equal the manual's own ratio,
    # vehicles x manual units / (600 x We), whatever PCU factors we count with.
    vehicles = {"motorcycle": 2400, "car": 420, "bus": 60, "truck": 120}
    manual_units = 2400 * 0.2 + 420 * 1.0 + 60 * 1.3 + 120 * 1.3
    for factors in (PcuFactors(), PcuFactors(motorcycle=0.5, bus=2.0, truck=1.5)):
        q = factors.pcu(**vehicles)
        s = saturation_flow_pcu_per_h(7.0, vehicles, pcu=factors)
        assert q / s == pytest.approx(manual_units / (600 * 7.0))


def test_opposed_approach_weights_motorcycles_as_0_4() -> None:
    opposed = SaturationParameters(motorcycle=0.4)
    # 1920 smp/h / 0.4 = 4800 motorcycles/h x 0.3 PCU = 1440 PCU/h.
    assert saturation_flow_pcu_per_h(3.2, {"motorcycle": 1}, opposed) == pytest.approx(1440.0)


def test_motorcycle_unit_source_is_converted_with_our_pcu_factors() -> None:
    # A source in MCU per metre: with 1 MCU a motorcycle and 3.4 MCU a car (Hanoi MEU), a
    # hypothetical 2000 MCU/h/m on 4 m of pure motorcycles is 8000 motorcycles = 2400 PCU.
    mcu = SaturationParameters(per_metre_per_h=2000, motorcycle=1, car=3.4, bus=10.5,
                               truck=10.5)
    assert saturation_flow_pcu_per_h(4.0, {"motorcycle": 1}, mcu) == pytest.approx(2400.0)
    # A car is 3.4 MCU: 8000 MCU/h is 2352.9 cars/h, i.e. as many PCU.
    assert saturation_flow_pcu_per_h(4.0, CARS, mcu) == pytest.approx(8000 / 3.4)


def test_lanes_helper_uses_lanes_times_width() -> None:
    assert SUMO_DEFAULT_LANE_WIDTH_M == 3.2
    assert saturation_flow_for_lanes(1, CARS) == pytest.approx(1920.0)
    assert saturation_flow_for_lanes(3, CARS, lane_width_m=3.5) == pytest.approx(6300.0)
    assert saturation_flow_for_lanes(2, TAN_PHONG) == pytest.approx(
        saturation_flow_pcu_per_h(6.4, TAN_PHONG))


@pytest.mark.parametrize("feet, expected", [(10, 1850.0), (11, 1875.0), (12, 1900.0),
                                            (13, 1950.0), (14, 2075.0), (15, 2250.0),
                                            (16, 2475.0), (17, 2700.0)])
def test_webster_cobbe_narrow_table(feet: int, expected: float) -> None:
    assert webster_cobbe_narrow_pcu_per_h(feet * 0.3048) == expected
    assert webster_cobbe_narrow_pcu_per_h((feet + 0.99) * 0.3048) == expected


def test_webster_cobbe_table_refuses_widths_outside_10_to_17_feet() -> None:
    assert webster_cobbe_narrow_pcu_per_h(3.2) == 1850.0  # 10.5 ft
    for width_m in (3.0, 18 * 0.3048, 7.0):
        with pytest.raises(ValueError, match="width_m must be from 10 ft"):
            webster_cobbe_narrow_pcu_per_h(width_m)


@pytest.mark.parametrize("field", ["per_metre_per_h", "motorcycle", "car", "bus", "truck"])
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_parameters_must_be_positive_and_finite(field: str, bad: float) -> None:
    with pytest.raises(ValueError, match=f"saturation parameter {field} must be a positive "
                                         "finite number"):
        SaturationParameters(**{field: bad})


@pytest.mark.parametrize("bad", [0.0, -3.0, math.nan, math.inf])
def test_width_must_be_positive_and_finite(bad: float) -> None:
    with pytest.raises(ValueError, match="width_m must be a positive finite number"):
        saturation_flow_pcu_per_h(bad, CARS)


def test_lanes_helper_names_its_own_fields() -> None:
    with pytest.raises(ValueError, match="lanes must be a positive finite number"):
        saturation_flow_for_lanes(0, CARS)
    with pytest.raises(ValueError, match="lane_width_m must be a positive finite number"):
        saturation_flow_for_lanes(2, CARS, lane_width_m=-3.2)


def test_mix_errors_name_the_class() -> None:
    with pytest.raises(ValueError, match="unknown vehicle class 'tuktuk'"):
        saturation_flow_pcu_per_h(7.0, {"car": 1, "tuktuk": 1})
    with pytest.raises(ValueError, match=r"mix\['bus'\] must be a finite number at least 0"):
        saturation_flow_pcu_per_h(7.0, {"car": 1, "bus": -1})
    with pytest.raises(ValueError, match=r"mix\['car'\] must be a finite number"):
        saturation_flow_pcu_per_h(7.0, {"car": math.nan})
    with pytest.raises(ValueError, match="at least one vehicle class"):
        saturation_flow_pcu_per_h(7.0, {"car": 0})
    with pytest.raises(ValueError, match=r"mix\['truck'\] must be a number"):
        saturation_flow_pcu_per_h(7.0, {"truck": "many"})


def test_odd_widths_and_mixes_are_refused_naming_the_field() -> None:
    from optimizer.saturation import saturation_flow_pcu_per_h

    with pytest.raises(ValueError, match="width_m must be at most 100 m"):
        saturation_flow_pcu_per_h(1e6, {"car": 1})
    with pytest.raises(ValueError, match="mix must map vehicle classes"):
        saturation_flow_pcu_per_h(3.5, None)
    with pytest.raises(ValueError, match="mix must map vehicle classes"):
        saturation_flow_pcu_per_h(3.5, "car")
    # Counts too large to add up still give the mix's proportions.
    huge = saturation_flow_pcu_per_h(3.5, {"car": 1e308, "bus": 1e308})
    assert huge == pytest.approx(saturation_flow_pcu_per_h(3.5, {"car": 1, "bus": 1}))
