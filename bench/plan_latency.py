"""Plan latency over gRPC on loopback: p50 and p99 from concurrent clients.

Starts the optimizer as its own process, registers one junction per client (the
Tân Phong layout: 12 signal groups, 3 phases), and has each client process send
detector reports as fast as answers come back, with the adaptive policy. Latency is
the client-side round trip of each ComputePlan call.

    python bench/plan_latency.py --clients 2 --requests 10000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _client(address: str, client: int, count: int, layout_request: bytes, out) -> None:
    import grpc
    import numpy as np

    from protos import optimizer_v1_pb2 as pb
    from protos import optimizer_v1_pb2_grpc as pb_grpc

    registration = pb.RegisterJunctionRequest.FromString(layout_request)
    registration.junction_id = f"bench-{client}"
    rng = np.random.default_rng(client)
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.SignalOptimizerStub(channel)
        stub.RegisterJunction(registration, timeout=5)
        groups = [g.id for g in registration.signal_groups]
        requests = []
        for _ in range(64):  # varied reports, so the solver does real work each time
            movements = [pb.MovementReport(
                signal_group_id=gid,
                counts=pb.ClassCounts(motorcycle=float(rng.poisson(30)),
                                      car=float(rng.poisson(6)), bus=float(rng.poisson(0.5)),
                                      truck=float(rng.poisson(1))),
                queue_m=float(rng.uniform(0, 60)), occupancy=float(rng.uniform(0, 0.5)),
                detection_length_m=80.0) for gid in groups]
            requests.append(pb.PlanRequest(junction_id=registration.junction_id,
                                           interval_s=90.0, movements=movements))
        for request in requests[:50]:  # warm-up
            stub.ComputePlan(request, timeout=5)
        latencies = []
        for i in range(count):
            started = time.perf_counter()
            stub.ComputePlan(requests[i % len(requests)], timeout=5)
            latencies.append((time.perf_counter() - started) * 1000)
    out.put(latencies)


def tan_phong_registration() -> bytes:
    from controller.plans import registration
    from nhip.simulation import read_layouts
    from protos import optimizer_v1_pb2 as pb
    from sumo_networks import scenario

    sc = scenario("tan_phong")
    layout = read_layouts(sc.net_file, sc.tls_ids)[0]
    return registration(layout, pb.ADAPTIVE).SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2, help="concurrent client processes")
    parser.add_argument("--requests", type=int, default=10000, help="requests in all")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "plan_latency.json")
    args = parser.parse_args()

    from nhip.optimizer_process import OptimizerProcess

    layout_request = tan_phong_registration()
    per_client = -(-args.requests // args.clients)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with OptimizerProcess() as optimizer:
        started = time.perf_counter()
        workers = [context.Process(target=_client, args=(optimizer.address, c, per_client,
                                                         layout_request, queue))
                   for c in range(args.clients)]
        for worker in workers:
            worker.start()
        latencies = [x for _ in workers for x in queue.get()]
        for worker in workers:
            worker.join()
        wall = time.perf_counter() - started

    latencies.sort()
    n = len(latencies)
    result = {
        "requests": n,
        "clients": args.clients,
        "policy": "adaptive",
        "p50_ms": latencies[n // 2],
        "p90_ms": latencies[int(n * 0.90)],
        "p99_ms": latencies[int(n * 0.99)],
        "max_ms": latencies[-1],
        "mean_ms": statistics.fmean(latencies),
        "throughput_per_s": n / wall,
        "target": "p99 under 5 ms on loopback",
        "command": f"python bench/plan_latency.py --clients {args.clients} "
                   f"--requests {args.requests}",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{n} ComputePlan calls from {args.clients} concurrent clients: "
          f"p50 {result['p50_ms']:.2f} ms, p90 {result['p90_ms']:.2f} ms, "
          f"p99 {result['p99_ms']:.2f} ms, max {result['max_ms']:.1f} ms, "
          f"{result['throughput_per_s']:.0f} plans/s")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
