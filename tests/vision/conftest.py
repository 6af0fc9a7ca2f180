"""Fixtures for the camera-counting tests: camera configs, tracks and a synthetic video."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vision.camera import CameraConfig, parse_camera
from vision.tracking import Track

REPO = Path(__file__).resolve().parents[2]
VIDEO_DIR = Path(os.environ.get("NHIP_VIDEO_DIR", REPO / ".." / "shared" / "data" / "video"))

BASE_CAMERA: dict[str, Any] = {
    "camera_id": "test-cam",
    "junction_id": "J1",
    "frame_size_wh": [640, 480],
    "interval_s": 10,
    "homography": {
        "image_points": [[200, 100], [440, 100], [620, 470], [20, 470]],
        "road_points_m": [[0, 60], [8, 60], [8, 0], [0, 0]],
    },
    "count_lines": [
        {"id": "L", "points": [[0, 300], [640, 300]], "direction": "down", "hysteresis_px": 6}
    ],
    "lanes": [
        {
            "id": "left",
            "signal_group_id": "north-through",
            "polygon": [[200, 100], [320, 100], [320, 470], [20, 470]],
            "stop_line": [[20, 460], [320, 460]],
        },
        {
            "id": "right",
            "signal_group_id": "north-left",
            "polygon": [[320, 100], [440, 100], [620, 470], [320, 470]],
        },
    ],
}


@pytest.fixture()
def camera_dict() -> dict[str, Any]:
    """A fresh, valid camera configuration as parsed YAML, for tests to break."""
    return copy.deepcopy(BASE_CAMERA)


@pytest.fixture()
def camera(camera_dict: dict[str, Any]) -> CameraConfig:
    return parse_camera(camera_dict)


@pytest.fixture()
def make_track() -> Callable[..., Track]:
    """Builds a track whose bottom-centre sits at (x, y)."""

    def build(
        track_id: int,
        x: float,
        y: float,
        hits: int = 5,
        width: float = 40,
        height: float = 30,
        family_id: int = 0,
    ) -> Track:
        box = (x - width / 2, y - height, x + width / 2, y)
        return Track(track_id, box, 0.0, 0.0, hits=hits, family_id=family_id)

    return build


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A 90 s, 6 fps synthetic camera video of dense mixed traffic, with its truth."""
    from vision.synthetic import SyntheticCamera

    workdir = tmp_path_factory.mktemp("synthetic")
    camera = SyntheticCamera(workdir / "sumo", duration_s=90, fps=6)
    video = camera.write_video(workdir / "synthetic.mp4")
    truth = json.loads(video.with_suffix(".truth.json").read_text())
    return video, truth


@pytest.fixture()
def real_clip() -> Path:
    clip = VIDEO_DIR / "expressway-dusk-night.mp4"
    if not clip.is_file():
        pytest.skip(f"real clip not found at {clip} (set NHIP_VIDEO_DIR)")
    return clip
