"""Fixtures for the safety tests: the Tân Phong layout and a stand-in for SUMO."""

from __future__ import annotations

import pytest

from controller.conflicts import from_net
from nhip.simulation import read_layouts
from sumo_networks import scenario

SCENARIO = scenario("tan_phong")


class _Namespace:
    def __init__(self, **calls) -> None:
        self.__dict__.update(calls)


class FakeSumo:
    """Enough of libsumo's surface for a JunctionController with empty approaches.

    ``fail_reads`` is a set of step times at which every detector read raises, as a
    SUMO step error would; ``fail_writes`` the same for setting the signal state.
    """

    def __init__(self, fail_reads=(), fail_writes=()) -> None:
        self.time_s = 0.0
        self.fail_reads = set(fail_reads)
        self.fail_writes = set(fail_writes)
        self.shown: list[tuple[float, str]] = []
        self.lanearea = _Namespace(
            getLength=lambda det: 80.0, getJamLengthMeters=self._read(0.0),
            getLastStepOccupancy=self._read(0.0), getLastStepVehicleIDs=self._read([]))
        self.lane = _Namespace(getLength=lambda lane: 100.0,
                               getLastStepVehicleIDs=self._read([]))
        self.vehicle = _Namespace()
        self.simulation = _Namespace(getOption=lambda name: "")
        self.trafficlight = _Namespace(setRedYellowGreenState=self._set)

    def _read(self, value):
        def read(*_args):
            if self.time_s in self.fail_reads:
                raise RuntimeError(f"detector read failed at {self.time_s} s")
            return value
        return read

    def _set(self, tls_id: str, state: str) -> None:
        if self.time_s in self.fail_writes:
            raise RuntimeError(f"setRedYellowGreenState failed at {self.time_s} s")
        self.shown.append((self.time_s, state))


@pytest.fixture(scope="session")
def tan_phong_layout():
    return read_layouts(SCENARIO.net_file, SCENARIO.tls_ids)[0]


@pytest.fixture(scope="session")
def tan_phong_matrix(tan_phong_layout):
    return from_net(SCENARIO.net_file, tan_phong_layout)
