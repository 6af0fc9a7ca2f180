"""The demo's table over several seeds: mean and worst per controller, as JSON.

    python bench/demo_seeds.py --seeds 1,2,3,4,5

Each seed is one ``nhip demo`` run (the same vehicles for every controller within a
seed); one seed's noise is as large as the gaps between controllers, so compare means.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("mean_time_loss_s", "mean_waiting_s", "vehicles_served", "max_queue_m", "teleports")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--scenario", default="tan_phong")
    parser.add_argument("--work", type=Path, default=Path("/tmp/nhip-demo-seeds"))
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "demo_tan_phong.json")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]

    per_seed = {}
    for seed in seeds:
        out = args.work / f"seed{seed}"
        subprocess.run([sys.executable, "-m", "nhip.cli", "demo", "--scenario", args.scenario,
                        "--seed", str(seed), "--out", str(out)], check=True, cwd=ROOT)
        per_seed[seed] = json.loads((out / "summary.json").read_text())["controllers"]

    table = {}
    for name in per_seed[seeds[0]]:
        runs = {seed: {m: per_seed[seed][name][m] for m in METRICS} for seed in seeds}
        losses = [r["mean_time_loss_s"] for r in runs.values()]
        table[name] = {
            "seeds": runs,
            "mean_time_loss_s": statistics.fmean(losses),
            "worst_time_loss_s": max(losses),
            "mean_waiting_s": statistics.fmean(r["mean_waiting_s"] for r in runs.values()),
            "teleports": sum(r["teleports"] for r in runs.values()),
        }
    result = {"scenario": args.scenario, "seeds": seeds, "controllers": table,
              "command": f"python bench/demo_seeds.py --seeds {args.seeds}"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{'controller':<10} {'mean loss s':>11} {'worst s':>8} {'mean wait s':>11} "
          + " ".join(f"{'seed ' + str(s):>8}" for s in seeds))
    for name, row in table.items():
        print(f"{name:<10} {row['mean_time_loss_s']:>11.1f} {row['worst_time_loss_s']:>8.1f} "
              f"{row['mean_waiting_s']:>11.1f} "
              + " ".join(f"{row['seeds'][s]['mean_time_loss_s']:>8.1f}" for s in seeds))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
