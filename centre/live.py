"""Live state: what the field reports, kept for the API and pushed to dashboards.

``LiveHub`` holds the newest state of each junction, a short series for the delay and
queue charts, and the open event streams (server-sent events) of dashboards. Events
reach it from any thread; each subscriber gets them on its own asyncio queue.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from typing import Any

log = logging.getLogger("nhip.centre.live")

# One chart point per this many simulated seconds, and this many points kept (1 h).
CHART_STEP_S = 10.0
CHART_POINTS = 360
# A dashboard that stops reading loses its oldest events beyond this many.
SUBSCRIBER_BACKLOG = 500


class LiveHub:
    def __init__(self) -> None:
        self.latest: dict[str, dict[str, Any]] = {}
        self.series: dict[str, deque] = {}
        self._next_point: dict[str, float] = {}
        # The field's own clock per junction (states it published, not field controllers'
        # reports, which carry a ``source`` and may run on any clock).
        self.field_time_s: dict[str, float] = {}
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()
        self.events_published = 0

    def publish(self, event: dict[str, Any]) -> None:
        """Takes one event (state, change, incident...) from any thread."""
        if event.get("type") == "state":
            self._remember(event)
        elif event.get("type") == "ready":
            self._restart(event.get("scenario"))
        with self._lock:
            subscribers = list(self._subscribers)
            self.events_published += 1
        for loop, inbox in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, inbox, event)
            except RuntimeError:  # its loop has closed; the stream is gone
                with self._lock:
                    self._subscribers.discard((loop, inbox))

    def _remember(self, state: dict[str, Any]) -> None:
        junction_id = state["junction_id"]
        with self._lock:
            self.latest[junction_id] = state
            time_s = float(state["sim_time_s"])
            if "source" not in state:
                self.field_time_s[junction_id] = time_s
            elif junction_id in self.field_time_s:
                # A report from another clock than the running field's would freeze its
                # chart (a clock far ahead) or jumble it: it updates the state only.
                return
            series = self.series.setdefault(junction_id, deque(maxlen=CHART_POINTS))
            # Points only move forward in time; a report from another clock (a field
            # controller's) updates the state but not the chart.
            if time_s >= self._next_point.get(junction_id, 0.0):
                queues = state.get("queues_m") or {}
                series.append({"sim_time_s": time_s, "delay_s": state.get("delay_s"),
                               "max_queue_m": max(queues.values(), default=0.0)})
                self._next_point[junction_id] = time_s + CHART_STEP_S

    def _restart(self, scenario: str | None) -> None:
        """A field (re)started from time zero: its junctions' charts start afresh."""
        with self._lock:
            for junction_id, state in self.latest.items():
                if state.get("scenario") == scenario:
                    self.series.pop(junction_id, None)
                    self._next_point.pop(junction_id, None)
                    self.field_time_s.pop(junction_id, None)

    def chart(self, junction_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.series.get(junction_id, ()))

    def subscribe(self) -> asyncio.Queue:
        """A queue of events for the calling event loop's task."""
        inbox: asyncio.Queue = asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), inbox))
        return inbox

    def unsubscribe(self, inbox: asyncio.Queue) -> None:
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not inbox}

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)


def _offer(inbox: asyncio.Queue, event: dict[str, Any]) -> None:
    if inbox.full():
        inbox.get_nowait()  # a slow dashboard misses old frames, never the newest
    inbox.put_nowait(event)
