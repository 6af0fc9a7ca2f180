"""What the conflict monitor costs: microseconds per checked state on Tân Phong.

Checks and commits every state of a run of the junction's own program (1 s steps) with
the matrix derived from the network, and separately times the dry run that vets a new
timing before it is taken.

    python bench/safety_monitor.py --steps 200000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    from controller.conflicts import from_net
    from controller.junction import verify_timing
    from controller.monitor import ConflictMonitor, MonitorRules
    from controller.timer import PhaseTimer, program_plan
    from nhip.simulation import read_layouts
    from sumo_networks import scenario

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/safety_monitor.json")
    args = parser.parse_args()

    tan_phong = scenario("tan_phong")
    layout = read_layouts(tan_phong.net_file, tan_phong.tls_ids)[0]
    matrix = from_net(tan_phong.net_file, layout)
    rules = MonitorRules.from_layout(layout, matrix)
    plan = program_plan(layout)
    timer = PhaseTimer(layout, plan, lambda _t: plan)
    states = []
    for step in range(args.steps):
        states.append(timer.state())
        timer.advance(float(step + 1), 1.0)

    monitor = ConflictMonitor(matrix, rules)
    monitor.seed_red(-10.0)
    refused = 0
    started = time.perf_counter()
    for step, state in enumerate(states):
        refused += len([v for v in monitor.check(float(step), state) if v.rule != "max_red"])
        monitor.commit(float(step), state)
    per_state_us = (time.perf_counter() - started) / len(states) * 1e6

    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        verify_timing(layout, plan, matrix, rules, 1.0)
    dry_run_ms = (time.perf_counter() - started) / runs * 1000

    result = {"junction": layout.tls_id, "links": matrix.size,
              "conflict_pairs": len(matrix.conflicts),
              "permissive_pairs": len(matrix.permissive),
              "states_checked": len(states), "refused": refused,
              "check_and_commit_us_per_state": round(per_state_us, 2),
              "dry_run_two_cycles_ms": round(dry_run_ms, 3)}
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
