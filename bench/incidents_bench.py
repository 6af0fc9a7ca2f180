"""Incident delivery bench: sustained events per second and detection-to-receipt latency.

Everything runs for real on 127.0.0.1: a private redis-server with incidents/redis.conf
(append-only file, fsync on every write), the dispatcher as its own process
(``python -m incidents.cli dispatch``) and a receiver process behind HTTPS with a
self-signed certificate. This process plays the detectors: it stamps each alert's
detection time and publishes it at a fixed rate. Latency is receipt time at the
receiver minus that detection time (same machine clock).

Run: .venv/bin/python bench/incidents_bench.py [--rate 1000] [--seconds 20]
Writes bench/results/incidents_bench.json (or --out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
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

import redis
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from incidents.bus import EVENTS_STREAM, RedisBus
from incidents.messages import new_alert
from incidents.model import EVENT_PROFILE, EventType, IncidentEvent

SECRET_ENV = "NHIP_BENCH_SECRET"
GROUP = "dispatch:police"
FRAME_S = 0.010


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    crt, pem = folder / "bench.crt", folder / "bench.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def bench_event(index: int) -> IncidentEvent:
    event_type = (EventType.RED_LIGHT, EventType.SPEEDING, EventType.STOPPED_VEHICLE)[index % 3]
    category, severity, injury = EVENT_PROFILE[event_type]
    return IncidentEvent(
        event_type=event_type, junction_id="J-bench", approach_id="W",
        time_utc=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        latitude=10.9574, longitude=106.8426, vehicle_class="motorcycle",
        track_id=f"bench-{index}", device_id="bench", signal_state={"NS": "G", "EW": "r"},
        phase=2, severity=severity, category=category, possible_injury=injury)


def wait_until(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def run(rate: float, seconds: float, workdir: Path, plain_http: bool, fsync: str,
        dispatchers: int, in_flight: int) -> dict[str, object]:
    env = {**os.environ, SECRET_ENV: "bench-secret", "PYTHONPATH": str(REPO)}
    redis_port, receiver_port = free_port(), free_port()
    (workdir / "redis").mkdir()
    redis_proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", str(REPO / "incidents" / "redis.conf"),
         "--port", str(redis_port), "--dir", str(workdir / "redis"),
         "--appendfsync", fsync], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{redis_port}/0"
    client = redis.Redis.from_url(url)
    processes = [redis_proc]
    try:
        assert wait_until(lambda: _pings(client), 10), "redis-server did not start"
        crt, key = self_signed(workdir)
        received = workdir / "received.txt"
        receiver_cmd = [sys.executable, str(REPO / "bench" / "incidents_receiver.py"),
                        "--port", str(receiver_port), "--secret-env", SECRET_ENV,
                        "--out", str(received)]
        if not plain_http:
            receiver_cmd += ["--cert", str(crt), "--key", str(key)]
        receiver = subprocess.Popen(receiver_cmd, env=env)
        processes.append(receiver)
        assert wait_until(lambda: _listening(receiver_port), 10), "receiver did not start"

        scheme = "http" if plain_http else "https"
        config = {"sender": "nhip-bench", "redis_url": url, "consumer": "bench-1",
                  "batch_size": 200, "block_ms": 100,
                  "receivers": [{"name": "police", "url": f"{scheme}://127.0.0.1:"
                                 f"{receiver_port}/cap", "secret_env": SECRET_ENV,
                                 "ca_file": str(crt), "allow_plain_http": plain_http,
                                 "max_in_flight": in_flight, "timeout_s": 5}],
                  "routes": [{"receiver": "police"}]}
        config_path = workdir / "dispatch.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        for number in range(dispatchers):
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "incidents.cli", "dispatch", "--config",
                 str(config_path), "--consumer", f"bench-{number + 1}"],
                cwd=REPO, env=env, stderr=(workdir / f"dispatch-{number + 1}.log").open("wb")))
        bus = RedisBus(url)
        assert wait_until(lambda: _has_group(client), 15), "dispatcher did not start"

        # Detectors publish per frame: every 10 ms, all events detected since the last
        # frame go out in one round trip. Each event's detection time is its scheduled
        # instant, so waiting for the frame counts towards its latency.
        detected: dict[str, float] = {}
        total = int(rate * seconds)
        started = time.perf_counter()
        publish_started = time.time()
        index = 0
        while index < total:
            elapsed = time.perf_counter() - started
            due = min(total, int(elapsed * rate) + 1)
            batch = []
            for number in range(index, due):
                alert = new_alert(bench_event(number), "nhip-bench")
                alert.detected_unix = publish_started + number / rate
                batch.append(alert)
                detected[alert.message_id] = alert.detected_unix
            bus.publish_many(EVENTS_STREAM, [a.to_fields() for a in batch])
            index = due
            time.sleep(max(0.0, FRAME_S - (time.perf_counter() - started - elapsed)))
        publish_s = time.perf_counter() - started

        drained = wait_until(lambda: _drained(client), 120)
        cpu_s = {"redis": _cpu_s(redis_proc.pid), "receiver": _cpu_s(receiver.pid),
                 "dispatchers": sum(_cpu_s(p.pid) for p in processes[2:]),
                 "publisher (this process)": sum(os.times()[:2])}
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=30)
        lines = received.read_text(encoding="utf-8").splitlines()
        receipts = {key: float(at) for key, at in
                    (line.split() for line in lines if not line.startswith("#"))}
        summary = lines[-1]
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()

    latencies = sorted(receipts[k] - detected[k] for k in detected if k in receipts)
    last_receipt = max(receipts.values()) if receipts else publish_started
    return {
        "target_rate_per_s": rate,
        "seconds": seconds,
        "transport": "http" if plain_http else "https (TLS 1.3, self-signed, verified)",
        "redis_appendfsync": fsync,
        "dispatcher_processes": dispatchers,
        "max_in_flight_per_dispatcher": in_flight,
        "published": total,
        "publish_rate_per_s": round(total / publish_s, 1),
        "delivered_unique": len(latencies),
        "lost": total - len(latencies),
        "drained_before_timeout": drained,
        "receiver_summary": summary.lstrip("# "),
        "sustained_delivery_rate_per_s": round(
            len(latencies) / (last_receipt - publish_started), 1),
        "cpu_ms_per_event": {name: round(1000 * seconds_used / total, 3)
                             for name, seconds_used in cpu_s.items()},
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "latency_ms": {
            "p50": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p95": round(1000 * percentile(latencies, 0.95), 1) if latencies else None,
            "p99": round(1000 * percentile(latencies, 0.99), 1) if latencies else None,
            "max": round(1000 * latencies[-1], 1) if latencies else None,
        },
        "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "measured_at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a live process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _has_group(client: redis.Redis) -> bool:
    try:
        return any(g["name"] == GROUP.encode() for g in client.xinfo_groups(EVENTS_STREAM))
    except redis.ResponseError:
        return False


def _drained(client: redis.Redis) -> bool:
    [group] = [g for g in client.xinfo_groups(EVENTS_STREAM) if g["name"] == GROUP.encode()]
    return group["pending"] == 0 and group.get("lag") == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--plain-http", action="store_true", help="loopback http, no TLS")
    parser.add_argument("--fsync", default="always", choices=["always", "everysec"])
    parser.add_argument("--dispatchers", type=int, default=2, help="dispatcher processes")
    parser.add_argument("--in-flight", type=int, default=4,
                        help="concurrent deliveries per dispatcher")
    parser.add_argument("--out", type=Path,
                        default=REPO / "bench" / "results" / "incidents_bench.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nhip-incidents-bench-") as folder:
        result = run(args.rate, args.seconds, Path(folder), args.plain_http, args.fsync,
                     args.dispatchers, args.in_flight)
    for name, value in result.items():
        print(f"{name:32} {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
