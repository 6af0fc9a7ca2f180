"""How far below its own program can SUMO's overloaded 3x2 grid go? A floor and a benchmark.

The grid (``sumo/tools/game/grid6``, five minutes of demand that outgrows it, single-lane
links of 66 m) comes with a plan every light shares: 42 s per axis, all switching at once.
Real-time control is asked to cut mean trip delay 35% below that plan. This bench measures
what stands in the way, with the metric ``nhip validate`` uses:

* ``floor``: each axis's demand alone, with its lights always green, so that no vehicle
  ever meets a red: the delay that entries, merges and speed spread cause by themselves
  (an estimate: without the other axis's flows the random draws of departures differ);
* ``hindsight``: the best fixed plans a coordinate search over every light's two greens
  and its offset (steps of 8, 4 and 2 s) finds from the program, tuned on seeds 1-5 with
  the demand known, then run on seeds 6-10 next to the program. A search that starts
  elsewhere might find better plans: what it shows is how much tuning gains here.

    python bench/grid6_bound.py [--out bench/results/grid6_bound.json]

It takes about ten minutes on two cores and prints each improvement as it is found.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import sumo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller import sumo_session  # noqa: E402
from nhip.metrics import read_statistics, read_tripinfo  # noqa: E402

GRID6 = Path(sumo.__file__).resolve().parent / "tools" / "game" / "grid6"
NET, ROUTES = GRID6 / "grid6.net.xml", GRID6 / "grid6.rou.xml"
END_S = 300.0
TUNING_SEEDS, HOLDOUT_SEEDS = (1, 2, 3, 4, 5), (6, 7, 8, 9, 10)
STEPS_S = (8.0, 4.0, 2.0)
MIN_GREEN_S = 5.0
OUT = Path(__file__).resolve().parent / "results" / "grid6_bound.json"


def _mean_delay(seed: int, route_file: Path, setup) -> tuple[float, int]:
    """The run's mean trip delay, every trip and every vehicle kept out counted, and
    how many vehicles it was taken over."""
    workdir = Path(tempfile.mkdtemp(prefix="grid6-bound-"))
    try:
        config = sumo_session.SumoConfig(
            NET, [route_file], [], seed=seed, tripinfo_file=workdir / "trips.xml",
            extra_args=["--statistic-output", str(workdir / "stats.xml")])
        session = sumo_session.start(config)
        try:
            setup(session)
            sumo_session.run(session, [], END_S)
        finally:
            session.close()
        summary = read_tripinfo(workdir / "trips.xml").summary(
            read_statistics(workdir / "stats.xml"))
        return summary["mean_delay_s"], summary["trips"] + summary["never_entered"]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class FixedPlans:
    """Sets every light to its program's phases with new green times and an offset.

    ``plan`` maps a light to ``[first green s, second green s, offset s]``; the offset
    is when the light's first green starts, modulo its cycle."""

    def __init__(self, plan: dict[str, list[float]]) -> None:
        self.plan = plan

    def __call__(self, session) -> None:
        tc = session.trafficlight
        for tls, (first, second, offset) in self.plan.items():
            logic = tc.getAllProgramLogics(tls)[0]
            greens = iter((first, second))
            phases = [type(ph)(next(greens) if "G" in ph.state else ph.duration, ph.state)
                      for ph in logic.phases]
            tc.setProgramLogic(tls, type(logic)("bound", 0, 0, phases))
            tc.setProgram(tls, "bound")
            durations = [ph.duration for ph in phases]
            position, index = (-offset) % sum(durations), 0
            while position >= durations[index]:
                position -= durations[index]
                index += 1
            tc.setPhase(tls, index)
            tc.setPhaseDuration(tls, durations[index] - position)


class AlwaysGreen:
    """Every light green for one axis: its phase with this state for ever."""

    def __init__(self, state: str) -> None:
        self.state = state

    def __call__(self, session) -> None:
        for tls in session.trafficlight.getIDList():
            session.trafficlight.setRedYellowGreenState(tls, self.state)


def _one(job) -> tuple[float, int]:
    seed, route_file, setup = job
    return _mean_delay(seed, route_file, setup)


def _runs(pool, setup, seeds, route_file: Path = ROUTES) -> list[tuple[float, int]]:
    return pool.map(_one, [(seed, route_file, setup) for seed in seeds])


def _evaluate(pool, setup, seeds, route_file: Path = ROUTES) -> list[float]:
    return [delay for delay, _ in _runs(pool, setup, seeds, route_file)]


def _axis_routes(workdir: Path, flow_prefixes: tuple[str, ...]) -> Path:
    """The grid's demand, keeping only flows whose id starts with one of the prefixes."""
    lines = ROUTES.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines
            if "<flow" not in line or any(f'id="{p}' in line for p in flow_prefixes)]
    path = workdir / f"{flow_prefixes[0]}.rou.xml"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def _search(pool, plan: dict[str, list[float]]) -> tuple[dict[str, list[float]], float]:
    best = statistics.fmean(_evaluate(pool, FixedPlans(plan), TUNING_SEEDS))
    print(f"hindsight: program {best:.2f} s on seeds 1-5", flush=True)
    for step in STEPS_S:
        improved = True
        while improved:
            improved = False
            for tls in sorted(plan):
                for k in range(3):
                    for sign in (1, -1):
                        trial = {t: list(v) for t, v in plan.items()}
                        trial[tls][k] += sign * step
                        if k < 2 and trial[tls][k] < MIN_GREEN_S:
                            continue
                        delay = statistics.fmean(
                            _evaluate(pool, FixedPlans(trial), TUNING_SEEDS))
                        if delay < best - 0.05:
                            best, plan, improved = delay, trial, True
                            print(f"hindsight: step {step:g} s, {tls} "
                                  f"{('first green', 'second green', 'offset')[k]} "
                                  f"{sign * step:+g} s -> {best:.2f} s", flush=True)
    return plan, best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with Pool(2) as pool, tempfile.TemporaryDirectory() as tmp:
        session = sumo_session.start(sumo_session.SumoConfig(NET, [], []))
        try:
            lights = sorted(session.trafficlight.getIDList())
            program = {}
            for tls in lights:
                phases = session.trafficlight.getAllProgramLogics(tls)[0].phases
                greens = [ph for ph in phases if "G" in ph.state]
                program[tls] = [greens[0].duration, greens[1].duration, 0.0]
            states = [ph.state for ph in
                      session.trafficlight.getAllProgramLogics(lights[0])[0].phases
                      if "G" in ph.state]
        finally:
            session.close()
        # The first green serves the vertical axis (top and bottom), the second the rows.
        vertical = _axis_routes(Path(tmp), ("topBottom", "bottomTop"))
        horizontal = _axis_routes(Path(tmp), ("leftRight", "rightLeft"))
        axes = {"vertical": _runs(pool, AlwaysGreen(states[0]), TUNING_SEEDS, vertical),
                "horizontal": _runs(pool, AlwaysGreen(states[1]), TUNING_SEEDS, horizontal)}
        floor = {axis: [delay for delay, _ in runs] for axis, runs in axes.items()}
        # Per vehicle, as the mean over both axes' runs together.
        runs = axes["vertical"] + axes["horizontal"]
        floor_mean = sum(d * n for d, n in runs) / max(sum(n for _, n in runs), 1)
        print(f"floor: {floor_mean:.2f} s of mean delay with no red at all", flush=True)
        plan, tuned = _search(pool, program)
        holdout = {"hindsight": _evaluate(pool, FixedPlans(plan), HOLDOUT_SEEDS),
                   "program": _evaluate(pool, FixedPlans(program), HOLDOUT_SEEDS)}
    result = {
        "network": str(NET.relative_to(GRID6.parents[2])), "end_s": END_S,
        "floor_s": {"mean": floor_mean, **floor},
        "hindsight": {"plan": plan, "tuning_seeds": list(TUNING_SEEDS),
                      "tuning_mean_s": tuned,
                      "holdout_seeds": list(HOLDOUT_SEEDS),
                      "holdout_s": holdout["hindsight"],
                      "holdout_mean_s": statistics.fmean(holdout["hindsight"]),
                      "program_holdout_s": holdout["program"],
                      "program_holdout_mean_s": statistics.fmean(holdout["program"])},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"hindsight plans: {tuned:.2f} s on their tuning seeds, "
          f"{result['hindsight']['holdout_mean_s']:.2f} s on seeds 6-10 "
          f"(program {result['hindsight']['program_holdout_mean_s']:.2f} s); "
          f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
