"""Starts the optimizer's asyncio gRPC server with health checking and reflection."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import logging
import signal
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from optimizer import tls
from optimizer.service import SignalOptimizerService
from optimizer.state_store import StoreUnavailable, open_store
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

log = logging.getLogger("nhip.optimizer")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SignalOptimizer"].full_name
# Seconds between checks that the state store answers (health follows it).
STORE_CHECK_S = 2.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def start_server(
    host: str = "127.0.0.1", port: int = 0, service: SignalOptimizerService | None = None,
    tls_dir: Path | None = None, health_servicer: health.aio.HealthServicer | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Starts serving and returns the server and the port it bound.

    With ``tls_dir`` (a folder made by ``nhip certs make``) the link is TLS with client
    certificates on any address, and each controller may act only on its own junction.
    Without it the link is plain text, allowed on loopback only: a controller link that
    leaves the machine must be authenticated and encrypted.
    """
    if tls_dir is None and not is_loopback(host):
        raise ValueError(
            f"host {host!r}: plain-text gRPC is allowed only on a loopback address; "
            "give a TLS folder (nhip certs make) to serve other addresses"
        )
    service = service or SignalOptimizerService()
    if tls_dir is not None:
        service.authorizer = tls.Authorizer()
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port}: must be between 0 and 65535")
    # Without this a second optimizer could bind the same port and the kernel would split
    # controllers between two servers with different registrations.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    pb_grpc.add_SignalOptimizerServicer_to_server(service, server)
    health_servicer = health_servicer or health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    address = f"{host}:{port}"
    bound = (server.add_secure_port(address, tls.server_credentials(Path(tls_dir)))
             if tls_dir is not None else server.add_insecure_port(address))
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    await server.start()
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("optimizer serving on %s:%d (%s)", host, bound,
             "TLS, client certificates required" if tls_dir else "plain text, loopback")
    return server, bound


async def serve_forever(host: str, port: int, ready_line: bool = False,
                        tls_dir: Path | None = None, redis_url: str | None = None,
                        redis_prefix: str | None = None) -> None:
    store = open_store(redis_url, redis_prefix)
    log.info("junction state %s", store.description)
    service = SignalOptimizerService(store=store)
    health_servicer = health.aio.HealthServicer()
    server, bound = await start_server(host, port, service=service, tls_dir=tls_dir,
                                       health_servicer=health_servicer)
    # Until Redis answers, calls that need it fail with UNAVAILABLE and health says so.
    await check_store(store, health_servicer)
    watch = asyncio.ensure_future(_watch_store(store, health_servicer))
    # Each plan allocates thousands of short-lived solver objects; with the default
    # thresholds the collector runs every few requests and its pauses set the p99.
    # Everything alive at start-up is frozen out of collection for the same reason.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    if ready_line:
        # Parents that start us with port 0 read the bound port from this line.
        print(f"listening on {host}:{bound}", flush=True)
    # SIGTERM (a service manager, a bench) stops as cleanly as Ctrl-C: calls in flight
    # finish and the tally below is written.
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, lambda: asyncio.ensure_future(server.stop(grace=1.0)))
    try:
        await server.wait_for_termination()
    finally:
        watch.cancel()
        await server.stop(grace=1.0)
        await store.close()
        calls = ", ".join(f"{name} {n}" for name, n in sorted(service.calls.items()))
        log.info("optimizer on %s:%d served %d calls (%s)", host, bound,
                 sum(service.calls.values()), calls or "none")


async def check_store(store, health_servicer) -> bool:
    """Tells health checks whether the state store answers: NOT_SERVING while it does not,
    so that a load balancer sends controllers to replicas that can plan. (Phase decisions
    need no store, but a replica that cannot plan is not one to route to.)"""
    try:
        await store.ping()
        serving = True
    except StoreUnavailable:
        serving = False  # the store logs the outage once, when it starts and ends
    status = (health_pb2.HealthCheckResponse.SERVING if serving
              else health_pb2.HealthCheckResponse.NOT_SERVING)
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, status)
    return serving


async def _watch_store(store, health_servicer) -> None:
    while True:
        await asyncio.sleep(STORE_CHECK_S)
        await check_store(store, health_servicer)


def main(host: str = "127.0.0.1", port: int = 50051, ready_line: bool = False,
         tls_dir: Path | None = None, redis_url: str | None = None,
         redis_prefix: str | None = None) -> None:
    try:
        asyncio.run(serve_forever(host, port, ready_line, tls_dir, redis_url, redis_prefix))
    except KeyboardInterrupt:
        log.info("optimizer stopped")
