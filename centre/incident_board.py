"""Incidents for the operators: read from the incident bus, acknowledged in the centre.

The board is one more consumer group ("centre") on the incident event stream, so it
sees every alert, update and cancel the incident path publishes, on Redis Streams or on
the in-process bus alike. Each event becomes one record, and an acknowledgement by an
operator is audited like any other write.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

from centre.auth import User
from centre.desk import ChangeConflict, UnknownItem, shown
from centre.records import Records
from incidents.bus import EVENTS_STREAM, BusUnavailable
from incidents.messages import AlertMessage

log = logging.getLogger("nhip.centre.incidents")

GROUP = "centre"
STATUS_OF = {"Alert": "open", "Update": "open", "Cancel": "cancelled"}


class IncidentBoard:
    def __init__(self, bus, records: Records, audit, announce: Callable[[dict], None],
                 consumer: str = "centre-1") -> None:
        self.bus = bus
        self.records = records
        self.audit = audit
        self.announce = announce
        self.consumer = consumer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="incident-board")

    def start(self) -> None:
        self.bus.ensure_group(EVENTS_STREAM, GROUP)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=3)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = (self.bus.read_own_pending(EVENTS_STREAM, GROUP, self.consumer, 50)
                         or self.bus.read_new(EVENTS_STREAM, GROUP, self.consumer, 50, 500))
            except BusUnavailable as exc:
                log.error("incident bus unavailable (%s); retrying in 2 s", exc)
                self._stop.wait(2.0)
                continue
            for entry_id, fields in batch:
                try:
                    self.take(AlertMessage.from_fields(fields))
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("incident bus entry %s is malformed and was skipped: %s",
                              entry_id, exc)
            if batch:
                self.bus.ack(EVENTS_STREAM, GROUP, [entry_id for entry_id, _ in batch])

    def take(self, message: AlertMessage) -> dict[str, Any]:
        """Files one bus message: a new incident, or an update or cancel of one."""
        event = message.event.to_dict()

        def merge(record: dict | None) -> dict:
            record = record or {"acknowledged_by": None, "acknowledged_at": None,
                                "ack_note": "", "first_seen": message.sent}
            record.update(id=event["event_id"], event=event, status=STATUS_OF[message.msg_type],
                          last_message=message.msg_type, note=message.note,
                          updated=message.sent, detected_unix=message.detected_unix)
            return record

        record = self.records.update("incident", event["event_id"], merge)
        self.announce({"type": "incident", "incident": record})
        return record

    def list(self, category: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        items = self.records.all("incident")
        if category:
            items = [i for i in items if i["event"].get("category") == category]
        items.sort(key=lambda i: i.get("detected_unix", 0.0), reverse=True)
        return items[:limit]

    def acknowledge(self, user: User, incident_id: str, note: str) -> dict[str, Any]:
        before: dict[str, Any] = {}

        def ack(record: dict | None) -> dict:
            if record is None:
                raise UnknownItem(f"no incident {shown(incident_id)}")
            if record["acknowledged_by"]:
                raise ChangeConflict(f"incident {incident_id} was acknowledged by "
                                     f"{record['acknowledged_by']} already")
            before.update(status=record["status"], acknowledged_by=None)
            record.update(acknowledged_by=user.name, ack_note=note,
                          acknowledged_at=dt.datetime.now(dt.UTC).isoformat())
            return record

        record = self.records.update("incident", incident_id, ack)
        self.audit.append(user.name, user.role.value, "incident.acknowledge",
                          f"incident/{incident_id}", before,
                          {"status": record["status"], "acknowledged_by": user.name,
                           "note": note})
        self.announce({"type": "incident", "incident": record})
        return record
