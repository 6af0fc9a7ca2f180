"""Line counting by bottom-centre with hysteresis: the hard cases of real footage."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from vision.camera import CountLine
from vision.counting import LineCounter
from vision.tracking import Track

FRAME = (640, 480)
DOWN_LINE = CountLine("L", (0.0, 300.0), (640.0, 300.0), direction="down", hysteresis_px=6)


def _feed(
    counter: LineCounter,
    make_track: Callable[..., Track],
    track_id: int,
    ys: Sequence[float],
    x: float = 320.0,
    hits_from: int = 5,
) -> int:
    """Moves one track's bottom-centre through the given y values; returns counts."""
    counted = 0
    for step, y in enumerate(ys):
        track = make_track(track_id, x, y, hits=hits_from + step)
        if counter.update(track, step / 6.0, step) is not None:
            counted += 1
    return counted


@pytest.mark.parametrize(
    ("ys", "expected"),
    [
        pytest.param([250, 270, 290, 310, 330], 1, id="clean-crossing"),
        pytest.param([250, 260, 298, 301, 299, 302, 300, 299, 301], 0, id="stopped-on-line"),
        pytest.param([250, 296, 304, 296, 304, 296, 304, 320], 1, id="jitter-then-cross"),
        pytest.param([250, 280, 310, 330, 310, 280, 310, 330], 1, id="reverse-and-recross"),
        pytest.param([330, 310, 290, 270], 0, id="wrong-direction"),
        pytest.param([310, 330, 350], 0, id="born-past-line"),
        pytest.param([250, 303, 305, 304], 0, id="inside-band-only"),
        pytest.param([250, 150, 290, 340], 1, id="backs-off-then-crosses"),
    ],
)
def test_track_counts_at_most_once(
    make_track: Callable[..., Track], ys: list[float], expected: int
) -> None:
    """A track counts once when it really crosses, and never for jitter or reversals."""
    counter = LineCounter(DOWN_LINE, FRAME)

    assert _feed(counter, make_track, 1, ys) == expected


def test_several_vehicles_crossing_at_once(make_track: Callable[..., Track]) -> None:
    """Five motorcycles abreast crossing in the same frames are five counts."""
    counter = LineCounter(DOWN_LINE, FRAME)
    events = []

    for step, y in enumerate([280, 292, 308, 320]):
        for track_id, x in enumerate([100, 160, 220, 280, 340], start=1):
            event = counter.update(make_track(track_id, x, y, hits=5), step / 6, step)
            if event is not None:
                events.append(event)

    assert sorted(e.track_id for e in events) == [1, 2, 3, 4, 5]
    assert {e.frame_index for e in events} == {2}


def test_line_near_the_frame_edge_still_counts(make_track: Callable[..., Track]) -> None:
    """A line 4 px above the bottom edge narrows its band so clipped boxes still count."""
    line = CountLine("edge", (0.0, 475.0), (640.0, 475.0), direction="down", hysteresis_px=10)
    counter = LineCounter(line, FRAME)

    # Boxes are clipped by the frame: the bottom never passes y = 479.
    assert _feed(counter, make_track, 1, [440, 455, 466, 474, 479, 479]) == 1


def test_crossing_outside_the_segment_is_ignored(make_track: Callable[..., Track]) -> None:
    """Only crossings between the line's end points count (the other carriageway's don't)."""
    line = CountLine("A", (0.0, 300.0), (300.0, 300.0), direction="down", hysteresis_px=6)
    counter = LineCounter(line, FRAME)

    assert _feed(counter, make_track, 1, [250, 290, 310, 330], x=450) == 0
    assert _feed(counter, make_track, 2, [250, 290, 310, 330], x=150) == 1


def test_both_directions_line_counts_either_way(make_track: Callable[..., Track]) -> None:
    """A line with direction 'both' counts down- and up-bound tracks."""
    line = CountLine("any", (0.0, 300.0), (640.0, 300.0), direction="both", hysteresis_px=6)
    counter = LineCounter(line, FRAME)

    assert _feed(counter, make_track, 1, [250, 290, 320]) == 1
    assert _feed(counter, make_track, 2, [350, 310, 280]) == 1


def test_young_track_counts_once_confirmed(make_track: Callable[..., Track]) -> None:
    """A crossing seen before the track has enough hits counts when it is confirmed."""
    counter = LineCounter(DOWN_LINE, FRAME, min_hits=3)
    events = []

    for step, y in enumerate([280, 320, 340]):
        event = counter.update(make_track(1, 320, y, hits=step + 1), step / 6, step)
        events.append(event)

    assert events[0] is None and events[1] is None
    assert events[2] is not None and events[2].frame_index == 1


def test_pieces_of_one_vehicle_count_once(make_track: Callable[..., Track]) -> None:
    """Two tracks of one family (a split trailer) cross the line and count once."""
    counter = LineCounter(DOWN_LINE, FRAME)

    first = _feed(counter, make_track, 1, [280, 320])
    second = 0
    for step, y in enumerate([270, 290, 320]):
        if counter.update(make_track(2, 330, y, family_id=1), step, step) is not None:
            second += 1

    assert (first, second) == (1, 0)


def test_crossing_point_is_interpolated_on_the_line(make_track: Callable[..., Track]) -> None:
    """The event's point lies on the line, between the two trusted positions."""
    counter = LineCounter(DOWN_LINE, FRAME)
    counter.update(make_track(1, 100, 280), 0.0, 0)

    event = counter.update(make_track(1, 140, 320), 0.2, 1)

    assert event is not None
    assert event.point_xy == pytest.approx((120.0, 300.0))
