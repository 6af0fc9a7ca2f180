"""The append-only audit log: who changed what, when, with the state before and after.

Each entry carries the SHA-256 of the previous entry and its own hash over its content,
so changing, removing or reordering any entry breaks the chain from there on, and
``verify`` names the first entry that no longer fits. The service offers no way to edit
or delete entries.

Known limit: cutting entries off the end leaves a valid shorter chain. Copy the head
hash (``GET /api/audit/head``) somewhere else now and then to detect that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass
from typing import Any

import redis

GENESIS = "0" * 64


def entry_hash(entry: dict[str, Any]) -> str:
    """The hash of everything in an entry but its own hash, in a canonical form."""
    content = {k: v for k, v in entry.items() if k != "hash"}
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _new_entry(seq: int, prev: str, actor: str, role: str, action: str, target: str,
               before: Any, after: Any) -> dict[str, Any]:
    entry = {
        "seq": seq, "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        "actor": actor, "role": role, "action": action, "target": target,
        "before": before, "after": after, "prev_hash": prev,
    }
    entry["hash"] = entry_hash(entry)
    return entry


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(entries: list[dict[str, Any]]) -> ChainCheck:
    prev = GENESIS
    for n, entry in enumerate(entries):
        seq = entry.get("seq")
        if seq != n + 1:
            return ChainCheck(False, len(entries), n + 1, f"entry {n + 1} has seq {seq}")
        if entry.get("prev_hash") != prev:
            return ChainCheck(False, len(entries), seq,
                              f"entry {seq} does not follow the hash of entry {seq - 1}")
        if entry_hash(entry) != entry.get("hash"):
            return ChainCheck(False, len(entries), seq,
                              f"entry {seq} was altered after it was written")
        prev = entry["hash"]
    return ChainCheck(True, len(entries))


class MemoryAuditLog:
    """The chain in this process only: it starts empty again at every start."""

    store = "memory"

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def append(self, actor: str, role: str, action: str, target: str, before: Any,
               after: Any) -> dict[str, Any]:
        with self._lock:
            prev = self._entries[-1]["hash"] if self._entries else GENESIS
            entry = _new_entry(len(self._entries) + 1, prev, actor, role, action, target,
                               before, after)
            self._entries.append(entry)
            return entry

    def entries(self, since_seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._entries[since_seq:]]

    def verify(self) -> ChainCheck:
        return verify_chain(self.entries())


class RedisAuditLog:
    """The chain as a Redis list; appends are optimistic transactions on its tail."""

    store = "redis"

    def __init__(self, client: redis.Redis, key: str = "nhip:centre:audit") -> None:
        self.client = client
        self.key = key

    def append(self, actor: str, role: str, action: str, target: str, before: Any,
               after: Any) -> dict[str, Any]:
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(self.key)
                    length = pipe.llen(self.key)
                    tail = pipe.lindex(self.key, -1)
                    prev = json.loads(tail)["hash"] if tail else GENESIS
                    entry = _new_entry(length + 1, prev, actor, role, action, target,
                                       before, after)
                    pipe.multi()
                    pipe.rpush(self.key, json.dumps(entry, ensure_ascii=False))
                    pipe.execute()
                    return entry
                except redis.WatchError:
                    continue  # another instance appended first; chain onto its entry

    def entries(self, since_seq: int = 0) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.client.lrange(self.key, since_seq, -1)]

    def verify(self) -> ChainCheck:
        return verify_chain(self.entries())
