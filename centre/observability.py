"""Structured JSON logs and Prometheus metrics for the centre, with no extra packages.

Metrics follow the Prometheus text exposition format 0.0.4: request counts and a
latency histogram by route template (never by raw path, which would let clients
create unbounded series), plus gauges read at scrape time.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any ``extra``."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z"
        entry = {"time": stamp,
                 "level": record.levelname.lower(), "logger": record.name,
                 "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def use_json_logs(level: int = logging.INFO) -> None:
    """Sends every log record to stderr as JSON (for ``nhip serve``)."""
    import time

    handler = logging.StreamHandler()
    formatter = JsonFormatter()
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, int], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._latency_sum: dict[tuple[str, str], float] = {}
        self._counters: dict[str, int] = {}
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, status)
            self._requests[key] = self._requests.get(key, 0) + 1
            buckets = self._latency.setdefault((method, route),
                                               [0.0] * (len(LATENCY_BUCKETS_S) + 1))
            for i, bound in enumerate(LATENCY_BUCKETS_S):
                if seconds <= bound:
                    buckets[i] += 1
            buckets[-1] += 1
            self._latency_sum[(method, route)] = (self._latency_sum.get((method, route), 0.0)
                                                  + seconds)

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + amount

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        lines = ["# HELP nhip_http_requests_total HTTP requests by route and status.",
                 "# TYPE nhip_http_requests_total counter"]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(f'nhip_http_requests_total{{method="{method}",route="{route}",'
                             f'status="{status}"}} {n}')
            lines += ["# HELP nhip_http_request_seconds Time to answer a request.",
                      "# TYPE nhip_http_request_seconds histogram"]
            for (method, route), buckets in sorted(self._latency.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, n in zip(LATENCY_BUCKETS_S, buckets):
                    lines.append(f'nhip_http_request_seconds_bucket{{{labels},le="{bound}"}} '
                                 f"{n:g}")
                lines.append(f'nhip_http_request_seconds_bucket{{{labels},le="+Inf"}} '
                             f"{buckets[-1]:g}")
                lines.append(f"nhip_http_request_seconds_sum{{{labels}}} "
                             f"{self._latency_sum[(method, route)]:.6f}")
                lines.append(f"nhip_http_request_seconds_count{{{labels}}} {buckets[-1]:g}")
            for name, n in sorted(self._counters.items()):
                lines += [f"# TYPE {name} counter", f"{name} {n}"]
        for name, (help_text, read) in sorted(self.gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge",
                      f"{name} {read():g}"]
        return "\n".join(lines) + "\n"
