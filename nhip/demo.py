"""``nhip demo``: one Biên Hòa junction for a peak hour under four controllers.

The same vehicles (drawn once from the seed) meet a fixed-time Webster plan, SUMO's
actuated control, and our two modes, both asking the optimizer over a real gRPC socket:
adaptive (a plan every cycle) and real-time (a hold-or-move-on decision every 2 s). The
runs go in parallel processes (libsumo runs one simulation per process). The result is a
table, and with ``--out`` a summary.json and a plot of queues over time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from nhip.validate import parse_jobs

log = logging.getLogger("nhip.demo")

CONTROLLERS = ("fixed", "actuated", "adaptive", "realtime")
MAX_DURATION_S = 86400.0
# Demo rows and the simulation controller each one runs.
RUNS = {"fixed": "webster", "actuated": "actuated", "adaptive": "adaptive",
        "realtime": "realtime", "program": "program"}
LABELS = {
    "fixed": "fixed (Webster)",
    "actuated": "actuated (SUMO)",
    "adaptive": "adaptive (Nhịp)",
    "realtime": "real-time (Nhịp)",
    "program": "network program",
}


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a Biên Hòa junction under fixed, actuated, adaptive and real-time control",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="tan_phong", help="scenario name")
    parser.add_argument("--duration", type=_positive, default=3600.0,
                        help="simulated seconds of demand (default 3600, the peak hour)")
    parser.add_argument("--seed", type=_seed, default=1, help="random seed for demand and SUMO")
    parser.add_argument("--out", type=Path, help="write summary.json and queues.png here")
    parser.add_argument("--controllers", default=",".join(CONTROLLERS),
                        help="comma-separated subset of: fixed, actuated, adaptive, realtime, "
                             "program")
    # The same rule as 'nhip validate --jobs'; leaving the flag out gives one run per
    # controller.
    parser.add_argument("--jobs", type=parse_jobs, default=None,
                        help="parallel simulations, 1 to 64 (default: one per controller)")
    parser.add_argument("--gui", action="store_true",
                        help="watch the adaptive run in sumo-gui (uses traci; one run only)")
    parser.set_defaults(handler=run_demo)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 < value <= MAX_DURATION_S:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_DURATION_S:g} s (a day), got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2^31-1, got {text}")
    return value


def run_demo(args: argparse.Namespace) -> int:
    from sumo_networks import scenario

    chosen = tuple(dict.fromkeys(c.strip() for c in args.controllers.split(",") if c.strip()))
    unknown = set(chosen) - set(LABELS)
    if not chosen:
        raise SystemExit(f"--controllers: give at least one controller; pick from "
                         f"{', '.join(LABELS)}")
    if unknown:
        raise SystemExit(f"--controllers: unknown {sorted(unknown)}; pick from {sorted(LABELS)}")
    if args.gui:
        if not os.environ.get("DISPLAY"):
            raise SystemExit("--gui: no display (DISPLAY is not set); run without --gui")
        chosen = ("adaptive",)
    try:
        sc = scenario(args.scenario)
    except ValueError as error:
        raise SystemExit(f"--scenario: {error}") from None
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise SystemExit(f"--out: cannot use {args.out} as a folder ({error.strerror})")
        return _demo(args, chosen, sc, args.out)
    with tempfile.TemporaryDirectory(prefix="nhip-demo-") as scratch:
        return _demo(args, chosen, sc, Path(scratch))


def _demo(args: argparse.Namespace, chosen: tuple[str, ...], sc, workdir: Path) -> int:
    from nhip.optimizer_process import OptimizerProcess
    from nhip.parallel import run_parallel
    from sumo_networks.demand import hourly_flows, write_routes

    spec = sc.demand_spec()
    routes = workdir / "routes.rou.xml"
    trips = write_routes(spec, routes, args.duration, args.seed)
    print(f"{spec.get('title', sc.name)}: {trips} vehicles over {args.duration:g} s, "
          f"seed {args.seed}; running {', '.join(chosen)}", flush=True)

    started = time.perf_counter()
    with OptimizerProcess(log_file=workdir / "optimizer.log") as optimizer:
        jobs = {name: _job(name, sc, routes, spec, args, workdir, optimizer.address,
                           hourly_flows) for name in chosen}
        results = run_parallel(jobs, args.jobs or len(jobs))
    wall = time.perf_counter() - started
    failed = {name: r["error"] for name, r in results.items() if "error" in r}
    for name, error in failed.items():
        print(f"error: the {name} run failed: {error}", file=sys.stderr)
    if failed:
        return 1

    print()
    print(format_table(results))
    print(f"\n{trips} vehicles; wall time {wall:.0f} s. Time loss and waiting are means per "
          "vehicle, unfinished trips included.")
    adaptive = results.get("adaptive", {}).get("optimizer")
    if adaptive:
        print(f"Adaptive: {adaptive['plans']} plans over gRPC, {adaptive['failures']} "
              f"missed deadlines, median call {_ms(adaptive['p50_ms'])}.")
    realtime = results.get("realtime", {}).get("optimizer")
    if realtime:
        print(f"Real-time: {realtime['decisions']} phase decisions over gRPC, "
              f"{realtime['failures']} missed deadlines, median call "
              f"{_ms(realtime['p50_ms'])}.")
    if (adaptive and not adaptive["plans"]) or (realtime and not realtime["decisions"]):
        print("The optimizer answered nothing: the junctions ran on their own plans and "
              "decisions. Check that loopback (127.0.0.1) is up.")
    if args.out:
        summary = write_summary(results, args, trips, workdir)
        print(f"Wrote {summary} and {workdir / 'queues.png'}")
    return 0


def _ms(value: float | None) -> str:
    return "none answered" if value is None else f"{value:.1f} ms"


def _job(name, sc, routes, spec, args, workdir, address, hourly_flows):
    from nhip.simulation import RunSpec

    return RunSpec(controller=RUNS[name], net_file=sc.net_file, route_file=routes,
                   tls_ids=sc.tls_ids, duration_s=args.duration, seed=args.seed,
                   workdir=workdir / name, optimizer_address=address,
                   design_flows=hourly_flows(spec), gui=args.gui,
                   # Runs share the optimizer: each registers its junction under its own
                   # name, so none resets another's plan history.
                   namespace=f"demo/{name}/")


def format_table(results: dict[str, dict]) -> str:
    classes = ("motorcycle", "car", "bus", "truck")
    header = (f"{'controller':<17} {'time loss s':>11} {'waiting s':>9} "
              + " ".join(f"{c[:5] + ' loss':>10}" for c in classes)
              + f" {'served':>7} {'longest queue m':>15} {'teleports':>9}")
    lines = [header, "-" * len(header)]
    for name, r in results.items():
        by_class = r["by_class"]
        cells = " ".join(
            f"{by_class[c]['mean_time_loss_s']:>10.1f}" if by_class[c]["mean_time_loss_s"]
            is not None else f"{'-':>10}" for c in classes)
        lines.append(f"{LABELS[name]:<17} {r['mean_time_loss_s']:>11.1f} "
                     f"{r['mean_waiting_s']:>9.1f} {cells} {r['vehicles_served']:>7d} "
                     f"{r['max_queue_m']:>15.1f} {r['teleports']:>9d}")
    return "\n".join(lines)


def write_summary(results: dict[str, dict], args, trips: int, workdir: Path) -> Path:
    controllers = {}
    for name, r in results.items():
        controllers[name] = {
            "mean_time_loss_s": r["mean_time_loss_s"],
            "mean_waiting_s": r["mean_waiting_s"],
            "mean_depart_delay_s": r["mean_depart_delay_s"],
            "vehicles_served": r["vehicles_served"],
            "trips": r["trips"],
            "max_queue_m": r["max_queue_m"],
            "teleports": r["teleports"],
            "by_class": r["by_class"],
            "simulated_s": r["simulated_s"],
            "wall_s": r["wall_s"],
            **({"optimizer": r["optimizer"]} if "optimizer" in r else {}),
            **({"notes": r["notes"]} if r.get("notes") else {}),
        }
    summary = {"scenario": args.scenario, "seed": args.seed, "duration_s": args.duration,
               "vehicles": trips, "controllers": controllers}
    path = workdir / "summary.json"
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    plot_queues(results, workdir / "queues.png", f"Queues at {args.scenario}, seed {args.seed}")
    return path


def plot_queues(results: dict[str, dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    for name, r in results.items():
        series = r["queue_series"]
        if not series:
            continue
        times = [t / 60 for t, _ in series]
        # A five-minute running mean: the raw series rises and falls with every cycle.
        values = [q for _, q in series]
        step = series[1][0] - series[0][0] if len(series) > 1 else 1.0
        ax.plot(times, _running_mean(values, max(1, round(300 / step))), label=LABELS[name],
                linewidth=1.6)
    ax.set_xlabel("simulated time (min)")
    ax.set_ylabel("longest lane queue (m), 5-min mean")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _running_mean(values: list[float], window: int) -> list[float]:
    cumulative = [0.0]
    for value in values:
        cumulative.append(cumulative[-1] + value)
    return [(cumulative[i + 1] - cumulative[max(0, i + 1 - window)]) / min(i + 1, window)
            for i in range(len(values))]
