"""Saturation flow of a signalised approach from its usable width and its vehicle mix.

The optimizer's per-lane default (DEFAULT_SATURATION_PCU_PER_H_PER_LANE in traffic.py) was
tuned in SUMO for one scenario. This module gives an estimate from published width-based
relations instead, for approaches where motorcycles fill the whole carriageway rather than
keep to lanes. It changes nothing on its own: callers choose whether to use it.

Default relation, per hour of green: S = 600 x We, in the Indonesian Highway Capacity
Manual's car units (smp), We being the effective approach width in metres (IHCM / MKJI 1997,
built for Indonesian mixed traffic). Seen in two places: Irawati, Munawar & Setiadji, Jurnal
Teknik Sipil & Perencanaan 25(1) 2023, pp. 62-70, give 600 x We as the manual's current base
value and propose higher ones (from 675 x We up) from their own counts
(https://123dok.com/id/docs/saturation-improve-indonesia-highway-capacity-manual-signalized-intersection.11021568);
a Bandung study of approaches 3-12 m wide calls 600 x We the formula in common use, found it
close to counts up to about 9 m and fitted 500 x We + 400 for 9-12 m
(https://trid.trb.org/View/1136755). The same manual weighs vehicles at signals as light
vehicle 1.0, heavy vehicle 1.3, motorcycle 0.2 on a protected approach and 0.4 on an opposed
one, per a thesis that tabulates MKJI 1997
(https://text-id.123dok.com/document/dzxj05oyr-emp-ekivalensi-mobil-penumpang.html).

Converting units. The source counts a flow in its own units (here smp). Dividing by the
source's units per vehicle of the mix gives vehicles per hour of green; multiplying by our
PCU per vehicle (optimizer.traffic.PcuFactors) gives our PCU. So the result depends on the
mix whenever the two weightings differ (our motorcycle is 0.3 PCU, the manual's 0.2), and a
flow ratio q/S comes out the same whichever weighting the demand was counted in. A source
that states saturation in motorcycle units (MCU) per metre is handled the same way: set
per_metre_per_h in MCU and the class weights in MCU per vehicle (motorcycle 1).
Streams of nearly all motorcycles lie beyond what the manual was fitted to: 600 / 0.2 is
3,000 motorcycles per hour of green per metre. Check such cases against local counts.

For comparison (not used as defaults): Webster & Cobbe's narrow-approach table (below); TRL
Research Report 67 (Kimber, McDonald & Hounsell 1986) gives 2,080 pcu/h for a non-nearside
lane 3.2 m wide, about 15% above Webster's figures (https://trl.co.uk/reports/RR67), and
100 pcu/h more or less per metre of lane width above or below 3.25 m (M. Rogers,
Highway Engineering, 2003: https://issuhub.com/view/index/4685?pageIndex=153).

Not confirmed, so not used: the coefficient of Webster & Cobbe's proportional formula for
approaches of 18 ft and wider (the commonly quoted 525 x W pcu/h with W in metres could not
be found in any readable excerpt); saturation flow per metre in MCU and MCU equivalents from
the Hanoi (Hien Nguyen & Montgomery 2007) and Ho Chi Minh City (Huynh Duc Nguyen 2016,
Transp. Res. Procedia 15, 694-708) studies, whose numbers were not in any readable excerpt;
Indo-HCM 2017 per-metre figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields

from optimizer.traffic import PcuFactors

VEHICLE_CLASSES = ("motorcycle", "car", "bus", "truck")

# SUMO's lane width when a network does not set one: netconvert 1.28 (the version pinned in
# pyproject.toml) puts the centres of a two-lane edge built without widths 3.2 m apart.
SUMO_DEFAULT_LANE_WIDTH_M = 3.2

# Webster & Cobbe (1966), RRL Technical Paper 56 (the scanned page's title is not in the
# excerpt; it cites Road Note 34 and reads as that paper): for approaches 10-17 ft wide the
# saturation flow rises in steps, pcu/h by whole feet of width; from 18 ft to at least 60 ft
# it is proportional to width (coefficient on a page not seen). Peak-hour UK car traffic;
# off-peak about 6% lower; each 1% of uphill gradient -3%, downhill +3%.
# https://www.scribd.com/document/704258640/Copy-Part1-27
WEBSTER_COBBE_NARROW_PCU_PER_H = {
    10: 1850.0, 11: 1875.0, 12: 1900.0, 13: 1950.0,
    14: 2075.0, 15: 2250.0, 16: 2475.0, 17: 2700.0,
}
FOOT_M = 0.3048
# Wider than any signalised approach: a value above it is a unit or data error.
MAX_WIDTH_M = 100.0


def _positive(value: float, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")


@dataclass(frozen=True)
class SaturationParameters:
    """A width-based saturation relation: source units per hour of green per metre of width.

    The class weights say how many source units one vehicle of each class counts as. The
    defaults are IHCM / MKJI 1997 for a protected (unopposed) approach: 600 smp per hour of
    green per metre, light vehicle 1.0, heavy vehicle 1.3 (bus and truck alike), motorcycle
    0.2. For an opposed approach the manual counts a motorcycle as 0.4; set motorcycle=0.4.
    """

    per_metre_per_h: float = 600.0
    motorcycle: float = 0.2
    car: float = 1.0
    bus: float = 1.3
    truck: float = 1.3

    def __post_init__(self) -> None:
        for f in fields(self):
            _positive(getattr(self, f.name), f"saturation parameter {f.name}")

    def units_per_vehicle(self, shares: Mapping[str, float]) -> float:
        return sum(shares[name] * getattr(self, name) for name in VEHICLE_CLASSES)


DEFAULT_PARAMETERS = SaturationParameters()


def saturation_flow_pcu_per_h(
    width_m: float,
    mix: Mapping[str, float],
    params: SaturationParameters = DEFAULT_PARAMETERS,
    pcu: PcuFactors | None = None,
) -> float:
    """Saturation flow of an approach or lane group, in our PCU per hour of green.

    ``width_m`` is the usable (effective) width at the stop line in metres. ``mix`` gives
    shares or counts by class (motorcycle, car, bus, truck; missing classes count as 0);
    only the proportions matter.
    """
    _positive(width_m, "width_m")
    if width_m > MAX_WIDTH_M:
        raise ValueError(f"width_m must be at most {MAX_WIDTH_M:g} m (no approach is wider), "
                         f"got {width_m:g}")
    shares = _shares(mix)
    pcu = pcu or PcuFactors()
    vehicles_per_h = params.per_metre_per_h * width_m / params.units_per_vehicle(shares)
    return vehicles_per_h * pcu.pcu(**shares)


def saturation_flow_for_lanes(
    lanes: float,
    mix: Mapping[str, float],
    lane_width_m: float = SUMO_DEFAULT_LANE_WIDTH_M,
    params: SaturationParameters = DEFAULT_PARAMETERS,
    pcu: PcuFactors | None = None,
) -> float:
    """Saturation flow, PCU per hour of green, of ``lanes`` lanes ``lane_width_m`` wide.

    Motorcycles use the whole carriageway, so lanes only set the width: lanes x lane width.
    """
    _positive(lanes, "lanes")
    _positive(lane_width_m, "lane_width_m")
    return saturation_flow_pcu_per_h(lanes * lane_width_m, mix, params, pcu)


def webster_cobbe_narrow_pcu_per_h(width_m: float) -> float:
    """Webster & Cobbe's tabulated saturation flow for a 10-17 ft approach, pcu/h.

    The table steps by whole feet, so the width is taken down to the foot below. A
    reference for UK car traffic, not a default for mixed traffic.
    """
    _positive(width_m, "width_m")
    feet = math.floor(width_m / FOOT_M + 1e-9)  # 3.048 m is 10 ft, not 9.999...
    if feet not in WEBSTER_COBBE_NARROW_PCU_PER_H:
        raise ValueError(
            f"width_m must be from 10 ft ({10 * FOOT_M:.3f} m) to under 18 ft "
            f"({18 * FOOT_M:.3f} m) for the narrow-approach table, got {width_m:g} m"
        )
    return WEBSTER_COBBE_NARROW_PCU_PER_H[feet]


def _shares(mix: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(mix, Mapping):
        raise ValueError(f"mix must map vehicle classes to shares or counts, got {mix!r}")
    unknown = sorted(set(mix) - set(VEHICLE_CLASSES))
    if unknown:
        raise ValueError(
            f"mix has unknown vehicle class {unknown[0]!r}; expected one of "
            + ", ".join(VEHICLE_CLASSES)
        )
    counts = {name: mix.get(name, 0.0) for name in VEHICLE_CLASSES}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"mix[{name!r}] must be a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"mix[{name!r}] must be a finite number at least 0, got {value}")
    largest = max(counts.values())
    if largest <= 0:
        raise ValueError("mix must have a positive share for at least one vehicle class")
    # Scaled by the largest first, so that huge counts cannot overflow the sum.
    scaled = {name: value / largest for name, value in counts.items()}
    total = sum(scaled.values())
    return {name: value / total for name, value in scaled.items()}
