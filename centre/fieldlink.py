"""The channel between the API and the field processes, in one instance or several.

``FieldRunner`` owns one field process (``centre.field``) and its two queues.
``LocalLink`` connects the API straight to its own runners. ``RedisLink`` lets several
API instances share one field per scenario: the instance holding a scenario's lease in
Redis runs its field; every instance hears the field's events on a Redis channel and
sends plan commands through a Redis list that the lease holder passes on.

Known limit: a field process that dies is not restarted; its junctions keep showing
their last state and the log names the error. Restart ``nhip serve`` to recover.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import queue
import threading
import uuid
from collections.abc import Callable
from typing import Any

import redis

from centre.field import FieldConfig, run_field

log = logging.getLogger("nhip.centre.field")

Deliver = Callable[[dict[str, Any]], None]
STOP_TIMEOUT_S = 10.0


class FieldRunner:
    def __init__(self, config: FieldConfig, deliver: Deliver) -> None:
        self.config = config
        self.deliver = deliver
        self.ready = threading.Event()
        self.info: dict[str, Any] = {}
        context = multiprocessing.get_context("spawn")
        self._outbox = context.Queue()
        self._inbox = context.Queue()
        self._stopping = threading.Event()
        self.process = context.Process(
            target=run_field, args=(config, self._outbox, self._inbox),
            name=f"nhip-field-{config.scenario}", daemon=True)
        self._reader = threading.Thread(target=self._read, daemon=True,
                                        name=f"field-reader-{config.scenario}")

    def start(self) -> FieldRunner:
        self.process.start()
        self._reader.start()
        log.info("field %s started as process %d", self.config.scenario, self.process.pid)
        return self

    def send(self, command: dict[str, Any]) -> None:
        self._inbox.put(command)

    def _read(self) -> None:
        while True:
            try:
                message = self._outbox.get(timeout=0.5)
            except queue.Empty:
                if self._stopping.is_set() or not self.process.is_alive():
                    return
                continue
            if message.get("type") == "ready":
                self.info = message
                self.ready.set()
            elif message.get("type") == "error":
                log.error("field %s stopped: %s", self.config.scenario, message["error"])
            try:
                self.deliver(message)
            except Exception:  # one bad message must not stop the live picture
                log.exception("field %s: could not handle a %s message",
                              self.config.scenario, message.get("type"))

    def stop(self) -> None:
        self._stopping.set()
        self._inbox.put({"type": "stop"})
        self.process.join(STOP_TIMEOUT_S)
        if self.process.is_alive():
            log.warning("field %s did not stop in %.0f s; killing process %d",
                        self.config.scenario, STOP_TIMEOUT_S, self.process.pid)
            self.process.kill()
            self.process.join()
        self._reader.join(timeout=2)
        for channel in (self._inbox, self._outbox):
            # Never wait on a pipe that a dead field no longer drains.
            channel.cancel_join_thread()
            channel.close()


class LocalLink:
    """Fields in this instance only."""

    def __init__(self, configs: list[FieldConfig], on_event: Deliver) -> None:
        self.on_event = on_event
        self.runners = {c.scenario: FieldRunner(c, on_event) for c in configs}

    def start(self) -> None:
        for runner in self.runners.values():
            runner.start()

    def send_command(self, scenario: str, command: dict[str, Any]) -> None:
        self.runners[scenario].send(command)

    def field_info(self, scenario: str) -> dict[str, Any]:
        runner = self.runners.get(scenario)
        return dict(runner.info) if runner else {}

    def stop(self) -> None:
        for runner in self.runners.values():
            runner.stop()


EVENTS_CHANNEL = "nhip:centre:live"
LEASE_S = 15.0


class RedisLink:
    """Fields shared by every instance on one Redis."""

    def __init__(self, configs: list[FieldConfig], on_event: Deliver, url: str) -> None:
        self.configs = {c.scenario: c for c in configs}
        self.on_event = on_event
        self.client = redis.Redis.from_url(url, decode_responses=True,
                                           socket_connect_timeout=2, socket_timeout=10)
        self.instance = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.runners: dict[str, FieldRunner] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(EVENTS_CHANNEL)
        self._threads = [
            threading.Thread(target=self._listen, args=(pubsub,), daemon=True,
                             name="centre-events"),
            threading.Thread(target=self._hold_leases, daemon=True, name="centre-leases"),
        ]
        for thread in self._threads:
            thread.start()

    def _publish(self, message: dict[str, Any]) -> None:
        if message.get("type") == "ready":
            self.client.hset("nhip:centre:fields", message["scenario"], json.dumps(message))
        self.client.publish(EVENTS_CHANNEL, json.dumps(message))

    def _listen(self, pubsub) -> None:
        while not self._stop.is_set():
            try:
                message = pubsub.get_message(timeout=0.5)
            except redis.RedisError as exc:
                log.error("lost the Redis events channel (%s); retrying in 1 s", exc)
                self._stop.wait(1.0)
                continue
            if message and message.get("type") == "message":
                try:
                    self.on_event(json.loads(message["data"]))
                except Exception:
                    log.exception("could not handle a field event from Redis")

    def _hold_leases(self) -> None:
        while not self._stop.is_set():
            for scenario, config in self.configs.items():
                key = f"nhip:centre:field-lease:{scenario}"
                try:
                    if scenario in self.runners:
                        # Renew only our own lease; losing it means another took over.
                        if self.client.get(key) == self.instance:
                            self.client.pexpire(key, int(LEASE_S * 1000))
                    elif self.client.set(key, self.instance, nx=True,
                                         px=int(LEASE_S * 1000)):
                        log.info("this instance now runs field %s", scenario)
                        runner = FieldRunner(config, self._publish).start()
                        self.runners[scenario] = runner
                        threading.Thread(target=self._forward, args=(scenario, runner),
                                         daemon=True).start()
                except redis.RedisError as exc:
                    log.error("Redis unavailable for the field lease of %s: %s", scenario,
                              exc)
            self._stop.wait(LEASE_S / 3)

    def _forward(self, scenario: str, runner: FieldRunner) -> None:
        key = f"nhip:centre:commands:{scenario}"
        while not self._stop.is_set():
            try:
                item = self.client.blpop([key], timeout=1)
            except redis.RedisError as exc:
                log.error("cannot read plan commands for %s from Redis: %s", scenario, exc)
                self._stop.wait(1.0)
                continue
            if item:
                runner.send(json.loads(item[1]))

    def send_command(self, scenario: str, command: dict[str, Any]) -> None:
        self.client.rpush(f"nhip:centre:commands:{scenario}", json.dumps(command))

    def field_info(self, scenario: str) -> dict[str, Any]:
        raw = self.client.hget("nhip:centre:fields", scenario)
        return json.loads(raw) if raw else {}

    def stop(self) -> None:
        self._stop.set()
        for scenario, runner in self.runners.items():
            runner.stop()
            key = f"nhip:centre:field-lease:{scenario}"
            try:
                if self.client.get(key) == self.instance:
                    self.client.delete(key)
            except redis.RedisError:
                pass  # the lease runs out by itself
        for thread in self._threads:
            thread.join(timeout=2)
        self.client.close()
