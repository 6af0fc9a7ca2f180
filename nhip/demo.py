"""``nhip demo``: one Biên Hòa junction for a peak hour under three controllers.

The same vehicles (drawn once from the seed) meet a fixed-time Webster plan, SUMO's
actuated control and our adaptive control, which asks the optimizer over a real gRPC
socket every cycle. The three runs go in parallel processes (libsumo runs one simulation
per process). The result is a table, and with ``--out`` a summary.json and a plot of
queues over time.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

log = logging.getLogger("nhip.demo")

CONTROLLERS = ("fixed", "actuated", "adaptive")
LABELS = {
    "fixed": "fixed (Webster)",
    "actuated": "actuated (SUMO)",
    "adaptive": "adaptive (Nhịp)",
    "program": "network program",
}


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo", help="run a Biên Hòa junction under fixed, actuated and adaptive control",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="tan_phong", help="scenario name")
    parser.add_argument("--duration", type=_positive, default=3600.0,
                        help="simulated seconds of demand (default 3600, the peak hour)")
    parser.add_argument("--seed", type=int, default=1, help="random seed for demand and SUMO")
    parser.add_argument("--out", type=Path, help="write summary.json and queues.png here")
    parser.add_argument("--controllers", default=",".join(CONTROLLERS),
                        help="comma-separated subset of: fixed, actuated, adaptive, program")
    parser.add_argument("--jobs", type=int, default=0,
                        help="parallel simulations (default: one per controller)")
    parser.add_argument("--gui", action="store_true",
                        help="watch the adaptive run in sumo-gui (uses traci; one run only)")
    parser.set_defaults(handler=run_demo)


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def run_demo(args: argparse.Namespace) -> int:
    from nhip.optimizer_process import OptimizerProcess
    from sumo_networks import scenario
    from sumo_networks.demand import hourly_flows, write_routes

    chosen = tuple(c.strip() for c in args.controllers.split(",") if c.strip())
    unknown = set(chosen) - set(LABELS)
    if unknown or not chosen:
        raise SystemExit(f"--controllers: unknown {sorted(unknown)}; pick from {sorted(LABELS)}")
    if args.gui:
        chosen = ("adaptive",)
    sc = scenario(args.scenario)
    spec = sc.demand_spec()
    workdir = args.out or Path(tempfile.mkdtemp(prefix="nhip-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    routes = workdir / "routes.rou.xml"
    trips = write_routes(spec, routes, args.duration, args.seed)
    print(f"{spec.get('title', sc.name)}: {trips} vehicles over {args.duration:g} s, "
          f"seed {args.seed}; running {', '.join(chosen)}", flush=True)

    started = time.perf_counter()
    with OptimizerProcess(log_file=workdir / "optimizer.log") as optimizer:
        jobs = [_job(name, sc, routes, spec, args, workdir, optimizer.address, hourly_flows)
                for name in chosen]
        results = _run_parallel(jobs, args.jobs or len(jobs), args.duration)
    wall = time.perf_counter() - started

    print()
    print(format_table(results))
    print(f"\n{trips} vehicles; wall time {wall:.0f} s. Time loss and waiting are means per "
          "vehicle, unfinished trips included.")
    adaptive = results.get("adaptive", {}).get("optimizer")
    if adaptive:
        print(f"Adaptive: {adaptive['plans']} plans over gRPC, {adaptive['failures']} "
              f"missed deadlines, median call {adaptive['p50_ms']:.1f} ms.")
    if args.out:
        summary = write_summary(results, args, trips, workdir)
        print(f"Wrote {summary} and {workdir / 'queues.png'}")
    return 0


def _job(name, sc, routes, spec, args, workdir, address, hourly_flows):
    from nhip.simulation import RunSpec

    return RunSpec(controller=name, net_file=sc.net_file, route_file=routes,
                   tls_ids=sc.tls_ids, duration_s=args.duration, seed=args.seed,
                   workdir=workdir / name, optimizer_address=address,
                   design_flows=hourly_flows(spec), gui=args.gui)


def _run_parallel(jobs, workers: int, duration: float) -> dict[str, dict]:
    from tqdm import tqdm

    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    progress = manager.Queue()
    results: dict[str, dict] = {}
    reached = {job.controller: 0.0 for job in jobs}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool, tqdm(
        total=round(duration * len(jobs)), unit="sim-s", desc="simulating",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} sim-s "
                   "[{elapsed}<{remaining}]",
    ) as bar:
        futures = {pool.submit(_worker, job, progress): job.controller for job in jobs}
        pending = set(futures)
        while pending:
            _drain(progress, reached, bar, duration)
            done = {f for f in pending if f.done()}
            for future in done:
                results[futures[future]] = future.result()
            pending -= done
            time.sleep(0.2)
        _drain(progress, reached, bar, duration)
    manager.shutdown()
    return {name: results[name] for name in (j.controller for j in jobs)}


def _drain(progress, reached, bar, duration) -> None:
    while not progress.empty():
        name, sim_time = progress.get()
        sim_time = min(sim_time, duration)
        if sim_time > reached[name]:
            bar.update(round(sim_time) - round(reached[name]))
            reached[name] = sim_time


def _worker(job, progress) -> dict:
    from nhip.simulation import run

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    last = [0.0]

    def report(sim_time: float) -> None:
        if sim_time - last[0] >= 30:
            progress.put((job.controller, sim_time))
            last[0] = sim_time

    result = run(job, report)
    progress.put((job.controller, job.duration_s))
    return result


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
