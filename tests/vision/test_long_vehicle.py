"""A long vehicle seen as two blobs counts once; motorcycles riding abreast count twice.

At night a tractor-trailer shows as its lit cab and, apart from it, the side of its load.
When the cab's blob is lost, its track may be handed the load's blob behind it; that one
backward step throws the track's velocity far off, and the load must still be found in the
box it was last seen in rather than start a second track that counts again.
"""

from __future__ import annotations

from vision.camera import CountLine, TrackerSettings
from vision.counting import LineCounter
from vision.tracking import Detection, Tracker

FPS = 24.0
FRAME = (640, 480)
LINE = CountLine("L", (0.0, 300.0), (640.0, 300.0), direction="down", hysteresis_px=4)
STEP_PX = 6.0  # both blobs of the truck move down together this far per frame


def _run(frames: list[list[Detection]], fps: float = FPS) -> tuple[int, set[int]]:
    """Tracks and counts a sequence of frames; returns the count and the track ids seen."""
    tracker = Tracker(TrackerSettings(max_gap_s=0.6, max_jump_px=120.0, min_hits=3))
    counter = LineCounter(LINE, FRAME, min_hits=3)
    counted = 0
    ids: set[int] = set()
    for index, detections in enumerate(frames):
        for track in tracker.update(detections, index / fps):
            ids.add(track.track_id)
            if counter.update(track, index / fps, index) is not None:
                counted += 1
    return counted, ids


def _truck_frames() -> list[list[Detection]]:
    """The cab's blob crosses the line and is lost; the load's blob, 90 px behind, goes on.

    The load flickers out for one frame right after the track took it for the cab, as blobs
    of dark loads do at night.
    """
    frames = []
    for index in range(40):
        shift = STEP_PX * index
        cab = Detection((220.0, 180.0 + shift, 380.0, 260.0 + shift), "truck")
        load = Detection((260.0, 110.0 + shift, 340.0, 170.0 + shift), "truck")
        if index < 14:
            frames.append([cab])
        elif index == 15:
            frames.append([])
        else:
            frames.append([load])
    return frames


def test_long_vehicle_in_two_blobs_counts_once() -> None:
    counted, ids = _run(_truck_frames())

    assert counted == 1
    assert ids == {1}  # the load's blob stays on the cab's track


def test_two_motorcycles_abreast_count_twice() -> None:
    """Two motorcycles 6 px apart moving down together keep their own tracks."""
    frames = []
    for index in range(30):
        shift = STEP_PX * index
        frames.append(
            [
                Detection((280.0, 200.0 + shift, 310.0, 240.0 + shift), "motorcycle"),
                Detection((316.0, 200.0 + shift, 346.0, 240.0 + shift), "motorcycle"),
            ]
        )

    counted, ids = _run(frames)

    assert counted == 2
    assert ids == {1, 2}


def test_motorcycle_into_its_leaders_old_place_is_not_the_leader() -> None:
    """A follower one frame step behind its leader in the lane still counts on its own."""
    frames = []
    for index in range(30):
        shift = STEP_PX * index
        frames.append(
            [
                Detection((290.0, 200.0 + shift, 320.0, 240.0 + shift), "motorcycle"),
                Detection((290.0, 150.0 + shift, 320.0, 190.0 + shift), "motorcycle"),
            ]
        )

    counted, ids = _run(frames)

    assert counted == 2
    assert ids == {1, 2}

