"""Turns a detection into a full ``IncidentEvent``: UTC time, place, signal state, evidence.

The signal state and phase are read from the controller's event log at the instant of
the detection (for a red light, the interpolated instant the stop line was crossed).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Protocol

from controller.eventlog import EventCode, EventLog
from incidents.detectors import Detection
from incidents.evidence import EvidenceStore
from incidents.model import EVENT_PROFILE, EvidenceRef, IncidentEvent, utc_millis
from incidents.site import Site

_PHASE_CODES = {EventCode.PHASE_BEGIN_GREEN, EventCode.PHASE_BEGIN_YELLOW,
                EventCode.PHASE_BEGIN_RED_CLEARANCE, EventCode.PHASE_ON}


class MediaSource(Protocol):
    """Gives key frames or a clip for a detection, when the source has pictures."""

    def media_for(self, detection: Detection) -> list[tuple[bytes, str, str]]: ...


class EventBuilder:
    def __init__(self, site: Site, event_log: EventLog, store: EvidenceStore | None = None,
                 media: MediaSource | None = None) -> None:
        if event_log.junction_id != site.junction_id:
            msg = (f"event log is for junction {event_log.junction_id!r} but the site is "
                   f"{site.junction_id!r}")
            raise ValueError(msg)
        self.site = site
        self.log = event_log
        self.store = store
        self.media = media

    def build(self, detection: Detection) -> IncidentEvent:
        obs = detection.observation
        category, severity, injury = EVENT_PROFILE[detection.event_type]
        latitude, longitude = self.site.to_lat_lon(obs.x_m, obs.y_m)
        signal_state = {gid: self.log.colour_at(gid, detection.time_s)
                        for gid in self.log.group_ids}
        return IncidentEvent(
            event_type=detection.event_type,
            junction_id=self.site.junction_id,
            approach_id=obs.approach_id,
            time_utc=utc_millis(self.log.utc(detection.time_s)),
            latitude=latitude,
            longitude=longitude,
            vehicle_class=obs.vehicle_class,
            track_id=obs.track_id,
            device_id=obs.device_id,
            signal_state=signal_state,
            phase=self.phase_at(detection.time_s),
            severity=severity,
            category=category,
            possible_injury=injury,
            details=dict(detection.details),
            evidence=self._evidence(detection),
        )

    def phase_at(self, time_s: float) -> int | None:
        """The phase number of the last phase event logged at or before ``time_s``."""
        for event in reversed(self.log.events(end=time_s)):
            if event.code in _PHASE_CODES:
                return event.param
        return None

    def _evidence(self, detection: Detection) -> list[EvidenceRef]:
        if self.store is None:
            return []
        refs = []
        if detection.trace:
            trace = json.dumps([asdict(o) for o in detection.trace], sort_keys=True).encode()
            refs.append(self.store.put_media(
                trace, "application/json",
                f"track {detection.observation.track_id}: last {len(detection.trace)} "
                "positions"))
        if self.media is not None:
            for content, media_type, description in self.media.media_for(detection):
                refs.append(self.store.put_media(content, media_type, description))
        return refs
