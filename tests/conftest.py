"""Shared fixtures: a real Redis for the tests that need one.

The tests use the database named by ``NHIP_TEST_REDIS_URL`` when it is set and answers.
Otherwise, when the Redis on 127.0.0.1:6379 answers, they claim one of its numbered
databases for the session: an empty one, or one an earlier test session marked as its
own, never a database holding anyone else's keys, nor one another test session running
at the same time holds. With no Redis answering (or no database free) they start a
private ``redis-server`` on a free loopback port with the append-only file on, and stop
it at the end of the session. Only a claimed or named database is ever flushed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import redis

SHARED_URL = "redis://127.0.0.1:6379"
# Marks a database as the tests' own (kept between sessions) and as held by a running
# session (expires, so a crashed session does not hold it for ever).
OWNED_KEY, HELD_KEY = "nhip-tests:owned", "nhip-tests:held"
HOLD_S = 3 * 3600


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A redis-server process owned by the test session."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no Redis answers and redis-server is not installed")
        self.port = _free_port()
        self.workdir = workdir
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(workdir),
             "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while not _answers(self.url):
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def _claim_database(base_url: str) -> tuple[redis.Redis, str] | None:
    """A numbered database of a shared Redis that this session may flush, held for it."""
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(base_url, db=db)
        if not client.set(HELD_KEY, os.getpid(), nx=True, ex=HOLD_S):
            continue  # another test session holds it
        if client.dbsize() == 1 or client.exists(OWNED_KEY):
            client.set(OWNED_KEY, 1)
            return client, f"{base_url}/{db}"
        client.delete(HELD_KEY)  # someone else's keys: leave them alone
    return None


def _flush(client: redis.Redis) -> None:
    """Empties a test database, keeping the marks that say whose it is."""
    held = client.get(HELD_KEY)
    client.flushdb()
    client.set(OWNED_KEY, 1)
    if held is not None:
        client.set(HELD_KEY, held, ex=HOLD_S)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a Redis database reserved for tests; it is flushed before the session."""
    named = os.environ.get("NHIP_TEST_REDIS_URL")
    if named and _answers(named):
        _flush(redis.Redis.from_url(named))
        yield named
        return
    claimed = _claim_database(SHARED_URL) if not named and _answers(SHARED_URL) else None
    if claimed is not None:
        client, url = claimed
        _flush(client)
        try:
            yield url
        finally:
            client.delete(HELD_KEY)
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def redis_client(redis_url: str) -> redis.Redis:
    """A client on the test database, flushed before each test."""
    client = redis.Redis.from_url(redis_url)
    _flush(client)
    return client


@pytest.fixture(scope="session")
def optimizer(tmp_path_factory: pytest.TempPathFactory):
    """The optimizer running as its own process on a free loopback port."""
    from nhip.optimizer_process import OptimizerProcess

    log_file = tmp_path_factory.mktemp("optimizer") / "optimizer.log"
    with OptimizerProcess(log_file=log_file) as process:
        yield process
