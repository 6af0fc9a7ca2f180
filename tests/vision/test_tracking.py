"""The tracker keeps identities at low frame rates without jumping between vehicles."""

from __future__ import annotations

from vision.camera import TrackerSettings
from vision.tracking import Detection, Tracker


def _box(x: float, y: float, w: float = 30, h: float = 40) -> tuple[float, float, float, float]:
    return (x - w / 2, y - h, x + w / 2, y)


def test_fast_vehicle_at_six_fps_keeps_its_id() -> None:
    """A vehicle moving 35 px per frame (no overlap between frames) keeps one id."""
    tracker = Tracker(TrackerSettings())

    ids = set()
    for step in range(10):
        updated = tracker.update([Detection(_box(300, 100 + 35 * step), "car")], step / 6)
        ids.update(track.track_id for track in updated)

    assert ids == {1}
    assert tracker.tracks[0].hits == 10


def test_missed_frames_are_bridged_then_dropped() -> None:
    """A track survives a gap shorter than max_gap_s and is dropped after a longer one."""
    tracker = Tracker(TrackerSettings(max_gap_s=0.5))
    tracker.update([Detection(_box(300, 100), "car")], 0.0)
    tracker.update([Detection(_box(300, 120), "car")], 1 / 6)

    tracker.update([], 2 / 6)
    updated = tracker.update([Detection(_box(300, 160), "car")], 3 / 6)
    assert [t.track_id for t in updated] == [1]

    tracker.update([], 4 / 6)
    tracker.update([], 7 / 6)
    assert tracker.tracks == []


def test_does_not_jump_to_the_next_vehicle_in_the_lane() -> None:
    """When a vehicle leaves, its track is not handed to a vehicle 150 px behind it."""
    tracker = Tracker(TrackerSettings())
    tracker.update([Detection(_box(300, 400), "car")], 0.0)
    tracker.update([Detection(_box(300, 420), "car")], 1 / 6)

    updated = tracker.update([Detection(_box(300, 270), "car")], 2 / 6)

    assert [t.track_id for t in updated] == [2]


def test_class_is_the_weighted_majority() -> None:
    """Near (large) sightings outweigh far (small) ones when the class is decided."""
    tracker = Tracker(TrackerSettings())
    for step in range(3):
        tracker.update([Detection(_box(300, 100 + 10 * step, 10, 10), "motorcycle")], step / 6)
    for step in range(3, 5):
        tracker.update([Detection(_box(300, 100 + 10 * step, 80, 80), "truck")], step / 6)

    assert tracker.tracks[0].vehicle_class == "truck"


def test_split_blob_joins_the_parent_family() -> None:
    """A new box born inside a track's previous box is a piece of the same vehicle."""
    tracker = Tracker(TrackerSettings())
    tracker.update([Detection((100, 100, 200, 300), "truck")], 0.0)

    updated = tracker.update(
        [Detection((100, 200, 200, 305), "truck"), Detection((110, 105, 190, 180), "truck")],
        1 / 6,
    )

    families = {t.track_id: t.family_id for t in updated}
    assert families == {1: 1, 2: 1}
