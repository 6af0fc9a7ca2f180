"""Phase decisions from optimizer replicas that share one Redis: rate, latency, balance.

Starts each optimizer as its own process (``python -P -m optimizer --plaintext``) on a
loopback port, with its junction state in the local Redis under a bench-only key prefix
that is removed at the end. Client processes each hold one gRPC channel that balances
round-robin over every replica's address, and each simulates its share of the junctions:
DecidePhase requests on a fixed schedule (open loop: a slow answer never delays the next
request), as a controller in phase-decision mode sends them, plus a thin stream of
ComputePlan for junctions registered through the same channel, whose plan versions must
run on without a gap whichever replica answers. Latency runs from each request's
scheduled time to its answer, so a client that falls behind shows in it. The replicas
report how many calls each served when they stop.

Configurations run in turn: one replica with state in memory (today's default), one with
state in Redis, two with state in Redis. The CPU used by every other process on the
machine during each run is recorded with the figures.

    python bench/optimizer_replicas.py --rate 1000 --duration 30 --clients 4 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {"memory-1": (1, False), "redis-1": (1, True), "redis-2": (2, True)}
# A 90 s cycle for each of 1,000 junctions is about 11 plans a second.
DEFAULT_PLAN_RATE = 12.0
TALLY = re.compile(r"served (\d+) calls \((.*)\)")


# -- what the simulated controllers send ---------------------------------------------------

def random_layout(rng: random.Random, junction_id: str) -> dict:
    """A junction of 2-4 phases over 6-12 signal groups; some phases carry a permissive
    turn, and one group in four has two lanes."""
    phase_count = rng.randint(2, 4)
    groups = [f"{junction_id}-g{k}" for k in range(rng.randint(6, 12))]
    phases = []
    for k in range(phase_count):
        members = groups[k::phase_count]
        phases.append({"groups": members,
                       "permissive": members[-1:] if rng.random() < 0.4 else [],
                       "min_green_s": float(rng.choice([5, 7, 10])),
                       "max_green_s": float(rng.choice([30, 45, 60])),
                       "yellow_s": 3.0, "all_red_s": float(rng.choice([1, 2]))})
    lanes = {g: 2.0 if rng.random() < 0.25 else 1.0 for g in groups}
    return {"id": junction_id, "phases": phases, "lanes": lanes}


def decision_request(rng: random.Random, layout: dict):
    """What a controller sees at one moment, in the message the controller sends."""
    from controller.decider import request_message
    from optimizer.decision import DecisionRequest, GroupState, PhaseBounds

    current = rng.randrange(len(layout["phases"]))
    phase = layout["phases"][current]
    groups = {}
    for gid, lanes in layout["lanes"].items():
        green = gid in phase["groups"]
        groups[gid] = GroupState(
            gid, queue_pcu=rng.expovariate(1 / (2.0 if green else 6.0)),
            arriving_pcu=rng.uniform(0, 4), downstream_pcu=rng.uniform(0, 3),
            downstream_room_pcu=rng.choice([float("inf"), rng.uniform(0, 40)]),
            red_s=0.0 if green else rng.uniform(0, 100),
            saturation_pcu_per_s=0.5 * lanes)
    phases = tuple(PhaseBounds(tuple(p["groups"]), p["min_green_s"], p["max_green_s"],
                               p["yellow_s"], p["all_red_s"], tuple(p["permissive"]))
                   for p in layout["phases"])
    wanted = DecisionRequest(phases, groups, current, rng.uniform(0, phase["max_green_s"]))
    return request_message(layout["id"], wanted)


def registration(layout: dict):
    from protos import optimizer_v1_pb2 as pb

    return pb.RegisterJunctionRequest(
        junction_id=layout["id"],
        signal_groups=[pb.SignalGroup(id=g, lanes=n) for g, n in layout["lanes"].items()],
        phases=[pb.PhaseTiming(id=str(k + 1), signal_group_ids=p["groups"],
                               permissive_signal_group_ids=p["permissive"],
                               min_green_s=p["min_green_s"], max_green_s=p["max_green_s"],
                               yellow_s=p["yellow_s"], all_red_s=p["all_red_s"])
                for k, p in enumerate(layout["phases"])],
        min_cycle_s=30.0, max_cycle_s=150.0)


def plan_request(rng: random.Random, layout: dict):
    """One 90 s cycle's counts, mostly motorcycles."""
    from protos import optimizer_v1_pb2 as pb

    return pb.PlanRequest(junction_id=layout["id"], interval_s=90.0, movements=[
        pb.MovementReport(signal_group_id=g, counts=pb.ClassCounts(
            motorcycle=float(rng.randint(10, 60)), car=float(rng.randint(0, 12)),
            bus=float(rng.randint(0, 1)), truck=float(rng.randint(0, 2))),
            queue_m=rng.uniform(0, 60), detection_length_m=80.0)
        for g in layout["lanes"]])


# -- one client process ----------------------------------------------------------------------

def client(index: int, settings: dict, out) -> None:
    out.put(asyncio.run(_drive(index, settings)))


async def _drive(index: int, s: dict) -> dict:
    import grpc

    from controller.decider import DEFAULT_DECISION_DEADLINE_S
    from protos import optimizer_v1_pb2_grpc as pb_grpc

    rng = random.Random(index)
    layouts = [random_layout(rng, f"c{index}-j{k}") for k in range(s["junctions"])]
    decisions = [decision_request(rng, layouts[k % len(layouts)])
                 for k in range(4 * len(layouts))]
    planned = layouts[:s["plan_junctions"]]
    options = [("grpc.lb_policy_name", "round_robin")]
    async with grpc.aio.insecure_channel(s["target"], options=options) as channel:
        stub = pb_grpc.SignalOptimizerStub(channel)
        for layout in planned:
            await stub.RegisterJunction(registration(layout), timeout=10)
        for request in decisions[:50]:  # connects to every replica before the clock starts
            await stub.DecidePhase(request, timeout=5)
        await asyncio.sleep(max(0.0, s["start_at"] - time.time()))

        decided = _Stream(DEFAULT_DECISION_DEADLINE_S)
        plans = _Stream(1.0)
        runs = [decided.run(stub.DecidePhase, decisions, s["rate"], s["duration_s"])]
        if planned and s["plan_rate"] > 0:
            requests = [plan_request(rng, planned[k % len(planned)])
                        for k in range(4 * len(planned))]
            runs.append(plans.run(stub.ComputePlan, requests, s["plan_rate"],
                                  s["duration_s"], check_versions=True))
        await asyncio.gather(*runs)
    return {"decisions": decided.summary(), "plans": plans.summary()}


class _Stream:
    """Calls on a fixed schedule, each as its own task; latencies from the schedule."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.latencies_ms: list[float] = []
        self.worst_lag_ms = 0.0
        self.errors: Counter[str] = Counter()
        self.sent = 0
        self.version_gaps = 0
        self._versions: dict[str, int] = {}

    async def run(self, call, requests: list, rate: float, duration_s: float,
                  check_versions: bool = False) -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()
        start, count = loop.time(), int(rate * duration_s)
        while self.sent < count:
            due = start + self.sent / rate
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
                continue
            task = loop.create_task(self._one(call, requests[self.sent % len(requests)], due,
                                              check_versions))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            self.sent += 1
        if tasks:
            await asyncio.wait(tasks)

    async def _one(self, call, request, due: float, check_versions: bool) -> None:
        import grpc

        loop = asyncio.get_running_loop()
        self.worst_lag_ms = max(self.worst_lag_ms, (loop.time() - due) * 1000)
        try:
            answer = await call(request, timeout=self.deadline_s)
        except grpc.aio.AioRpcError as error:
            self.errors[error.code().name] += 1
            return
        self.latencies_ms.append((loop.time() - due) * 1000)
        if check_versions:
            # Each junction's plans are asked one after another, seconds apart: versions
            # must run on by one whichever replica answered.
            last = self._versions.get(answer.junction_id, 0)
            self.version_gaps += answer.plan_version != last + 1
            self._versions[answer.junction_id] = answer.plan_version

    def summary(self) -> dict:
        return {"latencies_ms": self.latencies_ms, "errors": dict(self.errors),
                "sent": self.sent, "worst_send_lag_ms": self.worst_lag_ms,
                "version_gaps": self.version_gaps}


# -- the replicas ------------------------------------------------------------------------------

class _Replica:
    """One optimizer process; it logs its tally of calls served when it stops."""

    def __init__(self, log_file: Path, redis_url: str | None, prefix: str) -> None:
        command = [sys.executable, "-P", "-m", "optimizer", "--plaintext", "--port", "0",
                   "--ready-line", "--exit-with-parent"]
        if redis_url:
            command += ["--redis-url", redis_url, "--redis-prefix", prefix]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.log_file = log_file
        with log_file.open("wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=log, text=True,
                                            env=env, cwd=ROOT)
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(30)
        if not line or not line[0].startswith("listening on "):
            self.stop()
            raise RuntimeError(f"optimizer did not start; see {log_file}")
        self.address = line[0].split()[-1]

    def stop(self) -> dict[str, int]:
        """Stops it with SIGTERM and returns the calls it served, by method."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        found = TALLY.findall(self.log_file.read_text())
        if not found:
            return {}
        return {name: int(n) for name, n in
                (part.rsplit(" ", 1) for part in found[-1][1].split(", ") if part != "none")}


# -- what else is using the machine ------------------------------------------------------------

def busy_ticks() -> int:
    """CPU ticks the whole machine has spent busy (neither idle nor waiting on I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def cpu_stall_us() -> int:
    """Microseconds so far in which some runnable task waited for a CPU (Linux PSI); 0
    where the kernel does not report it."""
    try:
        first = Path("/proc/pressure/cpu").read_text().split("\n", 1)[0]
    except OSError:
        return 0
    return int(first.rsplit("total=", 1)[1])


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """CPU ticks (user + system) used so far by each process, with its command name.
    A process that starts and ends between two readings is missed: the machine's total
    (``busy_ticks``) is what counts the work of others."""
    ticks = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            text = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        ticks[int(entry)] = (name, int(fields[11]) + int(fields[12]))
    return ticks


def cpu_used(before: dict, after: dict, seconds: float) -> dict[int, tuple[str, float]]:
    """Cores each process kept busy between two readings (1.0 is one core throughout)."""
    per_second = os.sysconf("SC_CLK_TCK") * seconds
    return {pid: (name, (t - before.get(pid, (name, 0))[1]) / per_second)
            for pid, (name, t) in after.items()}


# -- one configuration -------------------------------------------------------------------------

def run_config(name: str, args: argparse.Namespace, prefix: str, workdir: Path) -> dict:
    replica_count, shared = CONFIGS[name]
    replicas = [_Replica(workdir / f"{name}-{k}.log", args.redis_url if shared else None,
                         prefix) for k in range(replica_count)]
    workers: list = []
    try:
        target = "ipv4:" + ",".join(r.address for r in replicas)
        settings = {"target": target, "rate": args.rate / args.clients,
                    "plan_rate": args.plan_rate / args.clients,
                    "duration_s": args.duration, "junctions": args.junctions // args.clients,
                    "plan_junctions": args.plan_junctions // args.clients,
                    "start_at": time.time() + 8.0}
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        workers = [context.Process(target=client, args=(c, settings, queue))
                   for c in range(args.clients)]
        for worker in workers:
            worker.start()
        time.sleep(max(0.0, settings["start_at"] - time.time()))
        load_before, ticks_before, busy_before = os.getloadavg()[0], cpu_ticks(), busy_ticks()
        stall_before, started = cpu_stall_us(), time.monotonic()
        results = [queue.get(timeout=args.duration + 120) for _ in workers]
        ticks_after, busy_after, stall_after = cpu_ticks(), busy_ticks(), cpu_stall_us()
        load_after, seconds = os.getloadavg()[0], time.monotonic() - started
        for worker in workers:
            worker.join()
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
        tallies = [r.stop() for r in replicas]

    ours = {r.process.pid for r in replicas} | {w.pid for w in workers} | {os.getpid()}
    busy = (busy_after - busy_before) / (os.sysconf("SC_CLK_TCK") * seconds)
    stalled = (stall_after - stall_before) / (seconds * 1e6)
    return summarise(name, args, results, tallies, replicas, ours, (load_before, load_after),
                     cpu_used(ticks_before, ticks_after, seconds), busy, stalled)


def summarise(name, args, results, tallies, replicas, ours, loads, cores, busy,
              stalled) -> dict:
    decided = [x for r in results for x in r["decisions"]["latencies_ms"]]
    planned = [x for r in results for x in r["plans"]["latencies_ms"]]
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r["decisions"]["errors"])
    served = [t.get("DecidePhase", 0) for t in tallies]
    others: Counter[str] = Counter()
    for pid, (comm, used) in cores.items():
        if pid not in ours and used > 0.005:
            others[comm] += used
    replica_pids = {r.process.pid for r in replicas}
    client_cores = sum(used for pid, (_, used) in cores.items()
                       if pid in ours and pid not in replica_pids)
    replica_cores = [cores.get(r.process.pid, ("", 0.0))[1] for r in replicas]
    return {
        "config": name,
        "replicas": len(replicas),
        "state": "redis" if CONFIGS[name][1] else "memory",
        "target_decisions_per_s": args.rate,
        "achieved_decisions_per_s": len(decided) / args.duration,
        "decisions": {"sent": sum(r["decisions"]["sent"] for r in results),
                      "answered": len(decided), "errors": dict(errors),
                      **percentiles(decided),
                      "worst_send_lag_ms": max(r["decisions"]["worst_send_lag_ms"]
                                               for r in results)},
        "plans": {"sent": sum(r["plans"]["sent"] for r in results), "answered": len(planned),
                  "version_gaps": sum(r["plans"]["version_gaps"] for r in results),
                  **percentiles(planned)},
        "served_per_replica": tallies,
        "decision_share_per_replica": [round(n / max(sum(served), 1), 4) for n in served],
        "replica_cores": [round(c, 3) for c in replica_cores],
        "client_cores": round(client_cores, 3),
        "machine": {"cpus": os.cpu_count(), "busy_cores": round(busy, 3),
                    "busy_cores_not_ours": round(busy - client_cores - sum(replica_cores), 3),
                    "share_of_time_a_task_waited_for_cpu": round(stalled, 3),
                    "load_1min_before": loads[0], "load_1min_after": loads[1],
                    "busiest_other_long_lived_processes_cores": {
                        k: round(v, 3) for k, v in others.most_common(6)}},
    }


def percentiles(values: list[float]) -> dict:
    if not values:
        return {}
    values = sorted(values)
    n = len(values)
    return {"p50_ms": round(values[n // 2], 3), "p90_ms": round(values[int(n * 0.9)], 3),
            "p99_ms": round(values[int(n * 0.99)], 3), "max_ms": round(values[-1], 3)}


def remove_keys(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start:start + 500])
    client.close()
    return len(keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000.0, help="decisions per second, all")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per run")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--junctions", type=int, default=1000, help="junctions simulated")
    parser.add_argument("--plan-rate", type=float, default=DEFAULT_PLAN_RATE,
                        help="ComputePlan calls per second, all (0: none)")
    parser.add_argument("--plan-junctions", type=int, default=40,
                        help="junctions registered for plans")
    parser.add_argument("--configs", default=",".join(CONFIGS),
                        help=f"runs, in order, from {', '.join(CONFIGS)}")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of all the configurations, so that a burst of other "
                             "work on the machine does not decide a comparison")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "optimizer_replicas.json")
    args = parser.parse_args()

    prefix = f"nhip:bench:optimizer-replicas:{uuid.uuid4().hex[:8]}:"
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="nhip-replicas-") as workdir:
            for round_ in range(args.repeat):
                for name in args.configs.split(","):
                    # A key space per run: junctions registered again keep their plan
                    # versions, so a run after another would start past version 1.
                    runs.append(run_config(name, args, f"{prefix}{name}-{round_}:",
                                           Path(workdir)))
                    print(one_line(runs[-1]), flush=True)
    finally:
        removed = remove_keys(args.redis_url, prefix)
    print(f"removed {removed} bench keys from Redis")

    result = {"command": "python bench/optimizer_replicas.py " + " ".join(sys.argv[1:]),
              "target": "1,000 decisions/s sustained, p99 under 10 ms",
              "deadline_ms": 100, "by_config": by_config(runs), "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def by_config(runs: list[dict]) -> dict:
    """Each configuration's rounds side by side: p99, achieved rate, other work."""
    table: dict[str, dict] = {}
    for run in runs:
        row = table.setdefault(run["config"], {"p99_ms": [], "achieved_per_s": [],
                                               "cores_not_ours": [], "cpu_wait_share": []})
        row["p99_ms"].append(run["decisions"].get("p99_ms"))
        row["achieved_per_s"].append(round(run["achieved_decisions_per_s"], 1))
        row["cores_not_ours"].append(run["machine"]["busy_cores_not_ours"])
        row["cpu_wait_share"].append(run["machine"]["share_of_time_a_task_waited_for_cpu"])
    for row in table.values():
        ordered = sorted(row["p99_ms"], key=lambda v: float("inf") if v is None else v)
        row["median_p99_ms"] = ordered[len(ordered) // 2]
    return table


def one_line(run: dict) -> str:
    d = run["decisions"]
    return (f"{run['config']}: {run['achieved_decisions_per_s']:.0f}/s of "
            f"{run['target_decisions_per_s']:.0f} decisions, p50 {d.get('p50_ms', 0):.2f} ms, "
            f"p90 {d.get('p90_ms', 0):.2f}, p99 {d.get('p99_ms', 0):.2f}, "
            f"max {d.get('max_ms', 0):.1f}, errors {d['errors'] or 'none'}; shares "
            f"{run['decision_share_per_replica']}; plans p99 "
            f"{run['plans'].get('p99_ms', 0):.1f} ms, version gaps "
            f"{run['plans']['version_gaps']}; cores: replicas {run['replica_cores']}, "
            f"clients {run['client_cores']}, everything else "
            f"{run['machine']['busy_cores_not_ours']} of {run['machine']['cpus']}, "
            f"cpu wait {run['machine']['share_of_time_a_task_waited_for_cpu']:.0%}")


if __name__ == "__main__":
    main()
