"""Detectors on synthetic camera tracks (road coordinates after the homography)."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.eventlog import EventLog
from incidents.camera_source import CameraTrack, CameraTrackSource, apply_homography
from incidents.detectors import DetectorSet
from incidents.model import EventType
from incidents.site import Approach, Site

FPS = 10
SITE = Site("J1", 10.95, 106.84, {
    # Westbound arm: traffic drives east towards the stop line at x = -10 m.
    "W": Approach("W", "EW", (-10.0, 0.0), (1.0, 0.0), 50.0, 150.0),
    "N": Approach("N", "NS", (0.0, 10.0), (0.0, -1.0), 50.0, 150.0),
})


def signal_log() -> EventLog:
    """EW green 0-30 s, yellow 30-33 s, red from 33 s; NS green from 35 s."""
    log = EventLog("J1", ["EW", "NS"], start_utc=dt.datetime(2026, 12, 4, tzinfo=dt.UTC))
    log.record_signal_state(0.0, {"EW": "G", "NS": "r"})
    log.record_signal_state(30.0, {"EW": "y", "NS": "r"})
    log.record_signal_state(33.0, {"EW": "r", "NS": "r"})
    log.record_signal_state(35.0, {"EW": "r", "NS": "G"})
    return log


def straight(start_s: float, x0: float, vx: float, seconds: float, y: float = 0.0,
             vy: float = 0.0) -> list[tuple[float, float, float]]:
    steps = int(seconds * FPS)
    return [(round(start_s + i / FPS, 3), x0 + vx * i / FPS, y + vy * i / FPS)
            for i in range(steps + 1)]


def parked(start_s: float, x: float, seconds: float) -> list[tuple[float, float, float]]:
    return straight(start_s, x, 0.0, seconds)


def run(tracks: list[CameraTrack]) -> list:
    detectors = DetectorSet(SITE, signal_log())
    found = []
    for time_s, frame in CameraTrackSource(SITE, "cam-J1-W").frames(tracks):
        found.extend(detectors.step(time_s, frame))
    return found


@pytest.mark.parametrize(("start_s", "expected"), [
    pytest.param(34.0, [EventType.RED_LIGHT], id="crosses-6s-into-red"),
    pytest.param(0.0, [], id="crosses-on-green"),
    pytest.param(26.0, [], id="crosses-on-yellow"),
    pytest.param(28.11, [], id="crosses-0.1s-into-red-within-grace"),
    pytest.param(28.3, [EventType.RED_LIGHT], id="crosses-0.3s-into-red"),
])
def test_red_light_is_judged_at_the_crossing_instant(start_s: float, expected: list) -> None:
    """A vehicle crossing at 10 m/s is flagged only when red showed at the crossing."""
    track = CameraTrack("t1", "motorcycle", "W", straight(start_s, -60.0, 10.0, 8.0))

    found = [d for d in run([track]) if d.event_type == EventType.RED_LIGHT]

    assert [d.event_type for d in found] == expected
    if found:
        assert found[0].time_s == pytest.approx(start_s + 5.0, abs=1e-6)
        assert found[0].details["signal_group_id"] == "EW"


def test_homography_maps_pixels_to_road_metres() -> None:
    """A perspective homography gives the road point of each pixel, times unchanged."""
    matrix = [[0.05, 0.0, -60.0], [0.0, 0.05, 0.0], [0.0, 0.001, 1.0]]

    mapped = apply_homography(matrix, [(1.0, 400.0, 0.0), (2.0, 400.0, 1000.0)])

    assert mapped[0] == pytest.approx((1.0, -40.0, 0.0))
    assert mapped[1] == pytest.approx((2.0, -20.0, 25.0))


def test_speeding_from_pixel_track_through_homography() -> None:
    """72 km/h on a 50 km/h approach is flagged with the speed measured from positions."""
    matrix = [[0.05, 0.0, -60.0], [0.0, 0.05, 0.0], [0.0, 0.0, 1.0]]
    pixels = [(t, (x + 60.0) / 0.05, 0.0) for t, x, _ in straight(1.0, -100.0, 20.0, 4.0)]
    fast = CameraTrack("fast", "passenger", "W", apply_homography(matrix, pixels))
    legal = CameraTrack("legal", "passenger", "W", straight(1.0, -100.0, 13.0, 4.0, y=3.0))

    found = [d for d in run([fast, legal]) if d.event_type == EventType.SPEEDING]

    assert [d.observation.track_id for d in found] == ["fast"]
    assert found[0].details["speed_kmh"] == pytest.approx(72.0, abs=0.1)
    assert found[0].details["limit_kmh"] == 50.0


def test_wrong_way_driver_is_flagged_once() -> None:
    """A vehicle moving west on the eastbound arm is reported once, not every frame."""
    track = CameraTrack("ghost", "motorcycle", "W", straight(1.0, -20.0, -8.0, 6.0))

    found = [d for d in run([track]) if d.event_type == EventType.WRONG_WAY]

    assert len(found) == 1
    assert found[0].details["speed_against_kmh"] == pytest.approx(28.8, abs=0.1)


def test_vehicle_stopped_on_green_with_clear_lane_is_a_possible_crash() -> None:
    """Stopped 20 s while the lane ahead is clear and green: reported at t = 20 s."""
    track = CameraTrack("crash", "passenger", "W", parked(0.0, -40.0, 29.0))

    found = [d for d in run([track]) if d.event_type == EventType.STOPPED_VEHICLE]

    assert len(found) == 1
    assert found[0].time_s == pytest.approx(20.0)


def test_queue_at_red_is_not_a_stopped_vehicle() -> None:
    """Vehicles waiting at red (33-70 s) are never reported as stopped vehicles."""
    queue = [CameraTrack(f"q{i}", "motorcycle", "W", parked(34.0, -12.0 - 7 * i, 30.0))
             for i in range(3)]

    assert [d for d in run(queue) if d.event_type == EventType.STOPPED_VEHICLE] == []


def test_only_the_vehicle_at_the_front_of_a_blocked_lane_is_reported() -> None:
    """The vehicles queued behind a broken-down one do not each raise an incident."""
    front = CameraTrack("front", "truck", "W", parked(0.0, -40.0, 29.0))
    behind = CameraTrack("behind", "passenger", "W", parked(0.0, -48.0, 29.0))

    found = [d for d in run([front, behind]) if d.event_type == EventType.STOPPED_VEHICLE]

    assert [d.observation.track_id for d in found] == ["front"]


def test_spillback_reaching_the_upstream_junction_is_reported_once() -> None:
    """A queue reaching within 15 m of the upstream junction for 10 s: one event."""
    queue = [CameraTrack(f"q{i}", "motorcycle", "W", parked(40.0, -12.0 - 7 * i, 20.0))
             for i in range(20)]  # tail at x = -145 m, 135 m behind the stop line

    found = [d for d in run(queue) if d.event_type == EventType.SPILLBACK]

    assert len(found) == 1
    assert found[0].time_s == pytest.approx(50.0)
    assert found[0].details["queue_m"] == pytest.approx(135.0)
    assert found[0].details["halted_vehicles"] == 20


def test_short_queue_is_not_spillback() -> None:
    queue = [CameraTrack(f"q{i}", "motorcycle", "W", parked(40.0, -12.0 - 7 * i, 20.0))
             for i in range(10)]

    assert [d for d in run(queue) if d.event_type == EventType.SPILLBACK] == []


@pytest.mark.parametrize(("track", "message"), [
    pytest.param(CameraTrack("a", "motorcycle", "X", [(0, 0, 0), (1, 1, 1)]),
                 "approach_id 'X'", id="unknown-approach"),
    pytest.param(CameraTrack("b", "motorcycle", "W", [(0, 0, 0)]),
                 "at least two", id="one-point"),
    pytest.param(CameraTrack("c", "motorcycle", "W", [(1, 0, 0), (1, 1, 0)]),
                 "increase strictly", id="time-not-increasing"),
    pytest.param(CameraTrack("d", "tank", "W", [(0, 0, 0), (1, 1, 0)]),
                 "vehicle_class 'tank'", id="unknown-class"),
    pytest.param(CameraTrack("e", "motorcycle", "W", [(0, 0, 0), (1, float("nan"), 0)]),
                 "finite", id="nan-position"),
])
def test_bad_camera_tracks_are_refused_with_the_field_named(track: CameraTrack,
                                                            message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run([track])


def test_camera_key_frames_become_hashed_evidence(tmp_path) -> None:
    """The frames nearest the violation go to the evidence store; the event on the bus
    carries only their hashes."""
    import hashlib

    from incidents.builder import EventBuilder
    from incidents.bus import MemoryBus
    from incidents.evidence import EvidenceStore
    from incidents.pipeline import IncidentPipeline

    frames = [(t, f"jpeg@{t:.1f}".encode()) for t in (38.0, 38.9, 39.1, 40.0)]
    track = CameraTrack("t1", "motorcycle", "W", straight(34.0, -60.0, 10.0, 8.0),
                        key_frames=frames)
    log = signal_log()
    source = CameraTrackSource(SITE, "cam-J1-W")
    store = EvidenceStore(tmp_path)
    pipeline = IncidentPipeline(DetectorSet(SITE, log),
                                EventBuilder(SITE, log, store, media=source), MemoryBus(),
                                "nhip-test")

    for time_s, frame in source.frames([track]):
        pipeline.process_frame(time_s, frame)

    [alert] = [a for a in pipeline.published if a.event.event_type == EventType.RED_LIGHT]
    images = [r for r in alert.event.evidence if r.media_type == "image/jpeg"]
    assert [r.sha256 for r in images] == [
        hashlib.sha256(jpeg).hexdigest() for t, jpeg in frames[:3]]
    assert all(store.read_media(r.sha256, "test", "check") for r in images)
    assert b"jpeg@" not in alert.to_fields()["data"].encode()


def test_queue_reaching_back_every_cycle_is_one_spillback_episode() -> None:
    """A queue that reaches back, eases for 20 s, and reaches back again: one event."""
    def queue(start_s: float, seconds: float, tag: str) -> list[CameraTrack]:
        return [CameraTrack(f"{tag}{i}", "motorcycle", "W",
                            parked(start_s, -12.0 - 7 * i, seconds)) for i in range(20)]

    short = [CameraTrack(f"s{i}", "motorcycle", "W", parked(61.0, -12.0 - 7 * i, 19.0))
             for i in range(5)]
    found = run(queue(40.0, 20.0, "a") + short + queue(81.0, 20.0, "b"))

    assert len([d for d in found if d.event_type == EventType.SPILLBACK]) == 1
