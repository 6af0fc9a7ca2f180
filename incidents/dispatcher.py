"""Delivers bus messages to receivers as signed webhooks, each message once per receiver.

Each receiver has its own consumer group, so a receiver that is down or slow holds up
no other. A message is acknowledged on the bus only after the receiver answered 2xx or
after it went to the dead-letter stream, so a dispatcher killed mid-delivery leaves it
pending and the next dispatcher (same consumer name, or any after ``claim_idle_s``)
delivers it again with the same idempotency key; receivers drop the repeat.

One send per receiver and message id: a message id already being sent (or waiting for
its acknowledgement) by this dispatcher is not sent again, however many entries carry
it, and one the receiver already accepted is skipped through the delivered markers.

Content is checked and rendered when an entry is read; an entry that cannot become
valid CAP 1.2 goes to the dead-letter stream as ``unreadable: <field>: <rule>`` and is
acknowledged, so it never sits on the bus.

Each attempt has a total deadline of ``timeout_s`` for the status and headers; once a
2xx status has arrived the message counts as delivered even if the rest of the answer
(the body) is late or broken, since the receiver has taken it.

Answers: 2xx delivered. 409 to a request carrying an Idempotency-Key means the receiver
already holds that key (a repeat, or our earlier attempt still being processed); it is
recorded as delivered (the marker is written, counted as ``already_had``) and not sent
again. 3xx is final and not followed (the receiver must be configured with its real
URL); the reason names the Location. Transport errors, timeouts, 408, 425, 429 and 5xx
are retried with exponential backoff and jitter up to ``max_attempts``; for 429 and 503
a Retry-After (seconds or an HTTP date) is honoured up to ``backoff_max_s``, and when it
asked for longer the dead-letter reason says so. Other 4xx answers are final. Either way
the message then goes to the dead-letter stream with the reason. A delivery waiting to
retry holds no connection slot, so other messages to the same receiver go on meanwhile.

Order: an Update or Cancel is sent only after every earlier entry about the same event
was delivered or dead-lettered, whichever dispatcher process holds it: before sending a
follow-up, the dispatcher looks at the entries the receiver's group still has pending
before it (across all consumers) and waits while one is about the same event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from incidents import cap
from incidents.bus import DEAD_LETTER_STREAM, EVENTS_STREAM, Bus, BusUnavailable
from incidents.config import DispatchConfig, Receiver
from incidents.messages import AlertMessage
from incidents.signing import IDEMPOTENCY_HEADER, sign

log = logging.getLogger("incidents.dispatcher")

RETRYABLE_STATUS = {408, 425, 429}
RETRY_AFTER_STATUS = {429, 503}
REDIRECT_STATUS = {301, 302, 303, 307, 308}
SUMMARY_EVERY_S = 30.0
COMPLETION_BATCH_WAIT_S = 0.01
SHUTDOWN_ACK_WAIT_S = 10.0
# A follow-up whose predecessor another dispatcher holds looks again after this long,
# doubling up to the second figure.
ORDER_POLL_S = (0.02, 0.5)
# Stream entry fields written by a replay: the one receiver the entry is for, and the
# dead letter it came from.
REPLAY_FOR, REPLAY_OF = "replay_for", "replay_of"
T = TypeVar("T")


@dataclass
class _Lane:
    """What one receiver's worker keeps while it runs."""

    receiver: Receiver
    group: str
    finished: asyncio.Queue[tuple[str, str | None]]
    slots: asyncio.Semaphore
    # Entries taken from the bus and not yet acknowledged: waiting, being sent, or
    # waiting for their ack. A claimed or re-read entry already here is skipped.
    held: set[str] = field(default_factory=set)
    # Entries settled here whose ack is not written yet (not a reason to hold anything).
    settled: set[str] = field(default_factory=set)
    # message id -> entry id of the one entry sending it, until that entry is acked.
    sending: dict[str, str] = field(default_factory=dict)
    # Delivery tasks by entry id, and by event id (for the order of follow-ups).
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    by_event: dict[str, dict[str, asyncio.Task[None]]] = field(default_factory=dict)

    def finish(self, entry_id: str, delivered_id: str | None) -> None:
        self.settled.add(entry_id)
        self.finished.put_nowait((entry_id, delivered_id))


@dataclass
class _Answer:
    status: int | None  # None: no status (transport error, deadline passed)
    reason: str = ""
    retry_after_s: float | None = None


class Dispatcher:
    def __init__(self, config: DispatchConfig, bus: Bus, stream: str = EVENTS_STREAM,
                 dead_letter_stream: str = DEAD_LETTER_STREAM) -> None:
        self.config = config
        self.bus = bus
        self.stream = stream
        self.dead_letter_stream = dead_letter_stream
        self.counts: dict[str, dict[str, int]] = {
            name: {"delivered": 0, "skipped": 0, "retried": 0, "dead": 0,
                   "duplicate": 0, "already_had": 0}
            for name in config.receivers}
        self._stop = asyncio.Event()
        self._wakeups: list[asyncio.Event] = []

    def stop(self) -> None:
        self._stop.set()
        for wakeup in self._wakeups:  # workers waiting for room look up
            wakeup.set()

    async def run(self) -> None:
        """Runs every receiver's worker until ``stop()``."""
        workers = [asyncio.create_task(self._worker(r), name=f"dispatch-{r.name}")
                   for r in self.config.receivers.values()]
        summary = asyncio.create_task(self._summaries())
        try:
            await asyncio.gather(*workers)
        finally:
            summary.cancel()

    async def _summaries(self) -> None:
        while True:
            await asyncio.sleep(SUMMARY_EVERY_S)
            log.info("dispatch totals per receiver: %s", self.counts)

    async def _worker(self, receiver: Receiver) -> None:
        group = f"dispatch:{receiver.name}"
        await self._bus(self.bus.ensure_group, self.stream, group)
        consumer = self.config.consumer
        lane = _Lane(receiver, group, asyncio.Queue(),
                     asyncio.Semaphore(receiver.max_in_flight))
        room = asyncio.Event()
        self._wakeups.append(room)
        completer = asyncio.create_task(self._complete(lane))
        claim_idle_ms = int(self.config.claim_idle_s * 1000)
        next_claim = 0.0
        # Entries waiting for their turn or their retry hold no connection, so more of
        # them than connections may be held; this bounds the memory they take.
        most_tasks = max(self.config.batch_size, receiver.max_in_flight)
        async with _client(receiver) as client:
            # Messages this consumer took before it stopped or died come first.
            backlog = await self._bus(self.bus.read_own_pending, self.stream, group,
                                      consumer, 100_000)
            if backlog:
                log.info("receiver %s: resuming %d unacknowledged messages",
                         receiver.name, len(backlog))
            while not self._stop.is_set():
                claim_due = time.monotonic() >= next_claim
                if len(lane.tasks) >= most_tasks and not claim_due:
                    # Full, but taking over stale entries goes on: follow-ups held here
                    # may be waiting for exactly those.
                    room.clear()
                    try:
                        await asyncio.wait_for(room.wait(), next_claim - time.monotonic())
                    except TimeoutError:
                        pass
                    continue
                if backlog and len(lane.tasks) < most_tasks:
                    batch, backlog = backlog[:most_tasks], backlog[most_tasks:]
                elif claim_due:
                    next_claim = time.monotonic() + self.config.claim_idle_s / 3
                    await self._bus(self.bus.touch, self.stream, group, consumer,
                                    list(lane.held))
                    batch = await self._bus(self.bus.claim_stale, self.stream, group,
                                            consumer, claim_idle_ms, self.config.batch_size)
                    if batch:
                        log.warning("receiver %s: took over %d messages left by a stopped "
                                    "dispatcher", receiver.name, len(batch))
                else:
                    batch = await self._bus(self.bus.read_new, self.stream, group, consumer,
                                            self.config.batch_size, self.config.block_ms)
                batch = [(mid, fields) for mid, fields in batch if mid not in lane.held]
                lane.held.update(mid for mid, _ in batch)
                for entry_id, message, body in await self._to_send(lane, batch):
                    self._start(client, lane, entry_id, message, body, room)
            if lane.tasks:
                await asyncio.wait(list(lane.tasks.values()), timeout=receiver.timeout_s)
            for task in list(lane.tasks.values()):
                # Still pending on the bus: the next start delivers them.
                task.cancel()
        try:
            await asyncio.wait_for(lane.finished.join(), timeout=SHUTDOWN_ACK_WAIT_S)
        except TimeoutError:
            # Not lost: unacknowledged entries are delivered again on the next start,
            # and the receivers drop the repeats by idempotency key.
            log.warning("receiver %s: stopping with %d acknowledgements not written",
                        receiver.name, lane.finished.qsize())
        completer.cancel()

    def _start(self, client: httpx.AsyncClient, lane: _Lane, entry_id: str,
               message: AlertMessage, body: bytes, room: asyncio.Event) -> None:
        event_id = message.event.event_id
        same_event = lane.by_event.setdefault(event_id, {})
        # Earlier entries about the same event held here; an entry claimed late from a
        # stopped dispatcher can be older than one already running.
        earlier = [task for eid, task in same_event.items() if _older(eid, entry_id)]
        task = asyncio.create_task(self._deliver(client, lane, entry_id, message, body,
                                                 earlier))
        lane.tasks[entry_id] = task
        same_event[entry_id] = task

        def forget(_: asyncio.Task[None]) -> None:
            lane.tasks.pop(entry_id, None)
            same_event.pop(entry_id, None)
            if not same_event and lane.by_event.get(event_id) is same_event:
                del lane.by_event[event_id]
            room.set()

        task.add_done_callback(forget)

    async def _to_send(self, lane: _Lane, batch: list[tuple[str, dict[str, str]]],
                       ) -> list[tuple[str, AlertMessage, bytes]]:
        """The entries this receiver still needs, rendered; the rest are acknowledged
        at once, or dead-lettered when they cannot be read or rendered."""
        receiver = lane.receiver
        counts = self.counts[receiver.name]
        readable: list[tuple[str, AlertMessage, bytes]] = []
        for entry_id, fields in batch:
            target = fields.get(REPLAY_FOR)
            if target is not None and target != receiver.name:
                counts["skipped"] += 1  # a replay meant for another receiver
                lane.finish(entry_id, None)
                continue
            try:
                message = AlertMessage.from_fields(fields)
                if receiver.name not in self.config.receivers_for(message.event):
                    counts["skipped"] += 1
                    lane.finish(entry_id, None)
                    continue
                body = (cap.to_xml(message) if receiver.format == "cap-xml"
                        else cap.to_json(message))
            except Exception as exc:  # noqa: BLE001 (any fault in the content)
                await self._dead_letter(lane, entry_id, fields, f"unreadable: {exc}", 0)
                continue
            readable.append((entry_id, message, body))
        # A message can come round again (replayed dead letters, a crash after the
        # receiver answered): one already being sent here, or repeated in this batch,
        # or marked delivered, is acknowledged without sending.
        fresh: list[tuple[str, AlertMessage, bytes]] = []
        seen: set[str] = set()
        for item in readable:
            entry_id, message, _ = item
            if message.message_id in lane.sending or message.message_id in seen:
                counts["duplicate"] += 1
                lane.finish(entry_id, None)
            else:
                seen.add(message.message_id)
                fresh.append(item)
        already = await self._bus(self.bus.delivered_among, receiver.name,
                                  [m.message_id for _, m, _ in fresh])
        to_send = []
        for entry_id, message, body in fresh:
            if message.message_id in already:
                counts["duplicate"] += 1
                lane.finish(entry_id, None)
            else:
                lane.sending[message.message_id] = entry_id
                to_send.append((entry_id, message, body))
        return to_send

    async def _complete(self, lane: _Lane) -> None:
        """Writes markers and acks in batches: one bus round trip for many messages."""
        finished = lane.finished
        while True:
            done = [await finished.get()]
            # A short wait gathers the deliveries finishing meanwhile into the same batch.
            await asyncio.sleep(COMPLETION_BATCH_WAIT_S)
            while not finished.empty() and len(done) < 1000:
                done.append(finished.get_nowait())
            await self._bus(self.bus.complete, self.stream, lane.group, lane.receiver.name,
                            done)
            # Only now, with the marker written, may another entry with a message id
            # sent here be judged by the marker alone.
            release = {entry for entry, _ in done}
            for message_id, entry in list(lane.sending.items()):
                if entry in release:
                    del lane.sending[message_id]
            for entry_id, _ in done:
                lane.held.discard(entry_id)
                lane.settled.discard(entry_id)
                finished.task_done()

    async def _deliver(self, client: httpx.AsyncClient, lane: _Lane, entry_id: str,
                       message: AlertMessage, body: bytes,
                       earlier: list[asyncio.Task[None]]) -> None:
        try:
            if earlier:
                # Known limit: if an earlier message ends in the dead-letter stream, this
                # one still goes out; the receiver then sees a follow-up to an unknown
                # alert.
                await asyncio.wait(earlier)
            if message.msg_type != "Alert":
                await self._wait_for_earlier(lane, entry_id, message.event.event_id)
            await self._send(client, lane, entry_id, message, body)
        except Exception as exc:
            # Not expected; the message goes where an operator sees it rather than
            # stay pending and fail again on every start.
            log.exception("receiver %s: delivery of %s failed", lane.receiver.name,
                          message.message_id)
            await self._dead_letter(lane, entry_id, message.to_fields(),
                                    f"internal error: {type(exc).__name__}: {exc}", 0)

    async def _wait_for_earlier(self, lane: _Lane, entry_id: str, event_id: str) -> None:
        """Waits while any consumer of this receiver's group holds an earlier entry about
        ``event_id`` unacknowledged (so another dispatcher process may be sending it)."""
        delay, most = ORDER_POLL_S
        while True:
            pending = await self._bus(self.bus.pending_before, self.stream, lane.group,
                                      entry_id)
            if not any(mid not in lane.settled and _event_of(fields) == event_id
                       for mid, fields in pending):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, most)

    async def _send(self, client: httpx.AsyncClient, lane: _Lane, entry_id: str,
                    message: AlertMessage, body: bytes) -> None:
        receiver = lane.receiver
        counts = self.counts[receiver.name]
        content_type = ("application/cap+xml" if receiver.format == "cap-xml"
                        else "application/json")
        reason = ""
        for attempt in range(1, receiver.max_attempts + 1):
            headers = {"Content-Type": content_type, IDEMPOTENCY_HEADER: message.message_id,
                       **sign(receiver.secret, body)}
            async with lane.slots:
                answer = await _post(client, receiver, body, headers)
            status = answer.status
            if status is not None and 200 <= status < 300:
                lane.finish(entry_id, message.message_id)
                counts["delivered"] += 1
                log.debug("delivered %s %s to %s (attempt %d)", message.msg_type,
                          message.message_id, receiver.name, attempt)
                return
            if status == 409:
                lane.finish(entry_id, message.message_id)
                counts["already_had"] += 1
                log.info("receiver %s answered 409 to %s: it already holds that "
                         "Idempotency-Key; recorded as delivered", receiver.name,
                         message.message_id)
                return
            reason = answer.reason
            if status is not None and status < 500 and status not in RETRYABLE_STATUS:
                break
            if attempt < receiver.max_attempts:
                counts["retried"] += 1
                delay = min(receiver.backoff_max_s,
                            receiver.backoff_initial_s * 2 ** (attempt - 1))
                delay *= random.uniform(0.8, 1.2)
                if answer.retry_after_s is not None:
                    delay = max(delay, min(answer.retry_after_s, receiver.backoff_max_s))
                log.warning("receiver %s refused %s (%s), attempt %d of %d; retrying in "
                            "%.1f s", receiver.name, message.message_id, reason, attempt,
                            receiver.max_attempts, delay)
                await asyncio.sleep(delay)
        await self._dead_letter(lane, entry_id, message.to_fields(), reason, attempt)

    async def _dead_letter(self, lane: _Lane, entry_id: str, fields: dict[str, str],
                           reason: str, attempts: int) -> None:
        receiver = lane.receiver
        self.counts[receiver.name]["dead"] += 1
        log.error("receiver %s: giving up on stream entry %s after %d attempts (%s); it is "
                  "in %s for replay", receiver.name, entry_id, attempts, reason,
                  self.dead_letter_stream)
        # The entry's own fields first: what this dispatcher writes must win over any
        # field of the same name in a malformed entry.
        record = {**fields, "receiver": receiver.name, "entry_id": entry_id,
                  "reason": reason, "attempts": str(attempts),
                  "failed_at": f"{time.time():.3f}"}
        record.pop(REPLAY_FOR, None)
        await self._bus(self.bus.publish, self.dead_letter_stream, record)
        lane.finish(entry_id, None)

    async def _bus(self, call: Callable[..., T], *args: Any) -> T:
        """A bus call in a worker thread (Redis may wait for an fsync), retried through
        a Redis outage instead of dropping the message."""
        delay = 0.2
        while True:
            try:
                return await asyncio.to_thread(call, *args)
            except BusUnavailable as exc:
                log.warning("bus unavailable, retrying in %.1f s: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


async def _post(client: httpx.AsyncClient, receiver: Receiver, body: bytes,
                headers: dict[str, str]) -> _Answer:
    """One attempt, bounded as a whole by ``timeout_s`` (httpx's own timeouts apply to
    each read, so a receiver sending a byte at a time would never trip them)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    request = client.build_request("POST", receiver.url, content=body, headers=headers)
    try:
        response = await asyncio.wait_for(client.send(request, stream=True),
                                          receiver.timeout_s)
    except TimeoutError:
        return _Answer(None, f"Timeout: no answer within {receiver.timeout_s:g} s")
    except httpx.TransportError as exc:
        return _Answer(None, f"{type(exc).__name__}: {exc}")
    try:
        # Read the (normally empty) body so the connection can be reused; the status
        # is what counts, so a body that is late or cut off changes nothing.
        left = receiver.timeout_s - (loop.time() - started)
        await asyncio.wait_for(response.aread(), max(left, 0.001))
    except (TimeoutError, httpx.TransportError, httpx.StreamError):
        pass
    finally:
        await response.aclose()
    status = response.status_code
    if status in REDIRECT_STATUS:
        location = response.headers.get("location", "")[:300]
        return _Answer(status, f"HTTP {status} redirect to {location!r}, not followed; "
                               "configure the receiver's final URL")
    answer = _Answer(status, f"HTTP {status}")
    if status in RETRY_AFTER_STATUS:
        answer.retry_after_s = _retry_after(response.headers.get("retry-after"))
        if (answer.retry_after_s is not None
                and answer.retry_after_s > receiver.backoff_max_s):
            answer.reason += (f" (Retry-After asked for {answer.retry_after_s:.0f} s; we wait "
                              f"at most backoff_max_s = {receiver.backoff_max_s:g} s)")
    return answer


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def _older(entry_id: str, other: str) -> bool:
    """Whether stream entry ``entry_id`` was published before ``other``."""
    def key(mid: str) -> tuple[int, ...]:
        return tuple(int(part) for part in mid.split("-"))
    return key(entry_id) < key(other)


def _event_of(fields: dict[str, str]) -> str | None:
    if "event_id" in fields:
        return fields["event_id"]
    try:
        return str(json.loads(fields["data"])["event"]["event_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _client(receiver: Receiver) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = True
    if receiver.ca_file:
        verify = ssl.create_default_context(cafile=receiver.ca_file)
    limits = httpx.Limits(max_connections=receiver.max_in_flight,
                          max_keepalive_connections=receiver.max_in_flight)
    # trust_env=False: no proxy or certificate settings picked up from the environment.
    # Redirects are not followed (httpx's default, kept explicit): a 3xx is reported.
    return httpx.AsyncClient(verify=verify, timeout=receiver.timeout_s, limits=limits,
                             trust_env=False, follow_redirects=False)


def replay_dead_letters(bus: Bus, receiver: str | None = None,
                        stream: str = EVENTS_STREAM,
                        dead_letter_stream: str = DEAD_LETTER_STREAM,
                        receivers: set[str] | None = None) -> int:
    """Puts dead letters back on the events stream, each for the one receiver it failed
    for (same message id, so a receiver that has it meanwhile skips it), and removes
    them from the dead-letter stream in the same step: replaying twice sends nothing
    twice. A message that fails again becomes a new dead letter.

    ``receiver`` limits the replay to that receiver's dead letters; ``receivers`` (the
    configured names) leaves alone those of receivers no longer configured. Dead
    letters without the original content cannot be replayed and stay.
    """
    replayed = 0
    for dead_id, fields in bus.read_all(dead_letter_stream):
        target = fields.get("receiver")
        if receiver and target != receiver:
            continue
        if not target or "data" not in fields or (receivers is not None
                                                  and target not in receivers):
            log.warning("dead letter %s (receiver %r) cannot be replayed; left in %s",
                        dead_id, target, dead_letter_stream)
            continue
        entry = {"data": fields["data"], REPLAY_FOR: target, REPLAY_OF: dead_id}
        if "event_id" in fields:
            entry["event_id"] = fields["event_id"]
        if bus.requeue(dead_letter_stream, dead_id, stream, entry) is not None:
            replayed += 1
    return replayed


class BackgroundDispatcher:
    """A dispatcher on its own thread and event loop, next to synchronous code.

    For the demo, where detection and delivery share one process and the in-process
    bus; in production the dispatcher runs as its own process (``nhip incidents
    dispatch``).
    """

    def __init__(self, config: DispatchConfig, bus: Bus) -> None:
        import threading

        self.dispatcher = Dispatcher(config, bus)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self.dispatcher.run(),),
            name="incident-dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        self._loop.call_soon_threadsafe(self.dispatcher.stop)
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            msg = f"the dispatcher did not stop within {timeout_s} s"
            raise RuntimeError(msg)
        self._loop.close()
