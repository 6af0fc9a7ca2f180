"""``nhip validate``: every controller on the same network and demand, side by side.

Runs a scenario of the Đồng Nai suite, the whole suite, or any SUMO network with its own
routes, under each chosen controller and seed in parallel processes, and measures them
alike (``nhip.metrics``): mean trip delay per vehicle first, then waiting time, stops,
throughput and the worst seed. Writes ``results.json`` and an HTML report with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("nhip.validate")

# Command names of the controllers and the simulation controller each one runs.
CONTROLLERS = {
    "fixed": "program",
    "webster": "webster",
    "actuated": "actuated",
    "delay_based": "delay_based",
    "max_pressure": "max_pressure",
    "adaptive": "adaptive",
    "realtime": "realtime",
}
# One simulated week: far beyond any validation, and it keeps arithmetic finite.
MAX_SIMULATED_S = 7 * 86400.0
METRICS = ("mean_delay_s", "mean_time_loss_s", "mean_waiting_s", "stops_per_vehicle",
           "vehicles_served", "throughput_veh_per_h", "never_entered", "teleports",
           "max_queue_m")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="compare controllers on a scenario, the suite, or any SUMO network",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    from sumo_networks import suite

    names = ", ".join(sc.name for sc in suite())
    source.add_argument("--scenario", help=f"a scenario ({names}), or 'all' for the suite")
    source.add_argument("--net", type=Path, help="a SUMO .net.xml (with --routes)")
    parser.add_argument("--routes", help="route files for --net, comma-separated")
    parser.add_argument("--additional", type=Path, nargs="*", default=[],
                        help="additional files for --net (detectors, programs, ...), "
                             "space-separated")
    parser.add_argument("--begin", type=_time, default=0.0,
                        help="simulation begin (s), with --net; default 0")
    parser.add_argument("--end", type=_time,
                        help="simulation end (s), with --net; default begin + 3600")
    parser.add_argument("--controllers", default=",".join(CONTROLLERS),
                        help=f"comma-separated, from: {', '.join(CONTROLLERS)}; default: all")
    parser.add_argument("--seeds", default="1",
                        help="comma-separated seeds, e.g. 1,2,3; default: 1")
    parser.add_argument("--out", type=Path, help="write results.json and report.html here")
    parser.add_argument("--jobs", type=parse_jobs, default=2,
                        help="parallel simulations, 1 to 64; default 2")
    parser.add_argument("--right-on-red", type=Path, metavar="FILE",
                        help="JSON right-turn-on-red signs per junction, movement and "
                             "class (controller/right_on_red.py); default: none")
    parser.set_defaults(handler=run_validate)


def _time(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not 0 <= value <= MAX_SIMULATED_S:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_SIMULATED_S:g} s, "
                                         f"got {text}")
    return value


def parse_jobs(text: str) -> int:
    """``--jobs`` of validate and demo: 1 to 64 parallel simulations."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be between 1 and 64, got {text}")
    return value


def _signs(path: Path | None) -> tuple:
    """The signs in ``path`` (checked against the networks before any run)."""
    if path is None:
        return ()
    from controller.right_on_red import SignError, load_signs

    try:
        return load_signs(path)
    except SignError as error:
        raise SystemExit(f"--right-on-red: {error}") from None


def _check_signs(signs: tuple, cases: list) -> None:
    """Checks the signs against the networks once, before any run: each sign's junction
    must be a controlled light of some chosen network, and there one of its right turns.
    A network without a sign's junction runs without that sign."""
    if not signs:
        return
    from controller.right_on_red import SignError, check_signs
    from nhip.simulation import survey_layouts

    seen = set()
    for case in cases:
        layouts = survey_layouts(case.net, case.tls, case.additional).controllable
        here = {layout.tls_id for layout in layouts}
        try:
            check_signs(tuple(s for s in signs if s.tls_id in here), layouts)
        except SignError as error:
            raise SystemExit(f"--right-on-red: {case.name}: {error}") from None
        seen |= here
    missing = sorted({s.tls_id for s in signs} - seen)
    if missing:
        raise SystemExit(f"--right-on-red: no chosen network has a controlled light "
                         f"{', '.join(map(repr, missing))}; lights: {', '.join(sorted(seen))}")
    print(f"right turn on red: {len(signs)} sign(s) at "
          f"{', '.join(sorted({s.tls_id for s in signs}))}", flush=True)


def parse_controllers(text: str) -> list[str]:
    chosen = list(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    unknown = [c for c in chosen if c not in CONTROLLERS]
    if not chosen:
        raise SystemExit(f"--controllers: give at least one controller; pick from "
                         f"{', '.join(CONTROLLERS)}")
    if unknown:
        raise SystemExit(f"--controllers: unknown {unknown}; pick from {', '.join(CONTROLLERS)}")
    return chosen


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = list(dict.fromkeys(int(s) for s in text.split(",") if s.strip()))
    except ValueError:
        raise SystemExit(f"--seeds: expected comma-separated integers, got {text!r}") from None
    if not seeds:
        raise SystemExit("--seeds: give at least one seed")
    bad = [s for s in seeds if not 0 <= s < 2**31]
    if bad:
        raise SystemExit(f"--seeds: each seed must be between 0 and 2^31-1, got {bad}")
    return seeds


def run_validate(args: argparse.Namespace) -> int:
    if args.scenario is not None and (args.end is not None or args.begin != 0.0):
        raise SystemExit("--begin/--end: only with --net; a scenario runs the period its "
                         "demand file gives")
    if args.scenario is not None and (args.routes or args.additional):
        raise SystemExit("--routes/--additional: only with --net; a scenario brings its own")
    controllers = parse_controllers(args.controllers)
    seeds = parse_seeds(args.seeds)
    args.signs = _signs(args.right_on_red)
    if args.out is None:
        # Runs write their SUMO outputs somewhere; without --out nothing is kept.
        with tempfile.TemporaryDirectory(prefix="nhip-validate-") as scratch:
            return _validate(args, controllers, seeds, Path(scratch))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SystemExit(f"--out: cannot use {args.out} as a folder ({error.strerror})")
    return _validate(args, controllers, seeds, args.out)


def _validate(args: argparse.Namespace, controllers: list[str], seeds: list[int],
              workdir: Path) -> int:
    from nhip.optimizer_process import OptimizerProcess
    from nhip.parallel import run_parallel

    cases = _cases(args, workdir)
    _check_signs(args.signs, cases)
    with OptimizerProcess(log_file=workdir / "optimizer.log") as optimizer:
        jobs = {}
        for case in cases:
            for seed in seeds:
                routes = case.routes(seed)
                for name in controllers:
                    key = (case.name, name, seed)
                    jobs[key] = case.spec(name, seed, routes, optimizer.address, workdir)
                    jobs[key].right_on_red = args.signs
        print(f"{len(cases)} scenario(s) x {len(controllers)} controller(s) x {len(seeds)} "
              f"seed(s) = {len(jobs)} runs", flush=True)
        runs = run_parallel(jobs, max(1, args.jobs))
    failed = {key: _explain(run["error"]) for key, run in runs.items() if "error" in run}
    for (case, name, seed), error in failed.items():
        print(f"error: {case} under {name}, seed {seed}: {error}", flush=True)
    runs = {key: run for key, run in runs.items() if key not in failed}
    if not runs:
        raise SystemExit("every run failed; see the errors above")
    results = summarise(runs, [c.name for c in cases], controllers, seeds)
    results["failed_runs"] = [{"scenario": c, "controller": n, "seed": s, "error": e}
                              for (c, n, s), e in failed.items()]
    results["command"] = "nhip " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    results["optimizer_failures"] = sum(r.get("optimizer", {}).get("failures", 0)
                                        for r in runs.values())
    results["notes"] = sorted({n for r in runs.values() for n in r.get("notes", [])
                               if "not controlled" in n})
    if not any(r.get("trips") for r in runs.values()):
        results["notes"].append("no vehicle took part in any run: check the routes and "
                                "--begin/--end against the demand's departure times")
    if not any(r.get("controlled_lights") for r in runs.values()):
        results["notes"].append("no traffic light could be controlled: every controller ran "
                                "the network's own programs")
    print()
    print(format_results(results))
    for note in results["notes"]:
        print(f"note: {note}")
    if args.out:
        from nhip.report import write_report

        path = args.out / "results.json"
        path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        report = write_report(results, args.out / "report.html")
        print(f"Wrote {path} and {report}")
    return 0


def check_xml(path: Path, flag: str, root: str | None = None) -> None:
    """Refuses a file that is not well-formed XML (or whose root element is not
    ``root``), naming the flag, the file and the place.

    SUMO does not report some malformed files: it crashes on them (a truncated or
    mis-nested net kills the simulation process with a segmentation fault and no
    message), so every input is read once here, before any run starts."""
    import gzip
    from xml.parsers import expat

    parser = expat.ParserCreate()
    roots: list[str] = []

    def start(name: str, _attributes: dict) -> None:
        if not roots:
            roots.append(name)

    parser.StartElementHandler = start
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError as error:
        raise SystemExit(f"{flag}: {path} is not well-formed XML: "
                         f"{expat.ErrorString(error.code)} at line {error.lineno}, "
                         f"column {error.offset + 1}") from None
    except (OSError, EOFError) as error:
        raise SystemExit(f"{flag}: cannot read {path} ({error})") from None
    if root is not None and roots != [root]:
        found = f"<{roots[0]}>" if roots else "no element"
        raise SystemExit(f"{flag}: {path} is not a SUMO {root} file (its root is {found}, "
                         f"not <{root}>)")


def _explain(error: str) -> str:
    """A run's error, with a process that died unannounced put in words a user can act on."""
    if error.startswith("BrokenProcessPool"):
        # SUMO crashes rather than reporting some broken inputs, taking its process along.
        return ("the simulation process died without a message (SUMO crashed); check "
                "that the network, routes and additional files load in 'sumo -n NET -r "
                "ROUTES'")
    return error


class _Case:
    """One network with its demand: a suite scenario, or a user's network and routes."""

    def __init__(self, name, net, routes_fn, duration, begin, drain, additional, tls, flows):
        self.name, self.net, self.routes, self.duration = name, net, routes_fn, duration
        self.begin, self.drain, self.additional, self.tls = begin, drain, additional, tls
        self.flows = flows

    def spec(self, controller: str, seed: int, routes, address: str, workdir: Path):
        from nhip.simulation import RunSpec

        return RunSpec(
            controller=CONTROLLERS[controller], net_file=self.net, route_file=routes,
            tls_ids=self.tls, duration_s=self.duration, seed=seed,
            workdir=workdir / self.name / f"{controller}-seed{seed}",
            optimizer_address=address, design_flows=self.flows,
            additional_files=self.additional, begin_s=self.begin, drain_s=self.drain,
            # One namespace per run: two runs registering one junction id would reset each
            # other's plan history at the optimizer, at whatever moment each got there.
            namespace=f"{self.name}/{controller}/seed{seed}/")


def _cases(args: argparse.Namespace, workdir: Path) -> list[_Case]:
    if args.net is not None:
        if not args.routes:
            raise SystemExit("--routes: required with --net")
        routes = [Path(p) for p in args.routes.split(",")]
        for path in [args.net, *routes, *args.additional]:
            if not path.exists():
                raise SystemExit(f"{path}: no such file")
        check_xml(args.net, "--net", "net")
        for path in routes:
            check_xml(path, "--routes")
        for path in args.additional:
            check_xml(path, "--additional")
        end = args.end if args.end is not None else args.begin + 3600.0
        if end <= args.begin:
            raise SystemExit(f"--end: must be after --begin ({args.begin:g}), got {end:g}")
        name = args.net.name.removesuffix(".net.xml")
        return [_Case(name, args.net, lambda seed: routes, end - args.begin, args.begin, 0.0,
                      list(args.additional), None, None)]

    from sumo_networks import scenario, suite
    from sumo_networks.demand import hourly_flows, write_routes

    try:
        chosen = suite() if args.scenario == "all" else [scenario(args.scenario)]
    except ValueError as error:
        raise SystemExit(f"--scenario: {error}") from None
    cases = []
    for sc in chosen:
        spec = sc.demand_spec()

        def routes(seed, sc=sc, spec=spec):
            path = workdir / sc.name / f"routes-seed{seed}.rou.xml"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_routes(spec, path, sc.period_s, seed)
            return path

        cases.append(_Case(sc.name, sc.net_file, routes, sc.period_s, 0.0, 900.0, [],
                           sc.tls_ids or None, hourly_flows(spec)))
    return cases


def summarise(runs: dict, cases: list[str], controllers: list[str], seeds: list[int]) -> dict:
    scenarios = {}
    for case in cases:
        table = {}
        for name in controllers:
            per_seed = {}
            for seed in seeds:
                run = runs.get((case, name, seed))
                if run is None:
                    continue  # that run failed; listed under failed_runs
                figures = {m: run.get(m) for m in METRICS}
                figures["throughput_veh_per_h"] = run["vehicles_served"] / (
                    run["period_s"] / 3600.0)
                per_seed[str(seed)] = figures
            if not per_seed:
                continue
            delays = [f["mean_delay_s"] for f in per_seed.values()]
            worst_seed = max(per_seed, key=lambda s: per_seed[s]["mean_delay_s"])
            table[name] = {
                "seeds": per_seed,
                "mean": {m: statistics.fmean(f[m] for f in per_seed.values()) for m in METRICS},
                "worst": {"seed": int(worst_seed), **per_seed[worst_seed]},
                "mean_delay_s": statistics.fmean(delays),
            }
        scenarios[case] = {"controllers": table}
    results = {"seeds": seeds, "controllers_compared": controllers, "scenarios": scenarios}
    if len(cases) == 1:
        results["controllers"] = scenarios[cases[0]]["controllers"]
    return results


def format_results(results: dict) -> str:
    lines = []
    for case, data in results["scenarios"].items():
        table = data["controllers"]
        base = table.get("fixed", {}).get("mean_delay_s")
        lines.append(f"{case}")
        if not table:
            lines.append("  no run finished (see the errors above)")
            continue
        lines.append(f"  {'controller':<13} {'delay s':>8} {'worst s':>8} {'vs fixed':>9} "
                     f"{'waiting s':>9} {'stops':>6} {'veh/h':>7} {'unserved':>8} {'teleports':>9}")
        for name, row in table.items():
            mean = row["mean"]
            change = (f"{(row['mean_delay_s'] / base - 1) * 100:+8.0f}%" if base else f"{'-':>9}")
            lines.append(
                f"  {name:<13} {row['mean_delay_s']:>8.1f} {row['worst']['mean_delay_s']:>8.1f} "
                f"{change} {mean['mean_waiting_s']:>9.1f} {mean['stops_per_vehicle']:>6.2f} "
                f"{mean['throughput_veh_per_h']:>7.0f} {mean['never_entered']:>8.0f} "
                f"{mean['teleports']:>9.0f}")
    return "\n".join(lines)
