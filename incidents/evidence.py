"""Evidence for the enforcement path: content-addressed media, violation records, audit.

Only this store holds images, clips and plate crops; the bus and the webhooks carry
``EvidenceRef`` pointers (hashes), never the bytes or the plate. Every read of media or
of a record is written to a hash-chained access log with who read it and why, and
``apply_retention`` deletes media and records older than the retention limit.

The violation record holds what a notice under Circular 73/2024/TT-BCA needs: vehicle
class, plate and plate colour when read, time and place, the violation, the signal
state and phase, the detecting device and unit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import Any

from incidents.ledger import HashChainLedger, Verification
from incidents.model import Category, EvidenceRef, IncidentEvent

log = logging.getLogger("incidents.evidence")

PLATE_COLOURS = ("white", "yellow", "blue", "red", "green", "unknown")
DEFAULT_RETENTION = dt.timedelta(days=365)


class EvidenceStore:
    def __init__(self, root: Path, uri_base: str = "nhip-evidence://sha256/",
                 retention: dt.timedelta = DEFAULT_RETENTION,
                 detecting_unit: str = "Nhịp") -> None:
        if retention <= dt.timedelta(0):
            msg = f"retention must be positive, not {retention}"
            raise ValueError(msg)
        self.root = root
        self.uri_base = uri_base
        self.retention = retention
        self.detecting_unit = detecting_unit
        self.media_dir = root / "media"
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.records = HashChainLedger(root / "violations.jsonl")
        self.access_log = HashChainLedger(root / "access.jsonl")

    def put_media(self, content: bytes, media_type: str, description: str) -> EvidenceRef:
        """Stores bytes under their SHA-256 (idempotent) and returns the pointer."""
        sha256 = hashlib.sha256(content).hexdigest()
        path = self._media_path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(".part")
            temporary.write_bytes(content)
            temporary.replace(path)
        return EvidenceRef(sha256=sha256, sha1=hashlib.sha1(content).hexdigest(),
                           media_type=media_type, size_bytes=len(content),
                           description=description, uri=self.uri_base + sha256)

    def read_media(self, sha256: str, accessor: str, purpose: str) -> bytes:
        """Returns the media and logs the access; fails if the bytes no longer match."""
        self._log_access(accessor, purpose, "media", sha256)
        path = self._media_path(sha256)
        if not path.exists():
            msg = f"evidence {sha256} is not in the store (deleted by retention or never held)"
            raise FileNotFoundError(msg)
        content = path.read_bytes()
        if hashlib.sha256(content).hexdigest() != sha256:
            msg = f"evidence {sha256} was altered on disk; its content hash no longer matches"
            raise ValueError(msg)
        return content

    def record_violation(self, event: IncidentEvent, plate: str | None = None,
                         plate_colour: str | None = None,
                         plate_crop: bytes | None = None) -> dict[str, Any]:
        """Appends the violation record (with the plate, if read) to the chained ledger."""
        if event.category != Category.VIOLATION:
            msg = f"event {event.event_id} is a {event.category}, not a violation"
            raise ValueError(msg)
        if plate_colour is not None and plate_colour not in PLATE_COLOURS:
            msg = f"plate_colour {plate_colour!r} must be one of {', '.join(PLATE_COLOURS)}"
            raise ValueError(msg)
        evidence = [ref.sha256 for ref in event.evidence]
        if plate_crop is not None:
            evidence.append(self.put_media(plate_crop, "image/jpeg", "plate crop").sha256)
        record = {
            "event_id": event.event_id,
            "violation": str(event.event_type),
            "vehicle_class": event.vehicle_class,
            "plate": plate,
            "plate_colour": plate_colour,
            "time_utc": event.time_utc,
            "junction_id": event.junction_id,
            "approach_id": event.approach_id,
            "latitude": event.latitude,
            "longitude": event.longitude,
            "signal_state": event.signal_state,
            "phase": event.phase,
            "device_id": event.device_id,
            "detecting_unit": self.detecting_unit,
            "details": event.details,
            "evidence_sha256": evidence,
            "recorded_utc": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        }
        self.records.append(record)
        return record

    def read_records(self, accessor: str, purpose: str) -> list[dict[str, Any]]:
        self._log_access(accessor, purpose, "records", "all")
        return self.records.records()

    def verify(self) -> dict[str, Verification]:
        return {"violations": self.records.verify(), "access_log": self.access_log.verify()}

    @staticmethod
    def verify_existing(root: Path) -> dict[str, Verification]:
        """Verifies the store at ``root`` without creating anything there; raises
        FileNotFoundError when ``root`` is not an evidence store, so that a store that
        was deleted or mistyped can never pass as an intact empty one."""
        if not root.is_dir():
            what = "is not a folder" if root.exists() else "does not exist"
            msg = f"{root} {what}"
            raise FileNotFoundError(msg)
        parts = ("media", "violations.jsonl", "access.jsonl")
        if not any((root / part).exists() for part in parts):
            msg = f"{root} is not an evidence store (it has none of {', '.join(parts)})"
            raise FileNotFoundError(msg)
        return {"violations": HashChainLedger(root / "violations.jsonl", create=False).verify(),
                "access_log": HashChainLedger(root / "access.jsonl", create=False).verify()}

    def apply_retention(self, now: dt.datetime | None = None) -> dict[str, int]:
        """Deletes records and media older than the retention limit; returns counts."""
        now = now or dt.datetime.now(dt.UTC)
        cutoff = now - self.retention
        dropped = self.records.drop_head(
            lambda r: dt.datetime.fromisoformat(r["recorded_utc"]) >= cutoff)
        kept = {sha for r in self.records.records() for sha in r["evidence_sha256"]}
        removed = 0
        for path in self.media_dir.glob("*/*"):
            modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
            if modified < cutoff and path.name not in kept:
                path.unlink()
                removed += 1
        self.access_log.append({"action": "retention", "cutoff_utc": cutoff.isoformat(),
                                "records_dropped": dropped, "media_removed": removed,
                                "at_utc": now.isoformat()})
        log.info("retention at %s: dropped %d records and %d media files", cutoff.isoformat(),
                 dropped, removed)
        return {"records_dropped": dropped, "media_removed": removed}

    def _media_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            msg = f"{sha256!r} is not a lower-case SHA-256 hex digest"
            raise ValueError(msg)
        return self.media_dir / sha256[:2] / sha256

    def _log_access(self, accessor: str, purpose: str, kind: str, target: str) -> None:
        if not accessor or not purpose:
            msg = "every evidence access needs an accessor and a purpose"
            raise ValueError(msg)
        self.access_log.append({
            "action": "read", "accessor": accessor, "purpose": purpose, "kind": kind,
            "target": target,
            "at_utc": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")})
