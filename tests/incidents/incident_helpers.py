"""Helpers shared by the incident tests: events, configs, the dispatcher process."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from incidents.model import EVENT_PROFILE, EventType, IncidentEvent

REPO = Path(__file__).resolve().parents[2]


def _root_conftest() -> Any:
    """tests/conftest.py loaded under its own name (two modules are called conftest)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nhip_tests_root_conftest",
                                                  REPO / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RedisServer = _root_conftest().RedisServer
SECRETS = {"police": b"police-test-secret", "ems115": b"ems-test-secret",
           "down": b"down-test-secret", "slow": b"slow-test-secret",
           "flaky": b"flaky-test-secret"}


def secret_env() -> dict[str, str]:
    return {f"NHIP_TEST_SECRET_{name.upper()}": value.decode()
            for name, value in SECRETS.items()}


def receiver_entry(name: str, url: str, ca_file: Path, **options: Any) -> dict[str, Any]:
    entry = {"name": name, "url": url, "secret_env": f"NHIP_TEST_SECRET_{name.upper()}",
             "ca_file": str(ca_file), "timeout_s": 2.0, "max_attempts": 4,
             "backoff_initial_s": 0.1, "backoff_max_s": 0.5}
    entry.update(options)
    return entry


def write_config(path: Path, receivers: list[dict[str, Any]], redis_url: str | None,
                 **options: Any) -> Path:
    data = {"sender": "nhip-test.dongnai", "redis_url": redis_url, "receivers": receivers,
            "claim_idle_s": 2.0, "block_ms": 200}
    data.update(options)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def make_event(index: int, event_type: EventType = EventType.RED_LIGHT) -> IncidentEvent:
    category, severity, injury = EVENT_PROFILE[event_type]
    instant = dt.datetime(2026, 12, 4, 8, 0, tzinfo=dt.UTC) + dt.timedelta(
        milliseconds=250 * index)
    return IncidentEvent(
        event_type=event_type, junction_id="C", approach_id="W",
        time_utc=instant.isoformat(timespec="milliseconds"), latitude=10.9574,
        longitude=106.8426, vehicle_class="motorcycle", track_id=f"veh{index}",
        device_id="cam-C-W", signal_state={"NS": "G", "EW": "r"}, phase=2,
        severity=severity, category=category, possible_injury=injury,
        details={"index": index})


def start_dispatcher(config: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """The dispatcher as its own process, as it runs in production."""
    env = {**os.environ, **secret_env(), "PYTHONPATH": str(REPO)}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "incidents.cli", "dispatch", "--config", str(config)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for(condition: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout_s} s waiting for {detail}")
        time.sleep(0.05)


def redis_url_of(client: Any) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def publish_events(bus: Any, count: int, start: int = 0,
                   event_type: EventType = EventType.STOPPED_VEHICLE) -> list[str]:
    """Publishes ``count`` alerts and returns their message ids (the idempotency keys)."""
    from incidents.bus import EVENTS_STREAM
    from incidents.messages import new_alert

    keys = []
    for index in range(start, start + count):
        alert = new_alert(make_event(index, event_type), "nhip-test.dongnai")
        bus.publish(EVENTS_STREAM, alert.to_fields())
        keys.append(alert.message_id)
    return keys
