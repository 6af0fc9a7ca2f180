"""Camera YAML loading: good files load, bad ones name the field and the rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from vision.camera import load_camera, parse_camera
from vision.errors import CameraConfigError
from vision.geometry import to_image, to_road

CAMERAS = Path(__file__).resolve().parents[2] / "vision" / "cameras"


@pytest.mark.parametrize("path", sorted(CAMERAS.glob("*.yaml")), ids=lambda p: p.stem)
def test_committed_cameras_load(path: Path) -> None:
    """Every camera file shipped in vision/cameras/ is valid."""
    camera = load_camera(path)

    assert camera.lanes and camera.count_lines
    assert camera.homography.shape == (3, 3)


def test_homography_maps_the_given_points(camera_dict: dict[str, Any]) -> None:
    """The homography built from point pairs maps each image point onto its road point."""
    camera = parse_camera(camera_dict)

    pairs = zip(
        camera_dict["homography"]["image_points"], camera_dict["homography"]["road_points_m"]
    )
    for image_point, road_point in pairs:
        assert to_road(camera.homography, tuple(image_point)) == pytest.approx(
            road_point, abs=1e-6
        )
        back = to_image(camera.homography, tuple(road_point))
        assert back == pytest.approx(image_point, abs=1e-6)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    target: Any = raw
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    last = keys[-1]
    if value is _DELETE:
        del target[last]
    else:
        target[int(last) if last.isdigit() else last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "rule"),
    [
        pytest.param("camera_id", _DELETE, "camera_id", "is required", id="no-camera-id"),
        pytest.param("frame_size_wh", [640], "frame_size_wh", "pair", id="size-not-pair"),
        pytest.param("interval_s", 0, "interval_s", "greater than 0", id="interval-zero"),
        pytest.param(
            "count_lines.0.points",
            [[0, 300]],
            "count_lines[0].points",
            "exactly two",
            id="line-one-point",
        ),
        pytest.param(
            "count_lines.0.points",
            [[0, 300], [900, 300]],
            "count_lines[0].points[1]",
            "outside the 640x480 frame",
            id="line-off-frame",
        ),
        pytest.param(
            "count_lines.0.direction",
            "sideways",
            "count_lines[0].direction",
            "must be one of",
            id="bad-direction",
        ),
        pytest.param(
            "count_lines.0.direction",
            "left",
            "count_lines[0].direction",
            "parallel",
            id="direction-along-line",
        ),
        pytest.param(
            "lanes.0.polygon",
            [[0, 0], [10, 10]],
            "lanes[0].polygon",
            "at least 3 points",
            id="polygon-two-points",
        ),
        pytest.param(
            "lanes.0.polygon",
            [[0, 0], [10, 10], [20, 20]],
            "lanes[0].polygon",
            "no area",
            id="polygon-flat",
        ),
        pytest.param("lanes.1.id", "left", "lanes", "used twice", id="duplicate-lane"),
        pytest.param(
            "homography.image_points",
            [[0, 0], [10, 0], [20, 0], [30, 0]],
            "homography.image_points",
            "degenerate",
            id="collinear-homography",
        ),
        pytest.param(
            "homography.road_points_m",
            [[0, 0], [1, 1]],
            "homography.image_points",
            "pair up",
            id="homography-unpaired",
        ),
        pytest.param(
            "detector",
            {"backend": "yolo"},
            "detector.weights",
            "required",
            id="yolo-without-weights",
        ),
        pytest.param(
            "detector",
            {"weights": "https://example.invalid/y.pt"},
            "detector.weights",
            "never downloaded",
            id="weights-url",
        ),
        pytest.param(
            "detector", {"confidence": 1.5}, "detector", "below 1", id="confidence-above-one"
        ),
        pytest.param(
            "tracker", {"max_gap": 1}, "tracker", "unknown key(s) max_gap", id="tracker-typo"
        ),
        pytest.param(
            "lanes.0.colour", "red", "lanes[0]", "unknown key(s) colour", id="lane-typo"
        ),
    ],
)
def test_bad_config_names_field_and_rule(
    camera_dict: dict[str, Any], path: str, value: Any, field: str, rule: str
) -> None:
    """A broken camera file is refused with the field's name and the rule it breaks."""
    _set(camera_dict, path, value)

    with pytest.raises(CameraConfigError) as caught:
        parse_camera(camera_dict)

    assert caught.value.field == field
    assert rule in str(caught.value)


def test_unreadable_yaml_is_reported(tmp_path: Path) -> None:
    """A file that is not YAML is refused with its path in the message."""
    path = tmp_path / "broken.yaml"
    path.write_text("lanes: [unclosed\n")

    with pytest.raises(CameraConfigError, match="broken.yaml is not valid YAML"):
        load_camera(path)


def test_scaling_keeps_road_positions(camera_dict: dict[str, Any]) -> None:
    """A config scaled to half resolution maps the same road point to half the pixels."""
    camera = parse_camera(camera_dict)

    half = camera.scaled_to((320, 240))

    road = to_road(camera.homography, (400.0, 300.0))
    assert to_road(half.homography, (200.0, 150.0)) == pytest.approx(road)
    assert half.count_lines[0].end_xy == (320.0, 150.0)
    assert np.allclose(half.lanes[0].polygon[0], (100.0, 50.0))
