"""Where the centre keeps its records: in memory, or in Redis shared by several instances.

Records are JSON objects grouped by kind ("change", "incident", "config") and keyed by
id. ``update`` is a read-modify-write that is atomic per record in both stores, so two
supervisors approving the same change at once cannot both succeed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any, Protocol

import redis

Record = dict[str, Any]
# Returns the new record, or raises to leave the stored one unchanged.
Updater = Callable[[Record | None], Record]


class Records(Protocol):
    def next_id(self, kind: str) -> int: ...
    def get(self, kind: str, key: str) -> Record | None: ...
    def all(self, kind: str) -> list[Record]: ...
    def put(self, kind: str, key: str, record: Record) -> None: ...
    def update(self, kind: str, key: str, updater: Updater) -> Record: ...


class MemoryRecords:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()

    def next_id(self, kind: str) -> int:
        with self._lock:
            self._counters[kind] = self._counters.get(kind, 0) + 1
            return self._counters[kind]

    def get(self, kind: str, key: str) -> Record | None:
        with self._lock:
            raw = self._data.get(kind, {}).get(key)
        return None if raw is None else json.loads(raw)

    def all(self, kind: str) -> list[Record]:
        with self._lock:
            values = list(self._data.get(kind, {}).values())
        return [json.loads(v) for v in values]

    def put(self, kind: str, key: str, record: Record) -> None:
        with self._lock:
            self._data.setdefault(kind, {})[key] = json.dumps(record)

    def update(self, kind: str, key: str, updater: Updater) -> Record:
        with self._lock:
            raw = self._data.get(kind, {}).get(key)
            record = updater(None if raw is None else json.loads(raw))
            self._data.setdefault(kind, {})[key] = json.dumps(record)
            return record


class RedisRecords:
    """One Redis hash per kind under ``prefix``; ids from INCR."""

    def __init__(self, client: redis.Redis, prefix: str = "nhip:centre") -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, kind: str) -> str:
        return f"{self.prefix}:{kind}"

    def next_id(self, kind: str) -> int:
        return int(self.client.incr(f"{self.prefix}:seq:{kind}"))

    def get(self, kind: str, key: str) -> Record | None:
        raw = self.client.hget(self._key(kind), key)
        return None if raw is None else json.loads(raw)

    def all(self, kind: str) -> list[Record]:
        return [json.loads(v) for v in self.client.hvals(self._key(kind))]

    def put(self, kind: str, key: str, record: Record) -> None:
        self.client.hset(self._key(kind), key, json.dumps(record))

    def update(self, kind: str, key: str, updater: Updater) -> Record:
        hash_key = self._key(kind)
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(hash_key)
                    raw = pipe.hget(hash_key, key)
                    record = updater(None if raw is None else json.loads(raw))
                    pipe.multi()
                    pipe.hset(hash_key, key, json.dumps(record))
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue  # another instance wrote this kind meanwhile; read again
