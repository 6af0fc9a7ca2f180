"""The centre's parts put together: settings, stores, the field link and their lifecycle.

``build_centre(settings)`` makes every part; ``Centre.start``/``stop`` run the
background work (the field processes, the incident board, the schedule clock). Nothing
starts at import time.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from centre.audit import MemoryAuditLog, RedisAuditLog
from centre.auth import UserDirectory
from centre.desk import FieldJunction, PlanDesk
from centre.field import FieldConfig
from centre.fieldlink import LocalLink, RedisLink
from centre.incident_board import IncidentBoard
from centre.live import LiveHub
from centre.observability import Metrics
from centre.records import MemoryRecords, RedisRecords

log = logging.getLogger("nhip.centre")

SCHEDULE_TICK_S = 10.0


@dataclass
class CentreSettings:
    """Everything the centre is configured with; defaults run a self-contained demo."""

    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str | None = None
    scenarios: tuple[str, ...] | None = None  # None: every scenario in sumo_networks
    speed: float = 1.0  # simulated seconds per wall second in the live field
    seed: int = 1
    optimizer_address: str | None = None
    run_field: bool = True
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="nhip-centre-")))
    preview_timeout_s: float = 60.0
    publish_interval_s: float = 0.25
    # Request bodies above this many bytes are refused (413) before they are parsed;
    # the largest real body, a full day's schedule, is a few kilobytes.
    max_body_bytes: int = 1 << 20

    @classmethod
    def from_env(cls, **overrides: Any) -> CentreSettings:
        """Settings from ``NHIP_*`` variables, then ``overrides`` (set values only)."""
        values: dict[str, Any] = {}
        if os.environ.get("NHIP_REDIS_URL"):
            values["redis_url"] = os.environ["NHIP_REDIS_URL"]
        if os.environ.get("NHIP_FIELD_SPEED"):
            values["speed"] = float(os.environ["NHIP_FIELD_SPEED"])
        if os.environ.get("NHIP_MAX_BODY_BYTES"):
            values["max_body_bytes"] = int(os.environ["NHIP_MAX_BODY_BYTES"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if not (math.isfinite(settings.speed) and 0 < settings.speed <= 100):
            raise ValueError(f"speed must be above 0 and at most 100, got {settings.speed}")
        if settings.max_body_bytes < 1024:
            raise ValueError("max_body_bytes (NHIP_MAX_BODY_BYTES) must be at least 1024, "
                             f"got {settings.max_body_bytes}")
        return settings


@dataclass
class Geometry:
    """Where a junction's approaches point, for the schematic map (network metres)."""

    x: float
    y: float
    approaches: list[dict[str, Any]]


def read_geometry(net_file: Path, tls_id: str, layout) -> Geometry:
    import sumolib

    net = sumolib.net.readNet(str(net_file))
    approaches: dict[str, dict[str, Any]] = {}
    x0 = y0 = 0.0
    for group in layout.groups:
        edge = net.getEdge(group.approach)
        shape = edge.getShape()
        (xa, ya), (xb, yb) = shape[0], shape[-1]
        x0, y0 = edge.getToNode().getCoord()
        length = math.hypot(xa - xb, ya - yb) or 1.0
        entry = approaches.setdefault(group.approach, {
            "id": group.approach, "name": edge.getName() or group.approach,
            "dx": round((xa - xb) / length, 3), "dy": round((ya - yb) / length, 3),
            "groups": []})
        entry["groups"].append({"id": group.id, "turn": group.turn})
    return Geometry(x0, y0, list(approaches.values()))


class Centre:
    def __init__(self, settings: CentreSettings, users: UserDirectory,
                 junctions: dict[str, FieldJunction], geometry: dict[str, Geometry],
                 bus=None) -> None:
        import redis

        from incidents.bus import open_bus

        self.settings = settings
        self.users = users
        self.junctions = junctions
        self.geometry = geometry
        self.hub = LiveHub()
        self.metrics = Metrics()
        if settings.redis_url:
            client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2,
                                          socket_timeout=10)
            self.records = RedisRecords(client)
            self.audit = RedisAuditLog(client)
        else:
            self.records = MemoryRecords()
            self.audit = MemoryAuditLog()
        self.bus = bus if bus is not None else open_bus(settings.redis_url)
        scenarios = sorted({j.scenario for j in junctions.values()})
        configs = [FieldConfig(s, str(settings.workdir / "field" / s), settings.speed,
                               settings.seed, settings.optimizer_address,
                               settings.publish_interval_s) for s in scenarios]
        self.link: LocalLink | RedisLink = (
            RedisLink(configs, self.on_field_event, settings.redis_url)
            if settings.redis_url else LocalLink(configs, self.on_field_event))
        self.desk = PlanDesk(junctions, self.records, self.audit, self.link.send_command,
                             self.hub.publish,
                             adaptive_available=settings.optimizer_address is not None)
        self.board = IncidentBoard(self.bus, self.records, self.audit, self.hub.publish,
                                   consumer=f"centre-{os.getpid()}")
        self.preview_lock = threading.Semaphore(1)
        self._stop = threading.Event()
        self._clock = threading.Thread(target=self._schedule_clock, daemon=True,
                                       name="schedule-clock")
        self.metrics.gauge("nhip_centre_dashboard_streams", "Open dashboard event streams.",
                           lambda: self.hub.subscriber_count)
        self.metrics.gauge("nhip_centre_live_events", "Events passed to dashboards.",
                           lambda: self.hub.events_published)
        self.metrics.gauge("nhip_centre_pending_changes", "Plan changes awaiting approval.",
                           lambda: len(self.desk.pending()))

    def on_field_event(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "applied":
            change = self.desk.mark_applied(int(message["change_id"]),
                                            float(message["sim_time_s"]))
            if change is not None:
                log.info("change %s applied at %s at simulated %.0f s", change["id"],
                         change["junction_id"], message["sim_time_s"])
        self.hub.publish(message)

    def start(self) -> None:
        if self.settings.run_field:
            self.link.start()
        self.board.start()
        self._clock.start()

    def _schedule_clock(self) -> None:
        while not self._stop.wait(SCHEDULE_TICK_S):
            try:
                self.desk.tick_schedules()
            except Exception:
                log.exception("schedule clock: could not send the plans in force")

    def stop(self) -> None:
        self._stop.set()
        self.board.stop()
        if self.settings.run_field:
            self.link.stop()

    def field_info(self, scenario: str) -> dict[str, Any]:
        return self.link.field_info(scenario)


def build_centre(settings: CentreSettings, users: UserDirectory, bus=None) -> Centre:
    """Reads every scenario's lights (SUMO, loaded once) and assembles the centre."""
    from centre.safety import conflicting_groups
    from nhip.simulation import read_layouts
    from sumo_networks import SCENARIOS, scenario

    # One field per network: SCENARIOS also lists each network once per demand period.
    names = settings.scenarios or tuple(sorted(
        name for name, sc in SCENARIOS.items() if name == sc.folder.name))
    junctions: dict[str, FieldJunction] = {}
    geometry: dict[str, Geometry] = {}
    for name in names:
        sc = scenario(name)
        for layout in read_layouts(sc.net_file, sc.tls_ids):
            if layout.tls_id in junctions:
                raise ValueError(f"junction id {layout.tls_id} appears in scenarios "
                                 f"{junctions[layout.tls_id].scenario} and {name}")
            junctions[layout.tls_id] = FieldJunction(
                name, layout, conflicting_groups(sc.net_file, layout))
            geometry[layout.tls_id] = read_geometry(sc.net_file, layout.tls_id, layout)
    return Centre(settings, users, junctions, geometry, bus)
