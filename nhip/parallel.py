"""Simulation runs in parallel processes, one progress bar for all of them.

libsumo runs one simulation per process, so each run gets a fresh spawned process; the
bar counts simulated seconds of demand across every run. A run that fails is reported as
``{"error": message}`` in its place, and the others carry on.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor


def run_parallel(jobs: dict, workers: int) -> dict:
    """Runs ``{key: RunSpec}`` in spawned processes with one progress bar in simulated
    seconds; returns ``{key: result}`` in the jobs' order."""
    from tqdm import tqdm

    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    progress = manager.Queue()
    results: dict = {}
    reached = dict.fromkeys(jobs, 0.0)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context,
                             max_tasks_per_child=1) as pool, tqdm(
        total=round(sum(job.duration_s for job in jobs.values())), unit="sim-s", desc="simulating",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} sim-s "
                   "[{elapsed}<{remaining}]",
    ) as bar:
        futures = {pool.submit(_worker, key, job, progress): key for key, job in jobs.items()}
        pending = set(futures)
        while pending:
            _drain(progress, reached, bar, jobs)
            done = {f for f in pending if f.done()}
            for future in done:
                key = futures[future]
                try:
                    results[key] = future.result()
                except Exception as error:  # noqa: BLE001 - one run's failure is reported
                    results[key] = {"error": f"{type(error).__name__}: {error}"}
            pending -= done
            time.sleep(0.2)
        _drain(progress, reached, bar, jobs)
    manager.shutdown()
    return {key: results[key] for key in jobs}


def _drain(progress, reached, bar, jobs) -> None:
    while not progress.empty():
        key, sim_time = progress.get()
        sim_time = min(sim_time, jobs[key].duration_s)
        if sim_time > reached[key]:
            bar.update(round(sim_time) - round(reached[key]))
            reached[key] = sim_time


def _worker(key, job, progress) -> dict:
    from nhip.simulation import run

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    last = [0.0]
    begin = job.begin_s
    parent = os.getppid()

    def report(sim_time: float) -> None:
        if sim_time - last[0] >= 30:
            if os.getppid() != parent:
                os._exit(1)  # the command that asked for this run is gone: stop with it
            progress.put((key, sim_time - begin))
            last[0] = sim_time

    try:
        result = run(job, report)
    except Exception as error:  # noqa: BLE001 - libsumo's errors cannot be pickled back
        raise RuntimeError(f"{type(error).__name__}: {error}") from None
    finally:
        progress.put((key, job.duration_s))
    return result
