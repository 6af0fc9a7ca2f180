"""Dispatcher configuration (YAML): the bus, the receivers and the routing rules.

Secrets never sit in the file: each receiver names the environment variable that holds
its HMAC secret. Plain http is refused unless the receiver sets ``allow_plain_http`` and
its host is a loopback address (for tests and the demo); everything else needs https.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from incidents.model import Category, EventType, IncidentEvent

FORMATS = ("cap-xml", "json")

# Bounds on the numbers in the file: (lowest, highest, whole numbers only). The upper
# bounds are far above any sensible setting and catch typos (an extra zero or four) that
# would otherwise leave a receiver unretried for days or open thousands of connections.
# block_ms starts at 1 because Redis reads a 0 ms block as "wait forever".
LIMITS: dict[str, tuple[float, float, bool]] = {
    "timeout_s": (0.001, 300.0, False),
    "max_attempts": (1, 100, True),
    "backoff_initial_s": (0.001, 3600.0, False),
    "backoff_max_s": (0.001, 86400.0, False),
    "max_in_flight": (1, 256, True),
    "claim_idle_s": (0.001, 86400.0, False),
    "batch_size": (1, 10_000, True),
    "block_ms": (1, 60_000, True),
}


@dataclass(frozen=True, slots=True)
class Receiver:
    name: str
    url: str
    secret: bytes
    format: str = "cap-xml"
    ca_file: str | None = None
    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # More concurrent requests cost more than they gain: httpcore scans its whole
    # connection pool on every request (measured: 8 beats 64 on loopback).
    max_in_flight: int = 8


@dataclass(frozen=True, slots=True)
class Route:
    """Sends an event to ``receiver`` when every condition given here holds."""

    receiver: str
    categories: frozenset[Category] = frozenset()
    event_types: frozenset[EventType] = frozenset()
    possible_injury: bool | None = None

    def matches(self, event: IncidentEvent) -> bool:
        if self.categories and event.category not in self.categories:
            return False
        if self.event_types and event.event_type not in self.event_types:
            return False
        return self.possible_injury is None or event.possible_injury == self.possible_injury


# Violations and incidents to the police; incidents that may involve injury to 115.
DEFAULT_ROUTES = (
    Route("police", frozenset({Category.VIOLATION, Category.INCIDENT})),
    Route("ems115", frozenset({Category.INCIDENT}), possible_injury=True),
)


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    sender: str
    receivers: dict[str, Receiver]
    routes: tuple[Route, ...]
    redis_url: str | None = None
    consumer: str = "dispatcher-1"
    claim_idle_s: float = 60.0
    batch_size: int = 100
    block_ms: int = 500
    extra: dict[str, Any] = field(default_factory=dict)

    def receivers_for(self, event: IncidentEvent) -> list[str]:
        names = {route.receiver for route in self.routes if route.matches(event)}
        return sorted(name for name in names if name in self.receivers)


def load_config(path: Path, environ: dict[str, str] | None = None) -> DispatchConfig:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        msg = "the dispatch configuration must be a mapping of settings"
        raise ValueError(msg)  # noqa: TRY004 (all configuration errors are ValueError)
    return config_from_dict(data, os.environ if environ is None else environ)


def config_from_dict(data: dict[str, Any], environ: dict[str, str]) -> DispatchConfig:
    sender = data.get("sender")
    if not isinstance(sender, str) or not sender or any(c in sender for c in " ,<&"):
        msg = "sender is required and may not contain spaces, commas, '<' or '&' (CAP 1.2)"
        raise ValueError(msg)
    raw_receivers = data.get("receivers")
    if not isinstance(raw_receivers, list) or not raw_receivers:
        msg = "receivers must be a non-empty list"
        raise ValueError(msg)
    receivers: dict[str, Receiver] = {}
    for index, raw in enumerate(raw_receivers):
        receiver = _receiver(raw, f"receivers[{index}]", environ)
        if receiver.name in receivers:
            msg = f"receivers[{index}].name {receiver.name!r} is used twice"
            raise ValueError(msg)
        receivers[receiver.name] = receiver
    raw_routes = data.get("routes") or []
    if not isinstance(raw_routes, list):
        msg = "routes must be a list"
        raise ValueError(msg)
    routes = tuple(_route(raw, f"routes[{i}]", receivers) for i, raw in enumerate(raw_routes))
    return DispatchConfig(
        sender=sender, receivers=receivers, routes=routes or DEFAULT_ROUTES,
        redis_url=data.get("redis_url"), consumer=str(data.get("consumer", "dispatcher-1")),
        claim_idle_s=_number(data, "claim_idle_s", 60.0, ""),
        batch_size=_number(data, "batch_size", 100, ""),
        block_ms=_number(data, "block_ms", 500, ""))


def _number(raw: dict[str, Any], key: str, default: float, where: str) -> Any:
    """``raw[key]`` checked against ``LIMITS``; the error names the field and the rule."""
    low, high, whole = LIMITS[key]
    value = raw.get(key, default)
    name = f"{where}.{key}" if where else key
    kind = "a whole number" if whole else "a number"
    rule = f"{name} must be {kind} from {low:g} to {high:g}"
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    # YAML reads 'true' as a bool, which Python would quietly take for 1.
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        msg = f"{rule}, got {value!r}"
        raise ValueError(msg)  # noqa: TRY004 (all configuration errors are ValueError)
    value = number
    if not math.isfinite(value) or not low <= value <= high or (whole and value != int(value)):
        msg = f"{rule}, got {value!r}"
        raise ValueError(msg)
    return int(value) if whole else float(value)


def _receiver(raw: dict[str, Any], where: str, environ: dict[str, str]) -> Receiver:
    if not isinstance(raw, dict):
        msg = f"{where} must be a mapping (name, url, secret_env, ...)"
        raise ValueError(msg)  # noqa: TRY004 (all configuration errors are ValueError)
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        msg = f"{where}.name must be a plain word (letters, digits, underscore)"
        raise ValueError(msg)
    url = str(raw.get("url", ""))
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        msg = f"{where}.url {url!r} must be an absolute https URL"
        raise ValueError(msg)
    if parts.scheme == "http":
        if not raw.get("allow_plain_http"):
            msg = f"{where}.url uses plain http; set allow_plain_http: true (loopback only)"
            raise ValueError(msg)
        if not _is_loopback(parts.hostname):
            msg = (f"{where}.url: plain http is allowed only to a loopback host, "
                   f"not {parts.hostname}")
            raise ValueError(msg)
    secret_env = raw.get("secret_env")
    if not isinstance(secret_env, str) or not environ.get(secret_env):
        msg = f"{where}.secret_env must name a set environment variable holding the HMAC secret"
        raise ValueError(msg)
    fmt = raw.get("format", "cap-xml")
    if fmt not in FORMATS:
        msg = f"{where}.format {fmt!r} must be one of {', '.join(FORMATS)}"
        raise ValueError(msg)
    receiver = Receiver(
        name=name, url=url, secret=environ[secret_env].encode(), format=fmt,
        ca_file=raw.get("ca_file"), timeout_s=_number(raw, "timeout_s", 5.0, where),
        max_attempts=_number(raw, "max_attempts", 8, where),
        backoff_initial_s=_number(raw, "backoff_initial_s", 0.5, where),
        backoff_max_s=_number(raw, "backoff_max_s", 30.0, where),
        max_in_flight=_number(raw, "max_in_flight", 8, where))
    if receiver.backoff_initial_s > receiver.backoff_max_s:
        msg = (f"{where}.backoff_initial_s ({receiver.backoff_initial_s:g}) must not exceed "
               f"backoff_max_s ({receiver.backoff_max_s:g})")
        raise ValueError(msg)
    return receiver


def _route(raw: dict[str, Any], where: str, receivers: dict[str, Receiver]) -> Route:
    if not isinstance(raw, dict):
        msg = f"{where} must be a mapping (receiver, categories, ...)"
        raise ValueError(msg)  # noqa: TRY004 (all configuration errors are ValueError)
    receiver = raw.get("receiver")
    if receiver not in receivers:
        msg = f"{where}.receiver {receiver!r} is not one of the configured receivers"
        raise ValueError(msg)
    try:
        categories = frozenset(Category(c) for c in raw.get("categories", []))
        event_types = frozenset(EventType(t) for t in raw.get("event_types", []))
    except ValueError as exc:
        msg = f"{where}: {exc}; categories are violation/incident, event types are " \
              f"{', '.join(t.value for t in EventType)}"
        raise ValueError(msg) from exc
    injury = raw.get("possible_injury")
    if injury is not None and not isinstance(injury, bool):
        msg = f"{where}.possible_injury must be true or false"
        raise ValueError(msg)
    return Route(receiver, categories, event_types, injury)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
