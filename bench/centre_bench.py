"""Centre bench: API latency under concurrent clients, and field-to-dashboard delay.

Starts ``nhip serve`` as its own process (optimizer, API, live SUMO field) on a free
loopback port, then:

* reads (``GET /api/junctions/TP/state`` and ``GET /api/junctions``) from 1, 8 and 32
  concurrent clients for a few seconds each: requests/s and latency percentiles;
* writes (supervisor ``PUT /api/junctions/TP/plan``, each checked, audited and sent to
  the field) from 4 concurrent clients;
* the delay from the field publishing a state to a dashboard's event stream receiving
  it (receive time minus the field's ``published_unix``; same machine, same clock),
  with 1 and 20 open streams.

With ``--redis`` the same runs go through a private redis-server (state over Redis
pub/sub, records and audit in Redis). Prints a table and writes
``bench/results/centre_bench.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from centre.auth import DEFAULT_PEOPLE, UserDirectory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"n": len(ordered), "p50_ms": pick(0.5) * 1000, "p95_ms": pick(0.95) * 1000,
            "p99_ms": pick(0.99) * 1000, "max_ms": ordered[-1] * 1000,
            "mean_ms": statistics.fmean(ordered) * 1000}


class Server:
    def __init__(self, workdir: Path, speed: float, redis_url: str | None) -> None:
        directory, self.tokens = UserDirectory.with_new_tokens(DEFAULT_PEOPLE)
        users = workdir / "users.json"
        directory.write(users, self.tokens)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "nhip.cli", "serve", "--port", str(self.port),
                   "--users", str(users), "--speed", str(speed), "--scenarios", "tan_phong",
                   "--workdir", str(workdir / "serve")]
        if redis_url:
            command += ["--redis-url", redis_url]
        self.log = (workdir / "serve.log").open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=self.log, stderr=self.log,
                                        env=dict(os.environ, PYTHONPATH=str(ROOT)))

    def wait_live(self, timeout_s: float = 90.0) -> None:
        headers = {"Authorization": f"Bearer {self.tokens['operator']}"}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/junctions/TP/state", headers=headers,
                             timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the centre did not come up; see serve.log")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


async def load(url: str, token: str, paths: list[str], clients: int, seconds: float,
               method: str = "GET", body_for=None) -> dict:
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits,
                                 timeout=30) as client:
        stop_at = time.perf_counter() + seconds

        async def worker(n: int) -> None:
            nonlocal errors
            i = n
            while time.perf_counter() < stop_at:
                path = paths[i % len(paths)]
                i += 1
                started = time.perf_counter()
                body = body_for(i) if body_for else None
                response = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code >= 400:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return {"clients": clients, "requests_per_s": len(latencies) / elapsed, "errors": errors,
            **percentiles(latencies)}


async def stream_delays(url: str, token: str, streams: int, seconds: float) -> dict:
    delays: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}

    async def listen() -> None:
        async with (httpx.AsyncClient(base_url=url, headers=headers, timeout=None) as client,
                    client.stream("GET", "/api/stream") as response):
            event = None
            snapshot_done = False
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "state":
                    received = time.time()
                    state = json.loads(line[6:])
                    if snapshot_done:  # the first is a replay of the newest state
                        delays.append(received - state["published_unix"])
                    snapshot_done = True

    tasks = [asyncio.create_task(listen()) for _ in range(streams)]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"streams": streams, **percentiles(delays)}


def measure(server: Server, seconds: float) -> dict:
    token = server.tokens["operator"]
    reads = [asyncio.run(load(server.url, token, ["/api/junctions/TP/state", "/api/junctions"],
                              clients, seconds)) for clients in (1, 8, 32)]
    plans = [[30, 8, 30], [32, 7, 30], [28, 8, 33]]
    writes = asyncio.run(load(server.url, server.tokens["supervisor"],
                              ["/api/junctions/TP/plan"], 4, seconds, "PUT",
                              lambda i: {"greens_s": plans[i % 3], "note": "bench"}))
    delays = [asyncio.run(stream_delays(server.url, token, n, seconds)) for n in (1, 20)]
    return {"reads": reads, "writes": writes, "dashboard_delay": delays}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--speed", type=float, default=5.0, help="field speed")
    parser.add_argument("--redis", action="store_true", help="also run on a private Redis")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/centre_bench.json")
    args = parser.parse_args()

    results = {"machine": f"{os.cpu_count()} cores", "seconds_per_run": args.seconds,
               "field_speed": args.speed, "modes": {}}
    modes = ["memory"] + (["redis"] if args.redis else [])
    for mode in modes:
        workdir = Path(tempfile.mkdtemp(prefix=f"nhip-centre-bench-{mode}-"))
        redis_process = None
        redis_url = None
        if mode == "redis":
            port = free_port()
            redis_process = subprocess.Popen(
                [shutil.which("redis-server"), "--bind", "127.0.0.1", "--port", str(port),
                 "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            redis_url = f"redis://127.0.0.1:{port}/0"
            time.sleep(0.5)
        server = Server(workdir, args.speed, redis_url)
        try:
            server.wait_live()
            results["modes"][mode] = measure(server, args.seconds)
        finally:
            server.stop()
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait(timeout=10)

    for mode, figures in results["modes"].items():
        print(f"\n[{mode}]")
        print(f"{'load':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'errors':>7}")
        for row in figures["reads"]:
            print(f"{'GET state+list, ' + str(row['clients']) + ' clients':<28} "
                  f"{row['requests_per_s']:>8.0f} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
                  f"{row['p99_ms']:>8.1f} {row['errors']:>7d}")
        w = figures["writes"]
        print(f"{'PUT plan, 4 clients':<28} {w['requests_per_s']:>8.0f} {w['p50_ms']:>8.1f} "
              f"{w['p95_ms']:>8.1f} {w['p99_ms']:>8.1f} {w['errors']:>7d}")
        for row in figures["dashboard_delay"]:
            print(f"field -> dashboard, {row['streams']:>2} streams: n={row['n']}, p50 "
                  f"{row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms, "
                  f"max {row['max_ms']:.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
