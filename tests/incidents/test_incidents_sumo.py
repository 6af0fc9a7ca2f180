"""Detection in a real SUMO run (libsumo), judged against the recorded signal log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from incident_sim import Crossing, crossing_site

from incidents.builder import EventBuilder
from incidents.bus import EVENTS_STREAM, MemoryBus
from incidents.detectors import DetectorSet
from incidents.messages import AlertMessage
from incidents.model import EventType
from incidents.pipeline import IncidentPipeline
from incidents.sumo_source import SumoTrackSource

# Speed mode 7 keeps bits 0-2 (safe speed, max acceleration, max deceleration) and
# clears bit 3 (right of way at intersections) and bit 4 (brake hard to avoid passing a
# red light); with both cleared SUMO lets the vehicle drive through a red light.
RUN_RED = 7


@pytest.fixture()
def crossing(net_path: Path):
    crossing = Crossing(net_path)
    yield crossing
    crossing.close()


def attach(crossing: Crossing, net_path: Path) -> tuple[IncidentPipeline, MemoryBus]:
    site = crossing_site(net_path)
    bus = MemoryBus()
    pipeline = IncidentPipeline(
        DetectorSet(site, crossing.event_log), EventBuilder(site, crossing.event_log), bus,
        "nhip-test.dongnai",
        SumoTrackSource(site, "C", crossing.link_groups, device_id="sumo-C"))
    crossing.observers.append(pipeline)
    return pipeline, bus


def test_red_light_runner_is_detected_and_the_compliant_driver_is_not(
        crossing: Crossing, net_path: Path) -> None:
    """EW is red 0-35 s. One westbound driver runs it, one waits; only one event."""
    _, bus = attach(crossing, net_path)
    crossing.add_vehicle("runner", ("W2C", "C2E"), "motorcycle")
    crossing.add_vehicle("waiter", ("W2C", "C2E"), "passenger", depart_pos="50")
    entered: dict[str, float] = {}
    last_road: dict[str, tuple[float, str]] = {}

    def watch(now: float) -> None:
        for vid in crossing.sumo.vehicle.getIDList():
            road = crossing.sumo.vehicle.getRoadID(vid)
            if road.startswith(":C") and vid not in entered:
                entered[vid] = now
            last_road[vid] = (now, road)
        if now == 1.0:
            crossing.sumo.vehicle.setSpeedMode("runner", RUN_RED)

    crossing.run_until(50.0, watch)

    events = [AlertMessage.from_fields(f).event for _, f in bus.read_all(EVENTS_STREAM)]
    red = [e for e in events if e.event_type == EventType.RED_LIGHT]
    assert [e.track_id for e in red] == ["runner"]
    assert entered["runner"] < 35.0 < entered["waiter"]  # SUMO's own view agrees
    event = red[0]
    crossing_s = event.details["crossing_time_s"]
    assert entered["runner"] - crossing.step_s <= crossing_s <= entered["runner"]
    assert event.signal_state == {"NS": "G", "EW": "r"}
    assert event.phase == 2
    assert event.approach_id == "W"
    assert event.vehicle_class == "motorcycle"
    assert event.device_id == "sumo-C"
    detected = dt.datetime.fromisoformat(event.time_utc)
    assert abs((detected - crossing.event_log.utc(crossing_s)).total_seconds()) <= 0.001
    assert event.latitude == pytest.approx(10.9574, abs=2e-4)
    assert event.longitude == pytest.approx(106.8426, abs=2e-4)


def test_vehicle_stopped_in_a_live_lane_is_a_possible_crash(
        crossing: Crossing, net_path: Path) -> None:
    """A car that halts mid-approach while its signal is green raises an incident."""
    _, bus = attach(crossing, net_path)
    crossing.add_vehicle("broken", ("N2C", "C2S"), "passenger")

    def brake(now: float) -> None:
        if now == 4.0:
            crossing.sumo.vehicle.setSpeed("broken", 0.0)

    crossing.run_until(40.0, brake)

    events = [AlertMessage.from_fields(f).event for _, f in bus.read_all(EVENTS_STREAM)]
    assert [(e.event_type, e.track_id) for e in events] == [
        (EventType.STOPPED_VEHICLE, "broken")]
    event = events[0]
    assert event.possible_injury is True
    assert event.approach_id == "N"
    assert event.signal_state["NS"] == "G"
    assert event.details["stopped_s"] >= 20.0


def test_site_read_from_the_network_matches_the_configured_one(
        crossing: Crossing, net_path: Path) -> None:
    from incidents.sumo_site import site_from_sumo_net

    site = site_from_sumo_net(net_path, "C", crossing.link_groups, 10.9574, 106.8426)
    configured = crossing_site(net_path)

    assert sorted(site.approaches) == ["E2C", "N2C", "S2C", "W2C"]
    for name, edge in (("W", "W2C"), ("N", "N2C")):
        ours, theirs = site.approaches[edge], configured.approaches[name]
        assert (ours.stop_line, ours.heading) == (theirs.stop_line, theirs.heading)
        assert ours.signal_group_id == theirs.signal_group_id
        assert ours.upstream_distance_m == pytest.approx(theirs.upstream_distance_m)
    assert site.to_lat_lon(*site.origin_xy) == (10.9574, 106.8426)
    with pytest.raises(ValueError, match="no traffic light 'X'"):
        site_from_sumo_net(net_path, "X", crossing.link_groups, 10.9574, 106.8426)
