"""Count error on synthetic dense motorcycle traffic, and how it changes with frame rate.

SUMO vehicles (80 to 90 % motorcycles, released in platoons by a signal) are drawn through
the synthetic camera at several frame rates; the classical backend's counts are compared
with the exact crossings. Writes ``bench/results/vision_synthetic.json``.

    python bench/vision_synthetic.py [--seconds 120] [--seeds 1 2] [--fps 24 12 6 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vision.backends.classical import ClassicalBackend
from vision.pipeline import CountingLoop
from vision.synthetic import SyntheticCamera


def run_once(fps: float, seconds: float, seed: int, workdir: Path) -> dict[str, Any]:
    camera = SyntheticCamera(workdir, duration_s=seconds, fps=fps, seed=seed)
    backend = ClassicalBackend(camera.camera, fps=fps)
    loop = CountingLoop(camera.camera, [])
    started = time.perf_counter()
    for index, frame in enumerate(camera):
        result = backend.process(frame.image)
        loop.step(index, frame.time_s, result.detections, result.foreground, result.scene_cut)
    loop.finish()
    ours = Counter(event.vehicle_class for event in loop.events)
    truth = camera.truth.counts
    return {
        "truth": dict(truth),
        "ours": dict(ours),
        "truth_total": sum(truth.values()),
        "ours_total": sum(ours.values()),
        "truth_motorcycle": truth["motorcycle"],
        "ours_motorcycle": ours["motorcycle"],
        "truth_max_queue_m": round(camera.truth.max_queue_m, 1),
        "ours_max_queue_m": max(f.queue_m for i in loop.intervals for f in i.lanes.values()),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--fps", type=float, nargs="+", default=[24.0, 12.0, 6.0, 3.0])
    args = parser.parse_args()

    results: dict[str, Any] = {
        "seconds_per_run": args.seconds,
        "seeds": args.seeds,
        "rates": {},
    }
    with tempfile.TemporaryDirectory(prefix="nhip-synthetic-") as folder:
        for fps in args.fps:
            runs = [
                run_once(fps, args.seconds, seed, Path(folder) / f"{fps:g}-{seed}")
                for seed in args.seeds
            ]
            truth_total = sum(int(r["truth_total"]) for r in runs)
            ours_total = sum(int(r["ours_total"]) for r in runs)
            truth_moto = sum(int(r["truth_motorcycle"]) for r in runs)
            ours_moto = sum(int(r["ours_motorcycle"]) for r in runs)
            summary = {
                "total_error_pct": round(100 * (ours_total - truth_total) / truth_total, 1),
                "motorcycle_error_pct": round(100 * (ours_moto - truth_moto) / truth_moto, 1),
                "truth_total": truth_total,
                "ours_total": ours_total,
                "truth_motorcycle": truth_moto,
                "ours_motorcycle": ours_moto,
                "runs": runs,
            }
            results["rates"][f"{fps:g}fps"] = summary
            print(
                f"{fps:>4g} fps: total {ours_total}/{truth_total} "
                f"({summary['total_error_pct']:+.1f} %), motorcycles {ours_moto}/{truth_moto} "
                f"({summary['motorcycle_error_pct']:+.1f} %)"
            )
    out = REPO / "bench" / "results" / "vision_synthetic.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
