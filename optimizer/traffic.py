"""Traffic quantities the policies share: passenger-car units and saturation flow.

Flows reach the optimizer as vehicle counts by class. Capacity at a signal is measured
in passenger-car units (PCU), so each class is weighted by its PCU factor. The factors
are configuration: Vietnam's standards tables (TCVN 4054:2005, TCVN 13592:2022) could not
be read for this project, so the defaults are derived from published field studies and
should be replaced by locally measured values where they exist.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PcuFactors:
    """Passenger-car units per vehicle, by class.

    Motorcycle 0.3: Hanoi motorcycle-equivalent units put a car at 3.4 motorcycles
    (ASCE J. Transp. Eng., doi 10.1061/(ASCE)TE.1943-5436.0000382), i.e. 1/3.4 = 0.29
    PCU per motorcycle, rounded to 0.3 (third-party code quotes 0.25-0.3 for TCVN).
    Bus 3.0: the same study's bus at 10.5 motorcycles is 10.5/3.4 = 3.1 car units.
    Truck 2.0: an assumption (rigid and articulated trucks mixed); no Vietnamese source.
    """

    motorcycle: float = 0.3
    car: float = 1.0
    bus: float = 3.0
    truck: float = 2.0

    def __post_init__(self) -> None:
        for name in ("motorcycle", "car", "bus", "truck"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"pcu factor for {name} must be positive, got {value}")

    def pcu(self, motorcycle: float, car: float, bus: float, truck: float) -> float:
        return (
            motorcycle * self.motorcycle
            + car * self.car
            + bus * self.bus
            + truck * self.truck
        )


# Saturation flow of one lane, PCU per hour of green. 1,300 is an assumption, not a
# published figure; with it, Webster's cycle for the Tân Phong morning demand is 68 s
# (Y = 0.60, L = 15 s; sumo_networks/tan_phong/README.md). Published values are higher:
# TRL RR67 gives 2,080 pcu/h for a non-nearside 3.2 m lane; the width-based estimate in
# optimizer/saturation.py gives 1,920 for 3.2 m of car traffic.
DEFAULT_SATURATION_PCU_PER_H_PER_LANE = 1300.0

# Share of a lane's saturation flow that a permissive (opposed) turn gets. Left-turners
# filter through gaps in the opposing stream and the rest go at the end of the green;
# HCM 2010 puts the permissive left-turn factor between about 0.1 and 0.6 with opposing
# flow. 0.35, inside that range, is an assumption (sumo_networks/tan_phong/README.md).
PERMISSIVE_FACTOR = 0.35
