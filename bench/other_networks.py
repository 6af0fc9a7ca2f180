"""Every controller on networks this project did not make: SUMO's own game scenarios.

The eclipse-sumo wheel ships the networks and demand of SUMO's traffic-light game
(``sumo/tools/game``): real junction layouts from DLR (a single crossing, a three-signal
corridor, a 2x2 grid with gated entries, a 3x2 grid whose demand outgrows it) and part of
Ingolstadt built from OpenStreetMap.
Their own programs are the ``fixed`` baseline (the Ingolstadt and corridor programs were
made for a player to switch by hand, so that baseline is poor there; compare with the
others). Each network runs through ``nhip validate`` unchanged, for half an hour of demand
(five minutes on the 3x2 grid) and five seeds, and writes ``results.json`` and
``report.html`` per network under ``bench/results/other_networks/``, then one summary
table.

    python bench/other_networks.py [--seeds 1,2,3,4,5] [--end 1800] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import sumo

GAME = Path(sumo.__file__).resolve().parent / "tools" / "game"
NETWORKS = {
    "cross": ("cross/cross.net.xml", "cross/cross.rou.xml"),
    "corridor": ("corridor/corridor.net.xml", "corridor/corridor.rou.xml"),
    "kuehne": ("kuehne/kuehne.net.xml", "kuehne/kuehne.rou.xml"),
    "ingolstadt": ("fkk_in/ingolstadt.net.xml.gz", "fkk_in/fkk_in.rou.xml"),
    "grid6": ("grid6/grid6.net.xml", "grid6/grid6.rou.xml"),
}
# The 3x2 grid's demand rises past what any control can carry within minutes (its game
# lasts 220 s), so it runs for five minutes rather than half an hour.
END_S = {"grid6": "300"}
CONTROLLERS = "fixed,actuated,max_pressure,adaptive,realtime"
OUT = Path(__file__).resolve().parent / "results" / "other_networks"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--end", default="1800", help="seconds of demand per run")
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--out", type=Path, default=OUT,
                        help="where results go; default: the kept ones in bench/results")
    args = parser.parse_args()
    # Networks not run this time keep their last figures.
    summary_file = args.out / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else {}
    for name in args.networks.split(","):
        net, routes = NETWORKS[name]
        out = args.out / name
        print(f"== {name}: {GAME / net}", flush=True)
        finished = subprocess.run(
            [sys.executable, "-m", "nhip.cli", "validate", "--net", str(GAME / net),
             "--routes", str(GAME / routes), "--end", END_S.get(name, args.end),
             "--controllers", CONTROLLERS,
             "--seeds", args.seeds, "--out", str(out)], check=False)
        if finished.returncode != 0:
            print(f"{name}: nhip validate failed (exit {finished.returncode})", flush=True)
            continue
        results = json.loads((out / "results.json").read_text(encoding="utf-8"))
        scenario = next(iter(results["scenarios"].values()))
        summary[name] = {c: {"mean_delay_s": r["mean"]["mean_delay_s"],
                             "worst_delay_s": r["worst"]["mean_delay_s"]}
                         for c, r in scenario["controllers"].items()}
    args.out.mkdir(parents=True, exist_ok=True)
    summary_file.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    names = CONTROLLERS.split(",")
    print("\nmean trip delay s (worst seed)")
    print("network".ljust(12) + "".join(n.rjust(16) for n in names))
    for name, rows in summary.items():
        print(name.ljust(12) + "".join(
            f"{rows[n]['mean_delay_s']:9.1f} ({rows[n]['worst_delay_s']:4.0f})" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
