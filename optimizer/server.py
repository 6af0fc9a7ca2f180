"""Starts the optimizer's asyncio gRPC server with health checking and reflection."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from optimizer.service import SignalOptimizerService
from protos import optimizer_v1_pb2 as pb
from protos import optimizer_v1_pb2_grpc as pb_grpc

log = logging.getLogger("nhip.optimizer")

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SignalOptimizer"].full_name


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


async def start_server(
    host: str = "127.0.0.1", port: int = 0, service: SignalOptimizerService | None = None
) -> tuple[grpc.aio.Server, int]:
    """Starts serving and returns the server and the port it bound.

    Plain text is allowed on loopback only: a controller link that leaves the machine
    must be authenticated and encrypted.
    """
    if not is_loopback(host):
        raise ValueError(
            f"host {host!r}: plain-text gRPC is allowed only on a loopback address"
        )
    server = grpc.aio.server()
    pb_grpc.add_SignalOptimizerServicer_to_server(service or SignalOptimizerService(), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME),
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"could not bind {host}:{port}")
    await server.start()
    for name in (SERVICE_NAME, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("optimizer serving on %s:%d", host, bound)
    return server, bound


async def serve_forever(host: str, port: int, ready_line: bool = False) -> None:
    server, bound = await start_server(host, port)
    if ready_line:
        # Parents that start us with port 0 read the bound port from this line.
        print(f"listening on {host}:{bound}", flush=True)
    try:
        await server.wait_for_termination()
    finally:
        await server.stop(grace=1.0)


def main(host: str = "127.0.0.1", port: int = 50051, ready_line: bool = False) -> None:
    try:
        asyncio.run(serve_forever(host, port, ready_line))
    except KeyboardInterrupt:
        log.info("optimizer stopped")
