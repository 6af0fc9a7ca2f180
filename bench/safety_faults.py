"""Safety under faults on the Tân Phong junction: delay and safety, per seed.

For each seed, two adaptive runs on the same demand: one with the optimizer up
throughout, one where the optimizer process is killed at 600 s and a new one started on
the same port at 1080 s. Reports mean time loss of both, the failed calls, how long the
controller took to run an adaptive plan again after the restart, and the number of
states SUMO displayed that a fresh conflict monitor refuses (must be 0).

The simulation runs some 500 times faster than real time, while gRPC's reconnect backoff
(up to 1 s) runs on the wall clock; the time to adaptive control again is therefore
given both in simulated seconds (inflated by that compression) and in wall seconds.

    python bench/safety_faults.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMAND_S = 1800.0
KILL_AT_S, RESTART_AT_S = 600.0, 1080.0


class PlanClock:
    """Notes the wall time of the first plan answered after the restart."""

    def __init__(self, source) -> None:
        self.source = source
        self.restarted_wall: float | None = None
        self.first_plan_wall: float | None = None
        self._plans = 0

    def on_step(self, time_s: float, sumo) -> None:
        plans = self.source.stats.plans
        if (self.restarted_wall is not None and self.first_plan_wall is None
                and plans > self._plans):
            self.first_plan_wall = time.perf_counter()
        self._plans = plans


def one_seed(seed: int, workdir: Path) -> dict:
    from controller.plans import GrpcPlanSource
    from nhip.optimizer_process import OptimizerProcess
    from sumo_networks.demand import write_routes
    from tests.safety.replay import replay
    from tests.safety.sim import SCENARIO, run_tan_phong

    routes = workdir / f"seed{seed}.rou.xml"
    write_routes(SCENARIO.demand_spec(), routes, DEMAND_S, seed=seed)
    with OptimizerProcess() as optimizer:
        source = GrpcPlanSource(optimizer.address)
        steady = run_tan_phong(workdir / f"steady{seed}", routes, source, DEMAND_S, seed)
        source.close()
    first = OptimizerProcess().start()
    restarted = []
    source = GrpcPlanSource(first.address)
    clock = PlanClock(source)

    def restart(_controller) -> None:
        restarted.append(OptimizerProcess(port=first.port).start())
        clock.restarted_wall = time.perf_counter()

    actions = {KILL_AT_S: lambda c: first.kill(), RESTART_AT_S: restart}
    try:
        faulted = run_tan_phong(workdir / f"faulted{seed}", routes, source, DEMAND_S, seed,
                                actions, observers=(clock,))
    finally:
        source.close()
        first.stop()
        for process in restarted:
            process.stop()
    controller = faulted["controller"]
    resumed = [t for t, p in controller.plans if t > RESTART_AT_S and p.source == "optimizer"]
    unsafe = sum(len(replay(r["shown"], r["matrix"], r["controller"].monitor.rules, 0.0))
                 for r in (steady, faulted))
    return {
        "seed": seed,
        "steady_mean_time_loss_s": round(steady["mean_time_loss_s"], 2),
        "faulted_mean_time_loss_s": round(faulted["mean_time_loss_s"], 2),
        "failed_calls": source.stats.failures,
        "cycles_skipped_in_backoff": source.stats.skipped,
        "adaptive_again_after_restart_sim_s": round(resumed[0] - RESTART_AT_S, 1) if resumed
        else None,
        "first_plan_after_restart_wall_s": round(clock.first_plan_wall - clock.restarted_wall,
                                                 3) if clock.first_plan_wall else None,
        "monitor_trips": len(steady["controller"].trips) + len(controller.trips),
        "unsafe_states_shown": unsafe,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/safety_faults.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            row = one_seed(seed, Path(tmp))
            rows.append(row)
            print(json.dumps(row))
    rise = [r["faulted_mean_time_loss_s"] - r["steady_mean_time_loss_s"] for r in rows]
    summary = {"demand_s": DEMAND_S, "kill_at_s": KILL_AT_S, "restart_at_s": RESTART_AT_S,
               "runs": rows, "mean_rise_s": round(statistics.mean(rise), 2),
               "max_rise_s": round(max(rise), 2),
               "unsafe_states_shown": sum(r["unsafe_states_shown"] for r in rows)}
    print(f"mean time loss rise {summary['mean_rise_s']} s (max {summary['max_rise_s']} s) "
          f"over {len(rows)} seeds; unsafe states shown: {summary['unsafe_states_shown']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
