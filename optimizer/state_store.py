"""Where the optimizer keeps each junction's state: in this process, or in Redis.

The in-memory store is the default and suits a single optimizer. The Redis store lets
several replicas behind one load balancer serve the same junctions, each answering as any
other would. Under its key prefix (``nhip:optimizer:`` unless configured) it keeps:

    {prefix}junction:{id}   hash: registration (the RegisterJunctionRequest bytes),
                            version, previous (last timing, JSON), flows (smoothed, JSON)
    {prefix}priority:{id}   JSON {"corridor", "group"}: the emergency priority it holds
    {prefix}corridor:{id}   list of the junction ids the corridor holds, in route order
    {prefix}corridors       a marker that lives as long as the longest priority granted

Priorities and corridors carry a Redis TTL equal to the corridor's duration, so they lapse
on every replica at once and no replica's clock is consulted. Plans read a junction's
priority every time. Phase decisions, by the thousand a second, read it only while the
marker says some corridor may be active; otherwise a replica trusts that none is for
``QUIET_CHECK_S``, so a corridor granted through another replica reaches this one's
decisions within that time. Extending the marker needs Redis 7.0 or newer (PEXPIRE GT).

When Redis cannot be reached the store raises :class:`StoreUnavailable`; it never falls
back to memory, since replicas with private histories would hand one junction diverging
plans.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Protocol
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from optimizer.junction import Junction, junction_from_request
from optimizer.timing import Timing
from protos import optimizer_v1_pb2 as pb

log = logging.getLogger("nhip.optimizer")

DEFAULT_PREFIX = "nhip:optimizer:"
# A plan is due within 250 ms and a decision within 100 ms: a Redis that has not answered
# in half a second will not help this call, and the controller keeps its last safe plan.
DEFAULT_TIMEOUT_S = 0.5
# Parsed registrations kept per process; a province has a few thousand junctions.
PARSED_CACHE_SIZE = 8192
# Seconds a replica goes on trusting that no corridor is active anywhere. Decisions come
# every couple of seconds and an emergency vehicle is tens of seconds from a junction, so
# a quarter of a second late costs nothing, while a Redis read on every decision adds
# about a third to a replica's CPU.
QUIET_CHECK_S = 0.25

# Drops each named priority only while it still belongs to the corridor being released
# (another corridor may have taken the junction since), then the corridor itself.
# KEYS[1]: the corridor's list; KEYS[2..]: its junctions' priority keys. ARGV[1]: its id.
_RELEASE_LUA = """
for i = 2, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held and cjson.decode(held)['corridor'] == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
redis.call('DEL', KEYS[1])
return 1
"""


class StoreUnavailable(RuntimeError):
    """The state store did not answer; the call fails and may be tried again later."""


@dataclass
class Priority:
    corridor_id: str
    group_id: str
    # time.monotonic() at which it lapses; infinite where the store lapses it (Redis TTL).
    expires_at: float = math.inf


@dataclass
class JunctionState:
    junction: Junction
    version: int = 0
    previous: Timing | None = None
    smoothed_flow_pcu: dict[str, float] | None = None
    smoothed_flow_veh: dict[str, float] | None = None
    priority: Priority | None = None
    # Corridors holding this junction (the memory store's index; Redis keeps corridor keys).
    corridors: set[str] = field(default_factory=set)


class StateStore(Protocol):
    """What the service needs of a store. A state from ``load`` is the service's to change;
    ``save_plan`` writes back what a plan moved on and returns the plan's version."""

    description: str  # where the state lives, for the start-up log

    async def ping(self) -> None:
        ...

    async def register(self, request: pb.RegisterJunctionRequest, junction: Junction) -> None:
        ...

    async def load(self, junction_id: str) -> JunctionState | None:
        ...

    async def save_plan(self, state: JunctionState) -> int:
        ...

    async def priority(self, junction_id: str) -> Priority | None:
        ...

    async def grant(self, corridor_id: str, holds: list[tuple[str, str]],
                    duration_s: float) -> None:
        ...

    async def release(self, corridor_id: str) -> list[str]:
        ...

    async def close(self) -> None:
        ...


class MemoryStore:
    """State in this process, in the dict it is given (the service's ``junctions``)."""

    description = "in this process only (give a Redis URL to share it between replicas)"

    def __init__(self, junctions: dict[str, JunctionState] | None = None) -> None:
        self.junctions = junctions if junctions is not None else {}

    async def register(self, request: pb.RegisterJunctionRequest, junction: Junction) -> None:
        # A new registration starts a new plan history; the version counter and an
        # emergency corridor in force (when the new layout still has its group) carry on.
        old = self.junctions.get(junction.id)
        state = JunctionState(junction)
        if old is not None:
            state.version = old.version
            state.corridors = set(old.corridors)
            if old.priority is not None and old.priority.group_id in junction.serving:
                state.priority = old.priority
        self.junctions[junction.id] = state

    async def load(self, junction_id: str) -> JunctionState | None:
        return self.junctions.get(junction_id)

    async def save_plan(self, state: JunctionState) -> int:
        return state.version  # the state loaded is the one kept: nothing to write

    async def priority(self, junction_id: str) -> Priority | None:
        state = self.junctions.get(junction_id)
        return state.priority if state is not None else None

    async def grant(self, corridor_id: str, holds: list[tuple[str, str]],
                    duration_s: float) -> None:
        expires = time.monotonic() + duration_s
        for junction_id, group_id in holds:
            state = self.junctions[junction_id]
            state.priority = Priority(corridor_id, group_id, expires)
            state.corridors.add(corridor_id)

    async def release(self, corridor_id: str) -> list[str]:
        released = []
        for jid, state in self.junctions.items():
            if corridor_id in state.corridors:
                state.corridors.discard(corridor_id)
                if state.priority and state.priority.corridor_id == corridor_id:
                    state.priority = None
                released.append(jid)
        return released

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


class RedisStore:
    """State in Redis, shared by every optimizer given the same URL and prefix."""

    def __init__(self, url: str, prefix: str = DEFAULT_PREFIX,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.where = redacted(url)
        self.prefix = prefix
        self.description = f"in Redis at {self.where} under {prefix!r}"
        # One quick retry replaces a pooled connection that Redis closed (after a restart);
        # more, with back-off, would only hold the call past the controller's deadline.
        self.client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 1))
        self._release_script = self.client.register_script(_RELEASE_LUA)
        self._parsed: OrderedDict[bytes, Junction] = OrderedDict()
        self._marker = f"{prefix}corridors"
        # time.monotonic() until which no corridor is taken to be active anywhere.
        self._quiet_until = -math.inf
        self._failing_since: float | None = None
        self._failed_calls = 0

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}:{name}"

    async def register(self, request: pb.RegisterJunctionRequest, junction: Junction) -> None:
        body = request.SerializeToString()
        self._remember(body, junction)
        key = self._key("junction", junction.id)
        # A new registration starts a new plan history, as it does in memory; the version
        # counter and an emergency corridor in force (when its group remains) carry on.
        priority_key = self._key("priority", junction.id)
        with self._reaching():
            held = await self.client.get(priority_key)
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hdel(key, "previous", "flows")
                if held is not None and _priority(held).group_id not in junction.serving:
                    pipe.delete(priority_key)
                pipe.hset(key, "registration", body)
                await pipe.execute()

    async def load(self, junction_id: str) -> JunctionState | None:
        with self._reaching():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(self._key("junction", junction_id))
                pipe.get(self._key("priority", junction_id))
                fields, held = await pipe.execute()
        body = fields.get(b"registration")
        if body is None:
            return None

        junction = self._junction(body)
        state = JunctionState(junction, version=int(fields.get(b"version", 0)))
        previous = fields.get(b"previous")
        flows = fields.get(b"flows")
        if previous is not None and flows is not None:
            _restore_plan_state(state, json.loads(previous), json.loads(flows))
        if held is not None:
            state.priority = _priority(held)
        return state

    async def save_plan(self, state: JunctionState) -> int:
        key = self._key("junction", state.junction.id)
        previous = state.previous
        plan_state = {
            "previous": json.dumps({"cycle_s": previous.cycle_s,
                                    "greens_s": list(previous.greens_s)}),
            "flows": json.dumps({"pcu": state.smoothed_flow_pcu,
                                 "veh": state.smoothed_flow_veh}),
        }
        # The counter is Redis's: two replicas planning for one junction at once still
        # hand out distinct versions.
        with self._reaching():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hincrby(key, "version", 1)
                pipe.hset(key, mapping=plan_state)
                version, _ = await pipe.execute()
        return int(version)

    async def priority(self, junction_id: str) -> Priority | None:
        now = time.monotonic()
        if now < self._quiet_until:
            return None
        with self._reaching():
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.exists(self._marker)
                pipe.get(self._key("priority", junction_id))
                active, held = await pipe.execute()
        if not active:
            self._quiet_until = now + QUIET_CHECK_S
        return _priority(held) if held is not None else None

    async def grant(self, corridor_id: str, holds: list[tuple[str, str]],
                    duration_s: float) -> None:
        ttl_ms = max(1, round(duration_s * 1000))
        corridor = self._key("corridor", corridor_id)
        with self._reaching():
            async with self.client.pipeline(transaction=True) as pipe:
                for junction_id, group_id in holds:
                    held = json.dumps({"corridor": corridor_id, "group": group_id})
                    pipe.set(self._key("priority", junction_id), held, px=ttl_ms)
                pipe.delete(corridor)
                pipe.rpush(corridor, *[junction_id for junction_id, _ in holds])
                pipe.pexpire(corridor, ttl_ms)
                # The marker outlives every priority: made if missing, else extended.
                pipe.set(self._marker, 1, px=ttl_ms, nx=True)
                pipe.pexpire(self._marker, ttl_ms, gt=True)
                await pipe.execute()
        # This replica's own decisions see it at once (bar one already waiting on Redis).
        self._quiet_until = -math.inf

    async def release(self, corridor_id: str) -> list[str]:
        corridor = self._key("corridor", corridor_id)
        with self._reaching():
            members = await self.client.lrange(corridor, 0, -1)
            if not members:
                return []
            ids = [m.decode() for m in members]
            await self._release_script(keys=[corridor, *(self._key("priority", j) for j in ids)],
                                       args=[corridor_id])
        return ids

    async def ping(self) -> None:
        with self._reaching():
            await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    def _junction(self, body: bytes) -> Junction:
        """The parsed registration, from this process's cache when the bytes were seen."""
        digest = hashlib.blake2b(body, digest_size=16).digest()
        junction = self._parsed.get(digest)
        if junction is not None:
            self._parsed.move_to_end(digest)
            return junction
        # Checked when it was registered; parsing again cannot fail on the same bytes.
        junction = junction_from_request(pb.RegisterJunctionRequest.FromString(body))
        self._remember(body, junction)
        return junction

    def _remember(self, body: bytes, junction: Junction) -> None:
        self._parsed[hashlib.blake2b(body, digest_size=16).digest()] = junction
        if len(self._parsed) > PARSED_CACHE_SIZE:
            self._parsed.popitem(last=False)

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        """Turns Redis failures into StoreUnavailable and logs each outage once, when it
        starts and when it ends, rather than once per refused call."""
        try:
            yield
        except RedisError as error:
            self._failed_calls += 1
            if self._failing_since is None:
                self._failing_since = time.monotonic()
                log.error("state store: Redis at %s failed (%s: %s); optimizer calls fail "
                          "with UNAVAILABLE and controllers keep their last safe plans until "
                          "it answers", self.where, type(error).__name__, error)
            message = (f"optimizer state store unavailable: Redis at {self.where} failed "
                       f"({type(error).__name__}: {error})")
            raise StoreUnavailable(message) from error
        if self._failing_since is not None:
            log.warning("state store: Redis at %s answers again after %.1f s; %d calls "
                        "were refused meanwhile", self.where,
                        time.monotonic() - self._failing_since, self._failed_calls)
            self._failing_since, self._failed_calls = None, 0


def open_store(redis_url: str | None,
               prefix: str | None = None) -> MemoryStore | RedisStore:
    """The Redis store for a URL (keys under ``prefix``, by default ``DEFAULT_PREFIX``),
    or the in-memory store without one."""
    if not redis_url:
        return MemoryStore()
    return RedisStore(redis_url, prefix if prefix is not None else DEFAULT_PREFIX)


def redacted(url: str) -> str:
    """The URL with any password masked, fit for logs and error messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _priority(held: bytes) -> Priority:
    data = json.loads(held)
    return Priority(data["corridor"], data["group"])


def _restore_plan_state(state: JunctionState, previous: dict, flows: dict) -> None:
    """Puts the saved plan state back, unless it was made for a different layout (a plan
    racing a re-registration could have saved it): the policies index it by phase and
    group."""
    junction = state.junction
    groups = {g.id for g in junction.groups}
    if (len(previous["greens_s"]) != len(junction.phases)
            or set(flows["pcu"]) != groups or set(flows["veh"]) != groups):
        log.warning("junction %s: saved plan state does not fit its registration; "
                    "starting its history again", junction.id)
        return
    state.previous = Timing(previous["cycle_s"], tuple(previous["greens_s"]))
    state.smoothed_flow_pcu = flows["pcu"]
    state.smoothed_flow_veh = flows["veh"]
