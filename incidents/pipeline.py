"""The detection side end to end: observations -> detectors -> events -> bus.

``IncidentPipeline.on_step(time_s, sumo)`` is the observer hook the SUMO controller
calls every step; ``process_frame`` serves camera tracks and tests. Messages that
cannot be published while the bus is down wait in an in-memory outbox and go out on a
later step, in order. Known limit: that outbox dies with the process, so a crash during
a Redis outage loses the events still waiting in it.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Protocol

from incidents.builder import EventBuilder
from incidents.bus import EVENTS_STREAM, Bus, BusUnavailable
from incidents.detectors import DetectorSet
from incidents.messages import AlertMessage, new_alert
from incidents.model import TrackObservation

log = logging.getLogger("incidents.pipeline")


class TrackSource(Protocol):
    def observe(self, sumo: Any, time_s: float) -> list[TrackObservation]: ...


class IncidentPipeline:
    def __init__(self, detectors: DetectorSet, builder: EventBuilder, bus: Bus,
                 sender: str, source: TrackSource | None = None,
                 stream: str = EVENTS_STREAM) -> None:
        self.detectors = detectors
        self.builder = builder
        self.bus = bus
        self.sender = sender
        self.source = source
        self.stream = stream
        self.outbox: deque[AlertMessage] = deque()
        # The most recent published alerts, for inspection; older ones are on the bus.
        self.published: deque[AlertMessage] = deque(maxlen=10_000)

    def on_step(self, time_s: float, sumo: Any) -> None:
        if self.source is None:
            msg = "on_step needs a track source (e.g. SumoTrackSource) given at construction"
            raise RuntimeError(msg)
        self.process_frame(time_s, self.source.observe(sumo, time_s))

    def process_frame(self, time_s: float, frame: list[TrackObservation]) -> list[AlertMessage]:
        alerts = []
        for detection in self.detectors.step(time_s, frame):
            event = self.builder.build(detection)
            alert = new_alert(event, self.sender)
            log.info("detected %s at junction %s approach %s (track %s, %s)",
                     event.event_type, event.junction_id, event.approach_id, event.track_id,
                     event.time_utc)
            alerts.append(alert)
        self.publish(alerts)
        return alerts

    def publish(self, alerts: list[AlertMessage]) -> None:
        """Publishes the outbox and ``alerts`` in order, in one round trip to the bus."""
        self.outbox.extend(alerts)
        if not self.outbox:
            return
        pending = list(self.outbox)
        try:
            self.bus.publish_many(self.stream, [a.to_fields() for a in pending])
        except BusUnavailable as exc:
            waiting = len(self.outbox)
            if len(alerts) == waiting or waiting % 100 < len(alerts):
                log.warning("bus down, %d events wait in the outbox (kept in memory "
                            "only): %s", waiting, exc)
            return
        # Known limit: if Redis took the batch but the reply was lost, the retry
        # publishes it again; receivers still see one message each (same message ids).
        self.outbox.clear()
        self.published.extend(pending)
