"""``nhip count`` and ``nhip camera draw`` end to end on a synthetic video and the real clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml

from nhip.cli import main
from vision.synthetic import camera_config

REPO = Path(__file__).resolve().parents[2]
EXPRESSWAY = REPO / "vision" / "cameras" / "expressway-dusk-night.yaml"


def _write_synthetic_camera(path: Path) -> Path:
    camera = camera_config(interval_s=30)
    raw = {
        "camera_id": camera.camera_id,
        "junction_id": camera.junction_id,
        "frame_size_wh": list(camera.frame_size_wh),
        "interval_s": camera.interval_s,
        "homography": {"matrix": camera.homography.tolist()},
        "count_lines": [
            {
                "id": line.id,
                "points": [list(line.start_xy), list(line.end_xy)],
                "direction": line.direction,
                "hysteresis_px": line.hysteresis_px,
            }
            for line in camera.count_lines
        ],
        "lanes": [
            {
                "id": lane.id,
                "signal_group_id": lane.signal_group_id,
                "polygon": [list(p) for p in lane.polygon],
                "stop_line": [list(p) for p in lane.stop_line or ()],
            }
            for lane in camera.lanes
        ],
        "detector": {"backend": "classical", "min_area_px": 40, "heavy_min_extent_m": 3.5},
        "tracker": {"max_gap_s": 0.6, "max_jump_px": 60, "min_hits": 2},
    }
    path.write_text(yaml.safe_dump(raw))
    return path


def test_count_writes_intervals_per_lane(
    synthetic_video: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """counts.json has 30 s intervals with per-lane class counts, occupancy and queue."""
    video, truth = synthetic_video
    camera = _write_synthetic_camera(tmp_path / "cam.yaml")

    code = main(["count", str(video), "--camera", str(camera), "--out", str(tmp_path / "out")])

    assert code == 0
    counts = json.loads((tmp_path / "out" / "counts.json").read_text())
    assert [i["start_s"] for i in counts["intervals"]] == [0.0, 30.0, 60.0]
    lane = counts["intervals"][0]["lanes"]["L0"]
    assert set(lane) == {
        "signal_group_id",
        "counts",
        "total",
        "occupancy",
        "presence",
        "queue_m",
    }
    assert set(lane["counts"]) == {"motorcycle", "car", "bus", "truck"}
    lane_total = sum(f["total"] for i in counts["intervals"] for f in i["lanes"].values())
    assert lane_total == len(counts["crossings"])
    assert abs(len(counts["crossings"]) - truth["total"]) <= 0.1 * truth["total"]


def test_no_frames_are_stored_unless_asked(
    synthetic_video: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Without --annotate the output holds counts only; with it, an MP4 of the run."""
    video, _ = synthetic_video
    camera = _write_synthetic_camera(tmp_path / "cam.yaml")

    main(
        [
            "count",
            str(video),
            "--camera",
            str(camera),
            "--out",
            str(tmp_path / "plain"),
            "--max-frames",
            "60",
        ]
    )
    main(
        [
            "count",
            str(video),
            "--camera",
            str(camera),
            "--out",
            str(tmp_path / "shown"),
            "--max-frames",
            "60",
            "--annotate",
        ]
    )

    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == ["counts.json"]
    capture = cv2.VideoCapture(str(tmp_path / "shown" / "annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    capture.release()


def test_thinning_to_a_lower_rate(
    synthetic_video: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """--fps 3 on a 6 fps video processes every other frame."""
    video, _ = synthetic_video
    camera = _write_synthetic_camera(tmp_path / "cam.yaml")

    main(
        [
            "count",
            str(video),
            "--camera",
            str(camera),
            "--out",
            str(tmp_path),
            "--fps",
            "3",
            "--max-frames",
            "100",
        ]
    )

    counts = json.loads((tmp_path / "counts.json").read_text())
    assert (counts["frames_read"], counts["frames_processed"]) == (100, 50)


def test_bad_camera_file_exits_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken camera file stops the command with exit code 2 and the field's name."""
    raw = yaml.safe_load(EXPRESSWAY.read_text())
    raw["count_lines"][0]["direction"] = "sideways"
    camera = tmp_path / "bad.yaml"
    camera.write_text(yaml.safe_dump(raw))

    code = main(["count", "missing.mp4", "--camera", str(camera), "--out", str(tmp_path)])

    assert code == 2
    assert "count_lines[0].direction" in caplog.text


def test_missing_video_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A video path that does not exist is named in the error."""
    code = main(
        [
            "count",
            str(tmp_path / "nope.mp4"),
            "--camera",
            str(EXPRESSWAY),
            "--out",
            str(tmp_path),
        ]
    )

    assert code == 2
    assert "nope.mp4 does not exist" in caplog.text


def test_camera_draw_writes_the_overlay(real_clip: Path, tmp_path: Path) -> None:
    """camera draw paints lanes and lines over the chosen frame at full size."""
    out = tmp_path / "setup.png"

    code = main(
        [
            "camera",
            "draw",
            str(real_clip),
            "--camera",
            str(EXPRESSWAY),
            "--out",
            str(out),
            "--frame",
            "120",
        ]
    )

    assert code == 0
    picture = cv2.imread(str(out))
    assert picture.shape == (720, 1280, 3)
    # The count line A is drawn in pure red across the left carriageway at y = 460.
    b, g, r = picture[460, 100]
    assert r > 200 and g < 60 and b < 60


def test_real_clip_counts_near_hand_counts(real_clip: Path, tmp_path: Path) -> None:
    """At 6 fps the expressway clip gives 18 +- 2 vehicles, split by direction as counted."""
    code = main(
        [
            "count",
            str(real_clip),
            "--camera",
            str(EXPRESSWAY),
            "--out",
            str(tmp_path),
            "--fps",
            "6",
        ]
    )

    assert code == 0
    totals = json.loads((tmp_path / "counts.json").read_text())["line_totals"]
    towards, away = sum(totals["A"].values()), sum(totals["B"].values())
    assert abs(towards - 7) <= 1
    assert abs(away - 11) <= 1
    assert totals["A"]["motorcycle"] + totals["B"]["motorcycle"] == 0


def test_http_stream_is_counted_like_the_file(real_clip: Path, tmp_path: Path) -> None:
    """The clip served over HTTP on loopback gives the same crossings as the file."""
    import functools
    import http.server
    import threading

    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(real_clip.parent)
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{real_clip.name}"
    common = ["--camera", str(EXPRESSWAY), "--max-frames", "150", "--fps", "6"]
    try:
        code = main(["count", url, "--out", str(tmp_path / "stream"), *common])
    finally:
        server.shutdown()
        server.server_close()
    main(["count", str(real_clip), "--out", str(tmp_path / "file"), *common])

    def crossings(folder: str) -> list[tuple[int, float]]:
        data = json.loads((tmp_path / folder / "counts.json").read_text())
        return [(c["frame"], round(c["time_s"], 2)) for c in data["crossings"]]

    assert code == 0
    assert crossings("stream") == crossings("file")
    assert len(crossings("file")) >= 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fps", "nan"], "argument --fps: must be more than 0 and at most 1000, got nan"),
        (["--fps", "inf"], "argument --fps: must be more than 0 and at most 1000, got inf"),
        (["--fps", "0"], "argument --fps: must be more than 0 and at most 1000, got 0"),
        (["--max-frames", "-5"], "argument --max-frames: must be between 1 and"),
        (["--max-frames", "0"], "argument --max-frames: must be between 1 and"),
    ],
)
def test_count_refuses_bad_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    """Out-of-range numbers are flag errors, before any video is opened."""
    with pytest.raises(SystemExit) as raised:
        main(["count", "any.mp4", "--camera", str(EXPRESSWAY), "--out", str(tmp_path), *args])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "counts.json").exists()


def test_camera_draw_refuses_a_negative_frame(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as raised:
        main(
            [
                "camera", "draw", "any.mp4", "--camera", str(EXPRESSWAY),
                "--out", str(tmp_path / "setup.png"), "--frame", "-1",
            ]
        )

    assert raised.value.code == 2
    assert "argument --frame: must be between 0 and" in capsys.readouterr().err
    assert not (tmp_path / "setup.png").exists()


def test_counts_are_written_when_the_optimizer_refuses_every_report(
    synthetic_video: tuple[Path, dict[str, Any]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Against a fresh optimizer, where no controller has registered the junction yet."""
    import asyncio
    import threading

    from optimizer.server import start_server

    video, _ = synthetic_video
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server, port = asyncio.run_coroutine_threadsafe(
        start_server("127.0.0.1", 0), loop
    ).result(timeout=20)
    caplog.set_level("INFO", logger="vision.feed")
    try:
        code = main(
            [
                "count", str(video), "--camera", str(EXPRESSWAY), "--out", str(tmp_path),
                "--optimizer", f"127.0.0.1:{port}",
            ]
        )
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(0), loop).result(timeout=20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)

    assert code == 0
    counts = json.loads((tmp_path / "counts.json").read_text())
    intervals = len(counts["intervals"])
    assert intervals == 9  # a 90 s video in the camera's 10 s intervals
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelname == "WARNING" and r.name == "vision.feed"
    ]
    assert len(warnings) == 1
    assert "'expressway-demo' is not registered" in warnings[0]
    assert "the junction's controller must register 'expressway-demo'" in warnings[0]
    out = capsys.readouterr().out
    assert f"0 of {intervals} intervals delivered" in out
