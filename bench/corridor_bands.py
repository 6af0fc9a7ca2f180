"""Green-band planning latency: ten-signal arterials optimised by MAXBAND, p50 and p99.

Draws varied ten-signal corridors (links of 250-700 m, outbound and inbound splits of
35-65%, some inbound greens lagging, progression at 40-60 km/h, a 60-150 s cycle range,
directional volumes 1:3 to 3:1) and times each plan in process: validation, the
mixed-integer search under the default 150 ms limit, and the linear clean-up. Every plan
is also driven through its greens by the independent check. With ``--grpc`` it times the
same requests as round trips to an optimizer process on loopback instead.

    python bench/corridor_bands.py --corridors 50 --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protos import optimizer_v1_pb2 as pb  # noqa: E402

KMH = 1 / 3.6
SIGNALS = 10


def corridor_request(rng: random.Random, index: int) -> pb.CorridorBandsRequest:
    signals = []
    for i in range(SIGNALS):
        outbound = rng.uniform(0.35, 0.65)
        # Most junctions give both directions of the arterial one phase; some run a
        # leading turn on the outbound side, so the inbound green starts later.
        lagged = rng.random() < 0.3
        signals.append(pb.CorridorSignal(
            junction_id=f"C{index}-S{i}",
            outbound=pb.ArterialGreen(green_split=outbound),
            inbound=pb.ArterialGreen(green_split=outbound - 0.1 if lagged else outbound),
            inbound_lag_s=rng.uniform(6, 12) if lagged else 0.0,
            distance_to_next_m=rng.uniform(250, 700) if i < SIGNALS - 1 else 0.0,
            outbound_speed=pb.SpeedRange(min_mps=40 * KMH, max_mps=60 * KMH),
            inbound_speed=pb.SpeedRange(min_mps=40 * KMH, max_mps=60 * KMH),
        ))
    volume = rng.uniform(600, 1800)
    return pb.CorridorBandsRequest(
        corridor_id=f"bench-{index}", signals=signals, min_cycle_s=60, max_cycle_s=150,
        outbound_volume_veh_h=volume, inbound_volume_veh_h=volume * rng.uniform(1 / 3, 3))


def time_in_process(requests, repeats: int) -> tuple[list[float], Counter, int, list]:
    from optimizer.band_check import check_bands
    from optimizer.bandwidth import plan_bands
    from optimizer.corridor import corridor_from_request

    corridors = [corridor_from_request(r) for r in requests]
    for corridor in corridors[:5]:  # warm-up: imports and solver start-up
        plan_bands(corridor)
    latencies, statuses, failed, plans = [], Counter(), 0, []
    for _ in range(repeats):
        for corridor in corridors:
            started = time.perf_counter()
            plan = plan_bands(corridor)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[plan.status] += 1
            failed += bool(check_bands(corridor, plan))
            plans.append(plan)
    return latencies, statuses, failed, plans


def time_over_grpc(requests, repeats: int) -> tuple[list[float], Counter]:
    import grpc

    from nhip.optimizer_process import OptimizerProcess
    from protos import optimizer_v1_pb2_grpc as pb_grpc

    latencies, statuses = [], Counter()
    with OptimizerProcess() as optimizer, grpc.insecure_channel(optimizer.address) as channel:
        stub = pb_grpc.SignalOptimizerStub(channel)
        for request in requests[:5]:
            stub.PlanCorridorBands(request, timeout=5)
        for _ in range(repeats):
            for request in requests:
                started = time.perf_counter()
                bands = stub.PlanCorridorBands(request, timeout=5)
                latencies.append((time.perf_counter() - started) * 1000)
                statuses[bands.status] += 1
    return latencies, statuses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corridors", type=int, default=50, help="distinct corridors")
    parser.add_argument("--repeats", type=int, default=10, help="plans of each corridor")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--grpc", action="store_true", help="time round trips to a server")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "corridor_bands.json")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    requests = [corridor_request(rng, i) for i in range(args.corridors)]
    load = os.getloadavg()[0]
    result: dict = {}
    if args.grpc:
        latencies, statuses = time_over_grpc(requests, args.repeats)
    else:
        latencies, statuses, failed, plans = time_in_process(requests, args.repeats)
        result["check_failures"] = failed
        result["mean_outbound_band_share"] = statistics.fmean(
            p.outbound_band_share for p in plans)
        result["mean_inbound_band_share"] = statistics.fmean(
            p.inbound_band_share for p in plans)

    latencies.sort()
    n = len(latencies)
    result = {
        "plans": n,
        "signals": SIGNALS,
        "mode": "grpc round trip" if args.grpc else "in process",
        "p50_ms": latencies[n // 2],
        "p90_ms": latencies[int(n * 0.90)],
        "p99_ms": latencies[int(n * 0.99)],
        "max_ms": latencies[-1],
        "mean_ms": statistics.fmean(latencies),
        "statuses": dict(statuses),
        **result,
        "load_average_at_start": load,
        "cpus": os.cpu_count(),
        "target": "a 10-signal corridor optimised in under 200 ms",
        "command": f"python bench/corridor_bands.py --corridors {args.corridors} "
                   f"--repeats {args.repeats} --seed {args.seed}"
                   + (" --grpc" if args.grpc else ""),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{n} ten-signal corridor plans ({result['mode']}): p50 {result['p50_ms']:.1f} ms, "
          f"p90 {result['p90_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms, "
          f"max {result['max_ms']:.1f} ms; statuses {dict(statuses)}"
          + (f"; {result['check_failures']} failed the drive-through check"
             if "check_failures" in result else ""))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
