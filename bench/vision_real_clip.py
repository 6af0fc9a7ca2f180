"""Counts the real expressway clip and compares with its hand counts, at several frame rates.

Prints a table per class and direction and writes ``bench/results/vision_real_clip.json``
plus the full-rate ``counts.json`` as ``bench/results/vision_real_clip_counts.json``.

    python bench/vision_real_clip.py [--video-dir DIR] [--fps 24 6 3]

The clip and its hand counts live in ``shared/data/video`` beside the repository; a flag or
``NHIP_VIDEO_DIR`` points elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vision.camera import VEHICLE_CLASSES, load_camera
from vision.pipeline import count_video

DEFAULT_VIDEO_DIR = Path(
    os.environ.get("NHIP_VIDEO_DIR", REPO / ".." / "shared" / "data" / "video")
)
CAMERA = REPO / "vision" / "cameras" / "expressway-dusk-night.yaml"
LINE_OF_DIRECTION = {"towards": "A", "away": "B"}
MATCH_TOLERANCE_S = 2 / 24  # hand counts are good to about +-2 frames of the 24 fps clip


def read_hand_counts(path: Path) -> list[dict[str, str]]:
    rows = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#")
    ]
    return list(csv.DictReader(rows))


def match_events(
    hand: list[dict[str, str]], ours: list[dict[str, Any]], fps: float, tolerance_s: float
) -> dict[str, int]:
    """Pairs hand and automatic crossings on the same line within a time tolerance."""
    unmatched = list(ours)
    matched = 0
    for row in sorted(hand, key=lambda r: int(r["frame"])):
        line = LINE_OF_DIRECTION[row["direction"]]
        time_s = int(row["frame"]) / fps
        best = None
        for event in unmatched:
            gap = abs(float(event["time_s"]) - time_s)
            if (
                event["line_id"] == line
                and gap <= tolerance_s
                and (best is None or gap < best[0])
            ):
                best = (gap, event)
        if best is not None:
            unmatched.remove(best[1])
            matched += 1
    return {"matched": matched, "missed": len(hand) - matched, "extra": len(unmatched)}


def summarise(hand: list[dict[str, str]], crossings: list[dict[str, Any]]) -> dict[str, Any]:
    table: dict[str, dict[str, dict[str, int]]] = {}
    for line in ("A", "B"):
        hand_counts = Counter(
            r["class"] for r in hand if LINE_OF_DIRECTION[r["direction"]] == line
        )
        our_counts = Counter(str(e["class"]) for e in crossings if e["line_id"] == line)
        table[line] = {
            name: {"hand": hand_counts.get(name, 0), "ours": our_counts.get(name, 0)}
            for name in VEHICLE_CLASSES
        }
    hand_total = len(hand)
    our_total = len(crossings)
    hand_moto = sum(1 for r in hand if r["class"] == "motorcycle")
    our_moto = sum(1 for e in crossings if e["class"] == "motorcycle")
    class_abs_error = sum(
        abs(c["hand"] - c["ours"]) for line in table.values() for c in line.values()
    )
    by_line = {}
    for line, classes in table.items():
        hand_line = sum(c["hand"] for c in classes.values())
        ours_line = sum(c["ours"] for c in classes.values())
        by_line[line] = {
            "hand": hand_line,
            "ours": ours_line,
            "error_pct": round(100.0 * (ours_line - hand_line) / hand_line, 1),
        }
    return {
        "by_line": by_line,
        "by_line_and_class": table,
        "total": {
            "hand": hand_total,
            "ours": our_total,
            "error_pct": round(100.0 * (our_total - hand_total) / hand_total, 1),
        },
        "motorcycle": {"hand": hand_moto, "ours": our_moto},
        "per_class_absolute_error": class_abs_error,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video-dir", type=Path, default=DEFAULT_VIDEO_DIR)
    parser.add_argument("--fps", type=float, nargs="+", default=[24.0, 12.0, 6.0, 3.0])
    args = parser.parse_args()

    clip = args.video_dir / "expressway-dusk-night.mp4"
    hand = read_hand_counts(args.video_dir / "expressway-dusk-night.counts.csv")
    camera = load_camera(CAMERA)
    results: dict[str, Any] = {"clip": clip.name, "hand_counted": len(hand), "runs": {}}
    for fps in args.fps:
        run = count_video(camera, clip, target_fps=fps)
        data = run.to_json()
        crossings = data["crossings"]
        summary = summarise(hand, crossings)
        summary["event_match"] = match_events(
            hand, crossings, run.source_fps, MATCH_TOLERANCE_S + 1.0 / fps
        )
        summary["event_match_1s"] = match_events(hand, crossings, run.source_fps, 1.0)
        summary["frames_processed"] = run.frames_processed
        summary["wall_fps"] = round(run.frames_processed / run.processing_s, 1)
        results["runs"][f"{fps:g}fps"] = summary
        if fps == args.fps[0]:
            out = REPO / "bench" / "results" / "vision_real_clip_counts.json"
            out.write_text(json.dumps(data, indent=2) + "\n")

        total = summary["total"]
        print(
            f"\n== {fps:g} fps: total {total['ours']} vs hand {total['hand']} "
            f"({total['error_pct']:+.1f} %), events {summary['event_match']}"
        )
        print(f"{'line':<5}{'class':<12}{'hand':>6}{'ours':>6}")
        for line, classes in summary["by_line_and_class"].items():
            for name, pair in classes.items():
                if pair["hand"] or pair["ours"]:
                    print(f"{line:<5}{name:<12}{pair['hand']:>6}{pair['ours']:>6}")

    out = REPO / "bench" / "results" / "vision_real_clip.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
