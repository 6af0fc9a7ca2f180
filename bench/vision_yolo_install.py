"""What installing the optional YOLO extra costs here: time and disk, in a fresh venv.

Creates a throw-away virtual environment, installs torch/torchvision (the versions this
machine's pip serves from its local wheel folder) and then Ultralytics with the tracker's
``lap``, timing each step, and measures the venv on disk. Writes
``bench/results/vision_yolo_install.json``; the venv is deleted afterwards.

    python bench/vision_yolo_install.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STEPS = [
    ["torch==2.14.1", "torchvision==0.29.1"],
    ["ultralytics>=8.4,<8.5", "lap>=0.5.12"],
]


def folder_size_mb(folder: Path) -> float:
    total = sum(
        p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
    )
    return round(total / 1e6, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="build the venv here, keep it")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="nhip-yolo-venv-"))
    venv = base / "venv"
    results: dict[str, Any] = {"python": sys.version.split()[0], "steps": []}
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        results["steps"].append(
            {"step": "venv", "seconds": round(time.perf_counter() - started, 1)}
        )
        for packages in STEPS:
            step_start = time.perf_counter()
            subprocess.run(
                [str(venv / "bin" / "pip"), "install", "-q", *packages],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            results["steps"].append(
                {
                    "step": " ".join(packages),
                    "seconds": round(time.perf_counter() - step_start, 1),
                    "venv_mb_after": folder_size_mb(venv),
                }
            )
        results["total_seconds"] = round(time.perf_counter() - started, 1)
        results["venv_mb"] = folder_size_mb(venv)
        listing = subprocess.run(
            [str(venv / "bin" / "pip"), "list", "--format", "json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        wanted = {
            "torch",
            "torchvision",
            "ultralytics",
            "lap",
            "opencv-python",
            "opencv-python-headless",
            "numpy",
        }
        results["versions"] = {
            p["name"]: p["version"] for p in json.loads(listing) if p["name"].lower() in wanted
        }
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    out = REPO / "bench" / "results" / "vision_yolo_install.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
