"""Plan preview: the current and the proposed plan, each run in SUMO on recent demand.

The vehicles that entered the field in the last ``window_s`` seconds of the field's own
clock (from its route file; never those still to come, so early in a run the window is
shorter and the answer says so) are replayed from time zero under each plan, fixed-time,
and the mean time loss per vehicle is compared. A window with no vehicle is refused. Both runs happen in one child process with a time
limit, so a preview can never stall the API.

Known limit: other lights of the same scenario run their network program in the
preview, not what the field runs now.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("nhip.centre.preview")

DEFAULT_WINDOW_S = 600.0
# After the window, vehicles still inside get this long to leave.
DRAIN_S = 300.0
DEFAULT_TIMEOUT_S = 60.0
# How often a running preview checks whether its asker is still there.
POLL_S = 0.25

_TRIP = re.compile(r'<trip id="[^"]*" type="[^"]*" depart="([0-9.]+)"')


class PreviewCancelled(RuntimeError):
    """The asker went away before the preview finished."""


class NothingToPreview(RuntimeError):
    """No vehicle entered the field in the window: both plans would show no delay."""


class PreviewFailed(RuntimeError):
    """The preview did not finish within its limit, or its simulation failed."""


@dataclass(frozen=True)
class PreviewJob:
    scenario: str
    junction_id: str
    route_file: str
    window_end_s: float
    window_s: float
    current_greens_s: tuple[float, ...]
    candidate_greens_s: tuple[float, ...]
    workdir: str
    seed: int = 1


def window_start(window_end_s: float, window_s: float) -> float:
    return max(0.0, window_end_s - window_s)


def recent_trips(route_file: Path, window_end_s: float, window_s: float, out: Path) -> int:
    """Writes the trips that departed in the window, shifted to start at zero."""
    start, end = window_start(window_end_s, window_s), window_end_s
    header, trips = [], []
    for line in route_file.read_text(encoding="utf-8").splitlines():
        match = _TRIP.search(line)
        if match is None:
            if "<trip" not in line and "</routes>" not in line:
                header.append(line)
            continue
        depart = float(match.group(1))
        if start <= depart < end:
            shifted = f'depart="{depart - start:.2f}"'
            trips.append(line.replace(f'depart="{match.group(1)}"', shifted, 1))
    out.write_text("\n".join([*header, *trips, "</routes>"]) + "\n", encoding="utf-8")
    return len(trips)


def _simulate(job: PreviewJob, greens: tuple[float, ...], routes: Path, name: str) -> dict:
    import sumolib

    from controller import sumo_session
    from controller.detectors import write_detectors
    from controller.junction import JunctionController
    from controller.plans import FixedPlanSource, checked_plan
    from controller.timer import program_plan
    from nhip.metrics import read_tripinfo
    from nhip.simulation import read_layouts
    from sumo_networks import scenario

    sc = scenario(job.scenario)
    workdir = Path(job.workdir) / name
    workdir.mkdir(parents=True, exist_ok=True)
    layouts = read_layouts(sc.net_file, sc.tls_ids)
    detectors = workdir / "detectors.add.xml"
    write_detectors(sumolib.net.readNet(str(sc.net_file)), layouts, detectors)
    tripinfo = workdir / "tripinfo.xml"
    sumo = sumo_session.start(sumo_session.SumoConfig(
        sc.net_file, [routes], [detectors], seed=job.seed, tripinfo_file=tripinfo))
    try:
        controllers = []
        for layout in layouts:
            plan = (checked_plan(layout, list(greens), 0, name)
                    if layout.tls_id == job.junction_id else program_plan(layout))
            controller = JunctionController(layout, FixedPlanSource(plan), initial_plan=plan,
                                            max_gap_s=None)
            controller.start(sumo, sumo.simulation.getTime())
            controllers.append(controller)
        covered = job.window_end_s - window_start(job.window_end_s, job.window_s)
        end = sumo_session.run(sumo, controllers, covered, DRAIN_S)
    finally:
        sumo.close()
    stats = read_tripinfo(tripinfo).summary()
    return {"greens_s": list(greens), "mean_time_loss_s": stats["mean_time_loss_s"],
            "mean_waiting_s": stats["mean_waiting_s"], "trips": stats["trips"],
            "vehicles_served": stats["vehicles_served"], "simulated_s": end}


def _work(job: PreviewJob, reply) -> None:
    try:
        started = time.perf_counter()
        routes = Path(job.workdir) / "recent.rou.xml"
        Path(job.workdir).mkdir(parents=True, exist_ok=True)
        trips = recent_trips(Path(job.route_file), job.window_end_s, job.window_s, routes)
        start = window_start(job.window_end_s, job.window_s)
        if trips == 0:
            reply.send({"ok": False, "empty": True,
                        "error": f"no vehicle entered the field between {start:g} and "
                                 f"{job.window_end_s:g} s of its clock; nothing to compare"})
            return
        current = _simulate(job, job.current_greens_s, routes, "current")
        candidate = _simulate(job, job.candidate_greens_s, routes, "candidate")
        reply.send({"ok": True, "trips": trips, "current": current, "candidate": candidate,
                    "window_s": job.window_end_s - start, "window_asked_s": job.window_s,
                    "window_start_s": start, "window_end_s": job.window_end_s,
                    "wall_s": time.perf_counter() - started})
    except Exception as exc:  # noqa: BLE001 - any failure goes back to the API as text
        reply.send({"ok": False, "error": repr(exc)})


def run_preview(job: PreviewJob, timeout_s: float = DEFAULT_TIMEOUT_S,
                cancelled: Callable[[], bool] = lambda: False) -> dict[str, Any]:
    """Runs both simulations in a child process; ``PreviewFailed`` after ``timeout_s``,
    ``PreviewCancelled`` as soon as ``cancelled()`` says the asker is gone (the child is
    stopped, so an abandoned preview does not hold the one preview slot)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_work, args=(job, send), daemon=True,
                              name="nhip-preview")
    process.start()
    try:
        deadline = time.monotonic() + timeout_s
        while not receive.poll(POLL_S):
            if cancelled():
                raise PreviewCancelled(f"preview of {job.junction_id}: the asker left")
            if time.monotonic() > deadline:
                raise PreviewFailed(f"preview of {job.junction_id} took longer than "
                                    f"{timeout_s:g} s and was stopped")
        result = receive.recv()
    finally:
        process.join(timeout=0 if cancelled() else 5)
        if process.is_alive():
            process.kill()
            process.join()
        # Each preview writes routes, detectors and trip files (about 0.75 MB); nothing
        # reads them afterwards.
        shutil.rmtree(job.workdir, ignore_errors=True)
    if result.get("empty"):
        raise NothingToPreview(result["error"])
    if not result["ok"]:
        raise PreviewFailed(f"preview of {job.junction_id} failed: {result['error']}")
    return result
