"""Where the centre keeps its records: in memory, or in Redis shared by several instances.

Records are JSON objects grouped by kind ("change", "incident", "config") and keyed by
id. ``update`` is a read-modify-write that is atomic per record in both stores, so two
supervisors approving the same change at once cannot both succeed. ``update_many`` does
the same for several records together: approving a change checks the junction's
configuration and writes it along with the change, and nothing may write that
configuration in between.
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
# The same over several records: given them in the order asked for, returns their new
# values in that order, or raises to leave every one unchanged.
ManyUpdater = Callable[[list[Record | None]], list[Record]]
Ref = tuple[str, str]  # (kind, key)


class Records(Protocol):
    def next_id(self, kind: str) -> int: ...
    def get(self, kind: str, key: str) -> Record | None: ...
    def all(self, kind: str) -> list[Record]: ...
    def put(self, kind: str, key: str, record: Record) -> None: ...
    def update(self, kind: str, key: str, updater: Updater) -> Record: ...
    def update_many(self, refs: list[Ref], updater: ManyUpdater) -> list[Record]: ...


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
        return self.update_many([(kind, key)], lambda records: [updater(records[0])])[0]

    def update_many(self, refs: list[Ref], updater: ManyUpdater) -> list[Record]:
        with self._lock:
            raws = [self._data.get(kind, {}).get(key) for kind, key in refs]
            records = updater([None if raw is None else json.loads(raw) for raw in raws])
            for (kind, key), record in zip(refs, records, strict=True):
                self._data.setdefault(kind, {})[key] = json.dumps(record)
            return records


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
        return self.update_many([(kind, key)], lambda records: [updater(records[0])])[0]

    def update_many(self, refs: list[Ref], updater: ManyUpdater) -> list[Record]:
        hash_keys = sorted({self._key(kind) for kind, _ in refs})
        while True:
            with self.client.pipeline() as pipe:
                try:
                    pipe.watch(*hash_keys)
                    raws = [pipe.hget(self._key(kind), key) for kind, key in refs]
                    records = updater([None if raw is None else json.loads(raw)
                                       for raw in raws])
                    pipe.multi()
                    for (kind, key), record in zip(refs, records, strict=True):
                        pipe.hset(self._key(kind), key, json.dumps(record))
                    pipe.execute()
                    return records
                except redis.WatchError:
                    # Another instance wrote one of these kinds meanwhile: read again, so
                    # the updater decides on what is stored now, not on what it replaced.
                    continue
