"""An append-only JSON-lines file whose records are chained by SHA-256, so edits show.

Each line holds a record, the hash of the line before it (``prev``) and its own hash
over both. Changing, removing or reordering any line breaks the chain from there on,
and ``verify`` names the first line that no longer fits.

Retention drops whole records from the head of the file: the hash of the last dropped
record is written to a sidecar anchor file (itself part of the audit trail), and the
chain is verified from that anchor. What was dropped can no longer be checked, but
nothing that remains can be altered without detection.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    records: int
    first_bad_line: int | None = None
    problem: str = ""
    # The hash of the last record checked (the anchor when there is none). Records removed
    # from the end leave a shorter chain that is still whole; only a copy of the count and
    # this hash kept elsewhere shows them.
    last_hash: str = ""


def _digest(prev: str, record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{prev}\n{canonical}".encode()).hexdigest()


class HashChainLedger:
    def __init__(self, path: Path, create: bool = True) -> None:
        """``create=False`` opens the ledger for reading only: no folder is made, so
        checking a store that is gone cannot bring an empty one into being."""
        self.path = path
        self.anchor_path = path.with_suffix(path.suffix + ".anchor")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._last = self._read_last_hash()

    def append(self, record: dict[str, Any]) -> str:
        """Appends one record and returns its hash; the write is flushed to disk."""
        with self._lock:
            digest = _digest(self._last, record)
            line = json.dumps({"record": record, "prev": self._last, "hash": digest},
                              sort_keys=True, ensure_ascii=False)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            self._last = digest
            return digest

    def records(self) -> list[dict[str, Any]]:
        return [entry["record"] for entry in self._entries()]

    def verify(self) -> Verification:
        prev = self._anchor()
        count = 0
        for number, raw in enumerate(self._lines(), start=1):
            try:
                entry = json.loads(raw)
                record, stated_prev, stated_hash = entry["record"], entry["prev"], entry["hash"]
            except (ValueError, KeyError, TypeError):
                return Verification(False, count, number, "line is not a ledger entry")
            if stated_prev != prev:
                return Verification(False, count, number,
                                    "link to the previous record is broken")
            if _digest(prev, record) != stated_hash:
                return Verification(False, count, number,
                                    "record content does not match its hash")
            prev = stated_hash
            count += 1
        return Verification(True, count, last_hash=prev)

    def drop_head(self, keep: Callable[[dict[str, Any]], bool]) -> int:
        """Drops leading records until the first one ``keep`` accepts; returns how many."""
        with self._lock:
            entries = self._entries()
            cut = 0
            while cut < len(entries) and not keep(entries[cut]["record"]):
                cut += 1
            if cut == 0:
                return 0
            new_anchor = entries[cut - 1]["hash"]
            temporary = self.path.with_suffix(".tmp")
            with temporary.open("w", encoding="utf-8") as handle:
                for raw in self._lines()[cut:]:
                    handle.write(raw + "\n")
            os.replace(temporary, self.path)
            self.anchor_path.write_text(new_anchor + "\n", encoding="utf-8")
            if not entries[cut:]:
                self._last = new_anchor
            return cut

    def _anchor(self) -> str:
        if self.anchor_path.exists():
            return self.anchor_path.read_text(encoding="utf-8").strip()
        return GENESIS

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text(encoding="utf-8").splitlines() if line]

    def _entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._lines()]

    def _read_last_hash(self) -> str:
        lines = self._lines()
        return json.loads(lines[-1])["hash"] if lines else self._anchor()
