"""Delivers bus messages to receivers as signed webhooks, each message once per receiver.

Each receiver has its own consumer group, so a receiver that is down or slow holds up
no other. A message is acknowledged on the bus only after the receiver answered 2xx or
after it went to the dead-letter stream, so a dispatcher killed mid-delivery leaves it
pending and the next dispatcher (same consumer name, or any after ``claim_idle_s``)
delivers it again with the same idempotency key; receivers drop the repeat.

Retries: transport errors, timeouts, 408, 425, 429 and 5xx are retried with exponential
backoff and jitter up to ``max_attempts``; other 4xx answers are final. Either way the
message then goes to the dead-letter stream with the reason.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from incidents import cap
from incidents.bus import DEAD_LETTER_STREAM, EVENTS_STREAM, Bus, BusUnavailable
from incidents.config import DispatchConfig, Receiver
from incidents.messages import AlertMessage
from incidents.signing import IDEMPOTENCY_HEADER, sign

log = logging.getLogger("incidents.dispatcher")

RETRYABLE_STATUS = {408, 425, 429}
SUMMARY_EVERY_S = 30.0
COMPLETION_BATCH_WAIT_S = 0.01
SHUTDOWN_ACK_WAIT_S = 10.0
T = TypeVar("T")


class Dispatcher:
    def __init__(self, config: DispatchConfig, bus: Bus, stream: str = EVENTS_STREAM,
                 dead_letter_stream: str = DEAD_LETTER_STREAM) -> None:
        self.config = config
        self.bus = bus
        self.stream = stream
        self.dead_letter_stream = dead_letter_stream
        self.counts: dict[str, dict[str, int]] = {
            name: {"delivered": 0, "skipped": 0, "retried": 0, "dead": 0}
            for name in config.receivers}
        self._stop = asyncio.Event()
        self._wakeups: list[asyncio.Event] = []

    def stop(self) -> None:
        self._stop.set()
        for wakeup in self._wakeups:  # workers waiting for a free slot look up
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
        in_flight: dict[str, asyncio.Task[None]] = {}
        # The latest delivery per event: an Update or Cancel waits for the messages of
        # the same event before it, so a receiver never gets a follow-up first.
        latest_for_event: dict[str, asyncio.Task[None]] = {}
        slot_freed = asyncio.Event()
        self._wakeups.append(slot_freed)
        finished: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()
        # Entries taken from the bus and not yet acknowledged: queued, being sent, or
        # waiting for their ack. A claimed or re-read entry already here is skipped.
        held: set[str] = set()
        completer = asyncio.create_task(self._complete(receiver, group, finished, held))
        claim_idle_ms = int(self.config.claim_idle_s * 1000)
        next_claim = 0.0
        async with _client(receiver) as client:
            # Messages this consumer took before it stopped or died come first.
            backlog = await self._bus(self.bus.read_own_pending, self.stream, group,
                                      consumer, 100_000)
            if backlog:
                log.info("receiver %s: resuming %d unacknowledged messages",
                         receiver.name, len(backlog))
            # Entries read from the bus but not yet sent. They are pending on the bus
            # already, so a crash here loses nothing: they are read again on restart.
            queue: deque[tuple[str, AlertMessage]] = deque()
            while not self._stop.is_set():
                if queue:
                    while queue and len(in_flight) < receiver.max_in_flight:
                        entry_id, message = queue.popleft()
                        event_id = message.event.event_id
                        task = asyncio.create_task(self._deliver(
                            client, receiver, entry_id, message, finished,
                            latest_for_event.get(event_id)))
                        in_flight[entry_id] = task
                        latest_for_event[event_id] = task
                        task.add_done_callback(functools.partial(
                            _forget, in_flight, entry_id, latest_for_event, event_id,
                            slot_freed))
                    if queue:
                        slot_freed.clear()
                        await slot_freed.wait()
                    continue
                if backlog:
                    batch, backlog = backlog, []
                elif time.monotonic() >= next_claim:
                    next_claim = time.monotonic() + self.config.claim_idle_s / 3
                    await self._bus(self.bus.touch, self.stream, group, consumer, list(held))
                    batch = await self._bus(self.bus.claim_stale, self.stream, group,
                                            consumer, claim_idle_ms, self.config.batch_size)
                    if batch:
                        log.warning("receiver %s: took over %d messages left by a stopped "
                                    "dispatcher", receiver.name, len(batch))
                else:
                    batch = await self._bus(self.bus.read_new, self.stream, group, consumer,
                                            self.config.batch_size, self.config.block_ms)
                batch = [(mid, fields) for mid, fields in batch if mid not in held]
                held.update(mid for mid, _ in batch)
                queue.extend(await self._to_send(receiver, batch, finished))
            if in_flight:
                await asyncio.wait(list(in_flight.values()), timeout=receiver.timeout_s)
        try:
            await asyncio.wait_for(finished.join(), timeout=SHUTDOWN_ACK_WAIT_S)
        except TimeoutError:
            # Not lost: unacknowledged entries are delivered again on the next start,
            # and the receivers drop the repeats by idempotency key.
            log.warning("receiver %s: stopping with %d acknowledgements not written",
                        receiver.name, finished.qsize())
        completer.cancel()

    async def _to_send(self, receiver: Receiver, batch: list[tuple[str, dict[str, str]]],
                       finished: asyncio.Queue[tuple[str, str | None]],
                       ) -> list[tuple[str, AlertMessage]]:
        """The entries this receiver still needs; the rest are acknowledged at once."""
        counts = self.counts[receiver.name]
        readable: list[tuple[str, AlertMessage]] = []
        for entry_id, fields in batch:
            try:
                message = AlertMessage.from_fields(fields)
            except (ValueError, KeyError, TypeError) as exc:
                await self._dead_letter(receiver, entry_id, fields, f"unreadable: {exc}", 0,
                                        finished)
                continue
            if receiver.name in self.config.receivers_for(message.event):
                readable.append((entry_id, message))
            else:
                counts["skipped"] += 1
                finished.put_nowait((entry_id, None))
        # A message can come round again (replayed dead letters, a crash after the
        # receiver answered); the delivered markers keep it from being sent twice.
        already = await self._bus(self.bus.delivered_among, receiver.name,
                                  [m.message_id for _, m in readable])
        to_send = []
        for entry_id, message in readable:
            if message.message_id in already:
                finished.put_nowait((entry_id, None))
            else:
                to_send.append((entry_id, message))
        return to_send

    async def _complete(self, receiver: Receiver, group: str,
                        finished: asyncio.Queue[tuple[str, str | None]],
                        held: set[str]) -> None:
        """Writes markers and acks in batches: one bus round trip for many messages."""
        while True:
            done = [await finished.get()]
            # A short wait gathers the deliveries finishing meanwhile into the same batch.
            await asyncio.sleep(COMPLETION_BATCH_WAIT_S)
            while not finished.empty() and len(done) < 1000:
                done.append(finished.get_nowait())
            await self._bus(self.bus.complete, self.stream, group, receiver.name, done)
            for entry_id, _ in done:
                held.discard(entry_id)
                finished.task_done()

    async def _deliver(self, client: httpx.AsyncClient, receiver: Receiver, entry_id: str,
                       message: AlertMessage,
                       finished: asyncio.Queue[tuple[str, str | None]],
                       after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            # Known limit: if the earlier message ends in the dead-letter stream, this
            # one still goes out; the receiver then sees a follow-up to an unknown alert.
            await asyncio.wait([after])
        counts = self.counts[receiver.name]
        body = cap.to_xml(message) if receiver.format == "cap-xml" else cap.to_json(message)
        content_type = ("application/cap+xml" if receiver.format == "cap-xml"
                        else "application/json")
        reason = ""
        for attempt in range(1, receiver.max_attempts + 1):
            headers = {"Content-Type": content_type, IDEMPOTENCY_HEADER: message.message_id,
                       **sign(receiver.secret, body)}
            try:
                response = await client.post(receiver.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    finished.put_nowait((entry_id, message.message_id))
                    counts["delivered"] += 1
                    log.debug("delivered %s %s to %s (attempt %d)", message.msg_type,
                              message.message_id, receiver.name, attempt)
                    return
                reason = f"HTTP {response.status_code}"
                if response.status_code < 500 and response.status_code not in RETRYABLE_STATUS:
                    break
            if attempt < receiver.max_attempts:
                counts["retried"] += 1
                delay = min(receiver.backoff_max_s,
                            receiver.backoff_initial_s * 2 ** (attempt - 1))
                log.warning("receiver %s refused %s (%s), attempt %d of %d; retrying in "
                            "%.1f s", receiver.name, message.message_id, reason, attempt,
                            receiver.max_attempts, delay)
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        await self._dead_letter(receiver, entry_id, message.to_fields(), reason, attempt,
                                finished)

    async def _dead_letter(self, receiver: Receiver, entry_id: str, fields: dict[str, str],
                           reason: str, attempts: int,
                           finished: asyncio.Queue[tuple[str, str | None]]) -> None:
        self.counts[receiver.name]["dead"] += 1
        log.error("receiver %s: giving up on stream entry %s after %d attempts (%s); it is "
                  "in %s for replay", receiver.name, entry_id, attempts, reason,
                  self.dead_letter_stream)
        record = {"receiver": receiver.name, "entry_id": entry_id, "reason": reason,
                  "attempts": str(attempts), "failed_at": f"{time.time():.3f}", **fields}
        await self._bus(self.bus.publish, self.dead_letter_stream, record)
        finished.put_nowait((entry_id, None))

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


def _forget(in_flight: dict[str, asyncio.Task[None]], entry_id: str,
            latest_for_event: dict[str, asyncio.Task[None]], event_id: str,
            slot_freed: asyncio.Event, task: asyncio.Task[None]) -> None:
    in_flight.pop(entry_id, None)
    if latest_for_event.get(event_id) is task:
        del latest_for_event[event_id]
    slot_freed.set()


def _client(receiver: Receiver) -> httpx.AsyncClient:
    verify: ssl.SSLContext | bool = True
    if receiver.ca_file:
        verify = ssl.create_default_context(cafile=receiver.ca_file)
    limits = httpx.Limits(max_connections=receiver.max_in_flight,
                          max_keepalive_connections=receiver.max_in_flight)
    # trust_env=False: no proxy or certificate settings picked up from the environment.
    return httpx.AsyncClient(verify=verify, timeout=receiver.timeout_s, limits=limits,
                             trust_env=False)


def replay_dead_letters(bus: Bus, receiver: str | None = None,
                        stream: str = EVENTS_STREAM,
                        dead_letter_stream: str = DEAD_LETTER_STREAM) -> int:
    """Publishes dead letters again (same message ids, so receivers still dedupe).

    Every receiver group sees the replay; those that already delivered a message skip it
    through the delivered markers.
    """
    replayed = 0
    for _, fields in bus.read_all(dead_letter_stream):
        if receiver and fields.get("receiver") != receiver:
            continue
        bus.publish(stream, {"data": fields["data"]})
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
