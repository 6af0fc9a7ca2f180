"""Detector events and daily files in the event log; the NTCIP-style interface on SUMO."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.eventlog import EventCode, EventLog
from controller.eventstore import DailyCsvSink, read_day
from controller.ntcip import CommandError, SumoSignalController
from controller.plans import FixedPlanSource
from controller.timer import program_plan
from sumo_networks.demand import write_routes
from tests.safety.replay import replay
from tests.safety.sim import SCENARIO, run_tan_phong


def test_daily_files_roll_over_at_utc_midnight(tmp_path) -> None:
    start = dt.datetime(2026, 3, 1, 23, 59, 58, 250000, tzinfo=dt.timezone.utc)
    log = EventLog("TP", ["a"], start_utc=start, sink=DailyCsvSink(tmp_path, "TP"))
    log.record(0.0, EventCode.DETECTOR_ON, 3)
    log.record(1.5, EventCode.DETECTOR_OFF, 3)
    log.record(2.0, EventCode.PHASE_BEGIN_GREEN, 1)
    log.close()

    first = read_day(tmp_path / "TP" / "2026-03-01.csv")
    second = read_day(tmp_path / "TP" / "2026-03-02.csv")
    assert [(t.isoformat(timespec="milliseconds"), c, p) for t, c, p in first] == [
        ("2026-03-01T23:59:58.250+00:00", 82, 3), ("2026-03-01T23:59:59.750+00:00", 81, 3)]
    assert [(c, p) for _, c, p in second] == [(1, 1)]
    with pytest.raises(ValueError, match="junction_id"):
        DailyCsvSink(tmp_path, "../etc")


@pytest.fixture(scope="module")
def short_routes(tmp_path_factory):
    path = tmp_path_factory.mktemp("routes") / "short.rou.xml"
    write_routes(SCENARIO.demand_spec(), path, 600.0, seed=3)
    return path


def test_sumo_run_logs_detector_edges_and_obeys_ntcip_commands(short_routes,
                                                                tmp_path) -> None:
    seen = {}

    def hold_phase_one(c):
        ntcip = SumoSignalController(c)
        seen["ntcip"] = ntcip
        ntcip.set_hold(0b001)

    def release_and_force_off(c):
        ntcip = seen["ntcip"]
        seen["status_during_hold"] = ntcip.phase_status()
        seen["held_from"] = c.plans[-1][0]
        ntcip.set_hold(0)
        ntcip.set_force_off(0b100)
        with pytest.raises(CommandError, match="every phase omitted"):
            ntcip.set_omit(0b111)
        with pytest.raises(CommandError, match="beyond 1..3"):
            ntcip.set_call(0b1000)
        seen["detectors"] = ntcip.detector_status()

    layout_plan = {}

    class Source(FixedPlanSource):
        def register(self, layout):
            layout_plan["plan"] = program_plan(layout)

        def next_plan(self, layout, readings, interval_s, time_s):
            return layout_plan["plan"]

    result = run_tan_phong(tmp_path, short_routes, Source(None), 600.0, 3,
                           {100.0: hold_phase_one, 300.0: release_and_force_off})
    controller = result["controller"]
    assert replay(result["shown"], result["matrix"], controller.monitor.rules, 0.0) == []
    events = controller.event_log.events()
    on = [e for e in events if e.code == EventCode.DETECTOR_ON]
    off = [e for e in events if e.code == EventCode.DETECTOR_OFF]
    assert len(on) > 50 and abs(len(on) - len(off)) <= len(controller.layout.in_lanes)
    assert {e.param for e in on} <= set(range(1, len(controller.layout.in_lanes) + 1))
    codes = [(e.code, e.param) for e in events]
    assert (EventCode.PHASE_HOLD_ACTIVE, 1) in codes
    assert (EventCode.PHASE_HOLD_RELEASED, 1) in codes
    # The hold kept phase 1 green up to its maximum (90 s), never beyond, and the
    # release ended it.
    first = EventCode.PHASE_BEGIN_GREEN, EventCode.PHASE_BEGIN_YELLOW
    greens = [e.time_s for e in events if e.code == first[0] and e.param == 1]
    yellows = [e.time_s for e in events if e.code == first[1] and e.param == 1]
    held = {g: min(y for y in yellows if y > g) - g for g in greens if 100.0 <= g < 300.0}
    max_green = controller.layout.phases[0].max_green_s
    assert held and max(held.values()) == max_green
    last = max(held)
    assert last + held[last] in (300.0, 301.0)  # ended by the release, not by a gap-out
    # Force-off ended phase 3 at its minimum after the hold was released.
    force_offs = [e for e in events if e.code == EventCode.PHASE_FORCE_OFF]
    assert force_offs and all(e.param == 3 and e.time_s > 300.0 for e in force_offs)
    assert seen["status_during_hold"].greens == 0b001
