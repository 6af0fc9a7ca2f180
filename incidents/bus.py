"""The event bus: Redis Streams with consumer groups, or an in-process stand-in.

Every message stays in its stream until each consumer group has acknowledged it, so a
consumer that dies mid-message finds it again (its own pending list, or claimed from a
dead consumer after ``min_idle_ms``). With Redis's append-only file on, the streams and
the groups' positions survive a Redis restart too.

``MemoryBus`` has the same interface for the demo and for runs without Redis; it lives
and dies with its process.

Text that is not valid UTF-8 is read with surrogate escapes instead of failing the whole
read, so one corrupt entry cannot stop a consumer: the dispatcher finds the escapes,
dead-letters the entry as unreadable, and the dead letter keeps the original bytes.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

import redis

EVENTS_STREAM = "nhip:incidents:events"
DEAD_LETTER_STREAM = "nhip:incidents:deadletter"

Message = tuple[str, dict[str, str]]


class BusUnavailable(RuntimeError):
    """The bus cannot be reached now; the caller should keep the data and try again."""


class Bus(Protocol):
    def publish(self, stream: str, fields: dict[str, str]) -> str: ...
    def ensure_group(self, stream: str, group: str) -> None: ...
    def read_new(self, stream: str, group: str, consumer: str, count: int,
                 block_ms: int) -> list[Message]: ...
    def read_own_pending(self, stream: str, group: str, consumer: str,
                         count: int) -> list[Message]: ...
    def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int,
                    count: int) -> list[Message]: ...
    def ack(self, stream: str, group: str, message_ids: list[str]) -> None: ...
    def touch(self, stream: str, group: str, consumer: str,
              message_ids: list[str]) -> None: ...
    def mark_delivered(self, receiver: str, message_id: str) -> None: ...
    def was_delivered(self, receiver: str, message_id: str) -> bool: ...
    def delivered_among(self, receiver: str, message_ids: list[str]) -> set[str]: ...
    def complete(self, stream: str, group: str, receiver: str,
                 done: list[tuple[str, str | None]]) -> None: ...
    def publish_many(self, stream: str, entries: list[dict[str, str]]) -> list[str]: ...
    def length(self, stream: str) -> int: ...
    def read_all(self, stream: str) -> list[Message]: ...
    def pending_before(self, stream: str, group: str, entry_id: str) -> list[Message]: ...
    def requeue(self, source: str, entry_id: str, target: str,
                fields: dict[str, str]) -> str | None: ...


# Moves an entry from one stream to another only if it is still in the first, so two
# replays running at once cannot both publish it.
_REQUEUE = """
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], '*', unpack(ARGV, 2))
end
return false
"""
PENDING_PAGE = 500

# How long a "delivered" marker is kept; a repeat after this is left to the receiver's
# own idempotency-key check.
DELIVERED_TTL_S = 7 * 24 * 3600


class RedisBus:
    """Bus on Redis Streams. Redis errors surface as ``BusUnavailable``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._redis = redis.Redis.from_url(
            url, decode_responses=True, encoding_errors="surrogateescape",
            socket_timeout=10, socket_connect_timeout=2, health_check_interval=5)
        self._requeue = self._redis.register_script(_REQUEUE)

    def publish(self, stream: str, fields: dict[str, str]) -> str:
        with _unavailable(self.url):
            return str(self._redis.xadd(stream, fields))

    def ensure_group(self, stream: str, group: str) -> None:
        with _unavailable(self.url):
            try:
                # From "0": a group made after events were published still sees them.
                self._redis.xgroup_create(stream, group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read_new(self, stream: str, group: str, consumer: str, count: int,
                 block_ms: int) -> list[Message]:
        with _unavailable(self.url):
            reply = self._redis.xreadgroup(group, consumer, {stream: ">"}, count=count,
                                           block=block_ms or None)
        return _flatten(reply)

    def read_own_pending(self, stream: str, group: str, consumer: str,
                         count: int) -> list[Message]:
        with _unavailable(self.url):
            reply = self._redis.xreadgroup(group, consumer, {stream: "0"}, count=count)
        return [m for m in _flatten(reply) if m[1]]

    def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int,
                    count: int) -> list[Message]:
        with _unavailable(self.url):
            reply = self._redis.xautoclaim(stream, group, consumer, min_idle_ms,
                                           start_id="0-0", count=count)
        # Entries deleted from the stream come back as None; there is nothing to deliver.
        return [(mid, fields) for mid, fields in reply[1] if fields]

    def ack(self, stream: str, group: str, message_ids: list[str]) -> None:
        if message_ids:
            with _unavailable(self.url):
                self._redis.xack(stream, group, *message_ids)

    def touch(self, stream: str, group: str, consumer: str, message_ids: list[str]) -> None:
        """Resets the idle time of entries still being worked on, so no other consumer
        takes them over while a slow delivery is retried."""
        if message_ids:
            with _unavailable(self.url):
                self._redis.xclaim(stream, group, consumer, 0, message_ids, justid=True)

    def mark_delivered(self, receiver: str, message_id: str) -> None:
        with _unavailable(self.url):
            self._redis.set(_delivered_key(receiver, message_id), "1", ex=DELIVERED_TTL_S)

    def was_delivered(self, receiver: str, message_id: str) -> bool:
        with _unavailable(self.url):
            return bool(self._redis.exists(_delivered_key(receiver, message_id)))

    def delivered_among(self, receiver: str, message_ids: list[str]) -> set[str]:
        if not message_ids:
            return set()
        with _unavailable(self.url):
            pipe = self._redis.pipeline(transaction=False)
            for message_id in message_ids:
                pipe.exists(_delivered_key(receiver, message_id))
            found = pipe.execute()
        return {mid for mid, hit in zip(message_ids, found) if hit}

    def complete(self, stream: str, group: str, receiver: str,
                 done: list[tuple[str, str | None]]) -> None:
        """Marks delivered messages and acknowledges entries, in one round trip.

        ``done`` holds (stream entry id, message id if it was delivered else None).
        Markers go first, so a crash between the two leaves a marker and a pending
        entry, which the next dispatcher acknowledges without sending again.
        """
        if not done:
            return
        with _unavailable(self.url):
            pipe = self._redis.pipeline(transaction=False)
            for _entry, message_id in done:
                if message_id is not None:
                    pipe.set(_delivered_key(receiver, message_id), "1", ex=DELIVERED_TTL_S)
            pipe.xack(stream, group, *[entry for entry, _ in done])
            pipe.execute()

    def publish_many(self, stream: str, entries: list[dict[str, str]]) -> list[str]:
        if not entries:
            return []
        with _unavailable(self.url):
            pipe = self._redis.pipeline(transaction=False)
            for fields in entries:
                pipe.xadd(stream, fields)
            return [str(mid) for mid in pipe.execute()]

    def length(self, stream: str) -> int:
        with _unavailable(self.url):
            return int(self._redis.xlen(stream))

    def read_all(self, stream: str) -> list[Message]:
        with _unavailable(self.url):
            return [(mid, fields) for mid, fields in self._redis.xrange(stream)]

    def pending_before(self, stream: str, group: str, entry_id: str) -> list[Message]:
        """Entries before ``entry_id`` that some consumer of ``group`` holds unacknowledged,
        with their fields (entries deleted meanwhile are left out)."""
        ids: list[str] = []
        low = "-"
        with _unavailable(self.url):
            while True:
                rows = self._redis.xpending_range(stream, group, min=low,
                                                  max=f"({entry_id}", count=PENDING_PAGE)
                ids.extend(str(row["message_id"]) for row in rows)
                if len(rows) < PENDING_PAGE:
                    break
                low = f"({ids[-1]}"
            if not ids:
                return []
            pipe = self._redis.pipeline(transaction=False)
            for mid in ids:
                pipe.xrange(stream, mid, mid, count=1)
            found = pipe.execute()
        return [entries[0] for entries in found if entries and entries[0][1]]

    def requeue(self, source: str, entry_id: str, target: str,
                fields: dict[str, str]) -> str | None:
        """Deletes ``entry_id`` from ``source`` and publishes ``fields`` on ``target``, in
        one step; None (and nothing published) when the entry is already gone."""
        flat = [item for pair in fields.items() for item in pair]
        with _unavailable(self.url):
            added = self._requeue(keys=[source, target], args=[entry_id, *flat])
        return None if added is None else str(added)

    def close(self) -> None:
        self._redis.close()


def _delivered_key(receiver: str, message_id: str) -> str:
    return f"nhip:incidents:delivered:{receiver}:{message_id}"


def _flatten(reply: object) -> list[Message]:
    messages: list[Message] = []
    for _stream, entries in reply or []:  # type: ignore[union-attr]
        messages.extend((mid, fields) for mid, fields in entries)
    return messages


class _unavailable:
    """Turns Redis connection trouble into BusUnavailable, naming the server."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> bool:
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)):
            msg = f"Redis at {self.url} is unreachable or still loading: {exc}"
            raise BusUnavailable(msg) from exc
        return False


@dataclass
class _Group:
    next_index: int = 0
    # message id -> (consumer, time of last delivery)
    pending: OrderedDict[str, tuple[str, float]] = field(default_factory=OrderedDict)


class MemoryBus:
    """The same interface inside one process, for the demo and for runs without Redis."""

    def __init__(self) -> None:
        self._streams: dict[str, list[Message]] = {}
        self._index: dict[str, dict[str, int]] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._delivered: set[tuple[str, str]] = set()
        self._deleted: set[tuple[str, str]] = set()
        self._counter = itertools.count(1)
        self._changed = threading.Condition()

    def publish(self, stream: str, fields: dict[str, str]) -> str:
        with self._changed:
            message_id = f"{int(time.time() * 1000)}-{next(self._counter)}"
            entries = self._streams.setdefault(stream, [])
            self._index.setdefault(stream, {})[message_id] = len(entries)
            entries.append((message_id, dict(fields)))
            self._changed.notify_all()
            return message_id

    def ensure_group(self, stream: str, group: str) -> None:
        with self._changed:
            self._streams.setdefault(stream, [])
            self._groups.setdefault((stream, group), _Group())

    def read_new(self, stream: str, group: str, consumer: str, count: int,
                 block_ms: int) -> list[Message]:
        deadline = time.monotonic() + block_ms / 1000
        with self._changed:
            state = self._groups[(stream, group)]
            entries = self._streams[stream]
            while state.next_index >= len(entries):
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._changed.wait(left)
            batch = entries[state.next_index:state.next_index + count]
            state.next_index += len(batch)
            batch = [m for m in batch if (stream, m[0]) not in self._deleted]
            now = time.monotonic()
            for message_id, _ in batch:
                state.pending[message_id] = (consumer, now)
            return batch

    def read_own_pending(self, stream: str, group: str, consumer: str,
                         count: int) -> list[Message]:
        with self._changed:
            state = self._groups[(stream, group)]
            own = [mid for mid, (who, _) in state.pending.items() if who == consumer]
            return [self._entry(stream, mid) for mid in own[:count]]

    def claim_stale(self, stream: str, group: str, consumer: str, min_idle_ms: int,
                    count: int) -> list[Message]:
        with self._changed:
            state = self._groups[(stream, group)]
            now = time.monotonic()
            stale = [mid for mid, (_, since) in state.pending.items()
                     if (now - since) * 1000 >= min_idle_ms][:count]
            for mid in stale:
                state.pending[mid] = (consumer, now)
            return [self._entry(stream, mid) for mid in stale]

    def ack(self, stream: str, group: str, message_ids: list[str]) -> None:
        with self._changed:
            state = self._groups[(stream, group)]
            for mid in message_ids:
                state.pending.pop(mid, None)

    def touch(self, stream: str, group: str, consumer: str, message_ids: list[str]) -> None:
        with self._changed:
            state = self._groups[(stream, group)]
            now = time.monotonic()
            for mid in message_ids:
                if mid in state.pending:
                    state.pending[mid] = (consumer, now)

    def mark_delivered(self, receiver: str, message_id: str) -> None:
        with self._changed:
            self._delivered.add((receiver, message_id))

    def was_delivered(self, receiver: str, message_id: str) -> bool:
        with self._changed:
            return (receiver, message_id) in self._delivered

    def delivered_among(self, receiver: str, message_ids: list[str]) -> set[str]:
        with self._changed:
            return {mid for mid in message_ids if (receiver, mid) in self._delivered}

    def complete(self, stream: str, group: str, receiver: str,
                 done: list[tuple[str, str | None]]) -> None:
        with self._changed:
            for _entry, message_id in done:
                if message_id is not None:
                    self._delivered.add((receiver, message_id))
        self.ack(stream, group, [entry for entry, _ in done])

    def publish_many(self, stream: str, entries: list[dict[str, str]]) -> list[str]:
        return [self.publish(stream, fields) for fields in entries]

    def length(self, stream: str) -> int:
        return len(self.read_all(stream))

    def read_all(self, stream: str) -> list[Message]:
        with self._changed:
            return [m for m in self._streams.get(stream, [])
                    if (stream, m[0]) not in self._deleted]

    def pending_before(self, stream: str, group: str, entry_id: str) -> list[Message]:
        with self._changed:
            state = self._groups[(stream, group)]
            index = self._index[stream]
            before = sorted(index[mid] for mid in state.pending if index[mid] < index[entry_id])
            return [self._streams[stream][i] for i in before
                    if (stream, self._streams[stream][i][0]) not in self._deleted]

    def requeue(self, source: str, entry_id: str, target: str,
                fields: dict[str, str]) -> str | None:
        with self._changed:
            if entry_id not in self._index.get(source, {}) or (source, entry_id) in \
                    self._deleted:
                return None
            self._deleted.add((source, entry_id))
            return self.publish(target, fields)

    def close(self) -> None:
        return None

    def _entry(self, stream: str, message_id: str) -> Message:
        return self._streams[stream][self._index[stream][message_id]]


def open_bus(redis_url: str | None) -> RedisBus | MemoryBus:
    """A Redis bus when a URL is configured, else the in-process bus."""
    return RedisBus(redis_url) if redis_url else MemoryBus()
