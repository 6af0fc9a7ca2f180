"""Dispatcher configuration (YAML): the bus, the receivers and the routing rules.

Secrets never sit in the file: each receiver names the environment variable that holds
its HMAC secret. Plain http is refused unless the receiver sets ``allow_plain_http`` and
its host is a loopback address (for tests and the demo); everything else needs https.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from incidents.model import Category, EventType, IncidentEvent

FORMATS = ("cap-xml", "json")


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
        msg = f"{path}: the dispatch configuration must be a mapping"
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
    routes = tuple(_route(raw, f"routes[{i}]", receivers)
                   for i, raw in enumerate(data.get("routes") or []))
    claim_idle_s = float(data.get("claim_idle_s", 60.0))
    if claim_idle_s <= 0:
        msg = "claim_idle_s must be positive"
        raise ValueError(msg)
    return DispatchConfig(
        sender=sender, receivers=receivers, routes=routes or DEFAULT_ROUTES,
        redis_url=data.get("redis_url"), consumer=str(data.get("consumer", "dispatcher-1")),
        claim_idle_s=claim_idle_s, batch_size=int(data.get("batch_size", 100)),
        block_ms=int(data.get("block_ms", 500)))


def _receiver(raw: dict[str, Any], where: str, environ: dict[str, str]) -> Receiver:
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
        ca_file=raw.get("ca_file"), timeout_s=float(raw.get("timeout_s", 5.0)),
        max_attempts=int(raw.get("max_attempts", 8)),
        backoff_initial_s=float(raw.get("backoff_initial_s", 0.5)),
        backoff_max_s=float(raw.get("backoff_max_s", 30.0)),
        max_in_flight=int(raw.get("max_in_flight", 8)))
    if receiver.max_attempts < 1 or receiver.timeout_s <= 0 or receiver.max_in_flight < 1:
        msg = f"{where}: max_attempts, timeout_s and max_in_flight must be positive"
        raise ValueError(msg)
    return receiver


def _route(raw: dict[str, Any], where: str, receivers: dict[str, Receiver]) -> Route:
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
