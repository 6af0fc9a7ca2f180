"""Evidence store: content hashes, chained violation records, access log, retention."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from incident_helpers import make_event

from incidents.evidence import EvidenceStore
from incidents.model import EventType


def test_media_is_stored_under_its_content_hash(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    frame = b"\xff\xd8 fake jpeg \xff\xd9"

    ref = store.put_media(frame, "image/jpeg", "key frame")

    assert ref.sha256 == hashlib.sha256(frame).hexdigest()
    assert ref.sha1 == hashlib.sha1(frame).hexdigest()
    assert ref.size_bytes == len(frame)
    assert store.read_media(ref.sha256, "officer-12", "notice 2026/123") == frame


def test_altered_media_is_detected_on_read(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    ref = store.put_media(b"original", "image/jpeg", "key frame")
    (tmp_path / "media" / ref.sha256[:2] / ref.sha256).write_bytes(b"doctored")

    with pytest.raises(ValueError, match="altered"):
        store.read_media(ref.sha256, "officer-12", "notice 2026/123")


def test_violation_record_holds_what_a_notice_needs(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, detecting_unit="CSGT Đồng Nai")
    event = make_event(1, EventType.RED_LIGHT)

    record = store.record_violation(event, plate="60A-123.45", plate_colour="white",
                                    plate_crop=b"crop bytes")

    for field in ("vehicle_class", "plate", "plate_colour", "time_utc", "junction_id",
                  "approach_id", "latitude", "longitude", "violation", "signal_state",
                  "phase", "device_id", "detecting_unit", "evidence_sha256"):
        assert record[field] not in (None, "", []), field
    assert record["evidence_sha256"] == [hashlib.sha256(b"crop bytes").hexdigest()]
    assert "60A-123.45" not in json.dumps(event.to_dict())  # the bus never sees the plate


def test_incidents_are_not_violation_records(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a violation"):
        EvidenceStore(tmp_path).record_violation(make_event(1, EventType.STOPPED_VEHICLE))


def test_edited_record_breaks_the_chain(tmp_path: Path) -> None:
    """Changing the plate in one stored record makes verification fail at that line."""
    store = EvidenceStore(tmp_path)
    for index, plate in enumerate(["60A-111.11", "60A-222.22", "60A-333.33"]):
        store.record_violation(make_event(index), plate=plate, plate_colour="white")
    assert store.verify()["violations"].ok

    path = tmp_path / "violations.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace("60A-222.22", "60A-999.99")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = store.verify()["violations"]
    assert not result.ok
    assert result.first_bad_line == 2
    assert "does not match its hash" in result.problem


def test_deleted_record_breaks_the_chain(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    for index in range(3):
        store.record_violation(make_event(index), plate=f"60A-00{index}.00")
    path = tmp_path / "violations.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], lines[2]]) + "\n", encoding="utf-8")

    result = store.verify()["violations"]
    assert (result.ok, result.first_bad_line) == (False, 2)
    assert "link" in result.problem


def test_every_access_is_logged_and_the_log_is_chained(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    ref = store.put_media(b"frame", "image/jpeg", "key frame")
    store.record_violation(make_event(1), plate="60A-123.45")

    store.read_media(ref.sha256, "officer-12", "notice 2026/123")
    store.read_records("auditor-3", "quarterly audit")

    entries = store.access_log.records()
    assert [(e["accessor"], e["purpose"], e["kind"]) for e in entries] == [
        ("officer-12", "notice 2026/123", "media"), ("auditor-3", "quarterly audit", "records")]
    assert store.verify()["access_log"].ok
    with pytest.raises(ValueError, match="accessor and a purpose"):
        store.read_media(ref.sha256, "", "")


def test_retention_drops_old_records_and_media_but_keeps_the_chain_verifiable(
        tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, retention=dt.timedelta(days=30))
    old = store.put_media(b"old frame", "image/jpeg", "key frame")
    long_ago = time.time() - 40 * 86400
    os.utime(tmp_path / "media" / old.sha256[:2] / old.sha256, (long_ago, long_ago))
    for index in range(3):
        store.record_violation(make_event(index), plate=f"60A-00{index}.00")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=31)
    store.record_violation(make_event(9), plate="60A-999.99")  # recorded "now"

    counts = store.apply_retention(now=later)

    assert counts == {"records_dropped": 4, "media_removed": 1}
    assert store.records.records() == []
    assert store.verify()["violations"].ok
    new = store.record_violation(make_event(10), plate="60A-101.01")
    assert store.verify()["violations"].ok and new["plate"] == "60A-101.01"
    with pytest.raises(FileNotFoundError, match="retention"):
        store.read_media(old.sha256, "officer-12", "late request")


def test_retention_keeps_records_inside_the_limit(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, retention=dt.timedelta(days=30))
    for index in range(3):
        store.record_violation(make_event(index), plate=f"60A-00{index}.00")

    counts = store.apply_retention(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=29))

    assert counts["records_dropped"] == 0
    assert len(store.records.records()) == 3


def test_verify_evidence_command_exit_status(tmp_path: Path, capsys) -> None:
    """`nhip incidents verify-evidence` exits 0 on an intact store and 1 after an edit."""
    from incidents.cli import main

    store = EvidenceStore(tmp_path)
    store.record_violation(make_event(1), plate="60A-111.11")
    assert main(["verify-evidence", "--dir", str(tmp_path)]) == 0

    path = tmp_path / "violations.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("60A-111.11", "60A-000.00"),
                    encoding="utf-8")

    assert main(["verify-evidence", "--dir", str(tmp_path)]) == 1
    assert "violations: 0 records, BROKEN at line 1" in capsys.readouterr().out
