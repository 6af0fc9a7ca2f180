"""The served optimizer's memory under refused and accepted requests near the size limit.

Starts the optimizer as its own process and sends it, over gRPC on loopback, registrations
whose junction id is just under the 4 MiB message limit (each is refused: ids are at most
128 characters), then as many well-formed phase decisions padded to the same size. The
optimizer's resident memory is read from /proc after each batch and again after a pause.
A refused request must be freed like an accepted one: the figure to watch is the growth.

    python bench/optimizer_memory.py [--requests 200] [--out bench/results/optimizer_memory.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ID_BYTES = 4_190_000  # just under gRPC's default 4 MiB receive limit


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per kind")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench" / "results" / "optimizer_memory.json")
    args = parser.parse_args()

    import grpc

    from nhip.optimizer_process import OptimizerProcess
    from protos import optimizer_v1_pb2 as pb
    from protos import optimizer_v1_pb2_grpc as pb_grpc
    from tests.helpers import two_phase_request

    figures: dict[str, float | int | str] = {"requests_per_kind": args.requests,
                                             "request_bytes": ID_BYTES}
    options = [("grpc.max_send_message_length", 8 << 20)]
    with OptimizerProcess() as optimizer, \
            grpc.insecure_channel(optimizer.address, options=options) as channel:
        stub = pb_grpc.SignalOptimizerStub(channel)
        pid = optimizer.process.pid
        figures["rss_start_mb"] = round(_rss_mb(pid), 1)
        refused = two_phase_request("J" * ID_BYTES)
        for i in range(args.requests):
            try:
                stub.RegisterJunction(refused, timeout=10)
                raise SystemExit("a 4 MB junction id was accepted")
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise SystemExit(f"expected INVALID_ARGUMENT, got {error.code().name}")
            if (i + 1) % 50 == 0:
                print(f"refused {i + 1}/{args.requests}: {_rss_mb(pid):.0f} MB", flush=True)
        figures["rss_after_refused_mb"] = round(_rss_mb(pid), 1)

        decision = pb.PhaseDecisionRequest(
            junction_id="bench-memory",
            phases=[pb.PhaseTiming(id=str(k), signal_group_ids=[g], min_green_s=5,
                                   max_green_s=60, yellow_s=3, all_red_s=2)
                    for k, g in enumerate(("A", "B"))],
            groups=[pb.GroupObservation(signal_group_id=g, queue_pcu=4.0) for g in "AB"])
        # Padding the request with a field the server does not know keeps it well formed.
        padded = decision.SerializeToString() + _unknown_field(ID_BYTES)
        call = channel.unary_unary("/nhip.optimizer.v1.SignalOptimizer/DecidePhase",
                                   request_serializer=lambda raw: raw,
                                   response_deserializer=pb.PhaseDecision.FromString)
        for i in range(args.requests):
            call(padded, timeout=10)
            if (i + 1) % 50 == 0:
                print(f"accepted {i + 1}/{args.requests}: {_rss_mb(pid):.0f} MB", flush=True)
        figures["rss_after_accepted_mb"] = round(_rss_mb(pid), 1)
        time.sleep(5)
        figures["rss_after_pause_mb"] = round(_rss_mb(pid), 1)
    figures["growth_refused_mb"] = round(figures["rss_after_refused_mb"]
                                         - figures["rss_start_mb"], 1)
    figures["target"] = "refused requests freed: growth under 100 MB for 200 of 4 MB"
    figures["command"] = f"python bench/optimizer_memory.py --requests {args.requests}"
    print(json.dumps(figures, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")


def _unknown_field(size: int) -> bytes:
    """A length-delimited field numbered 1000, which no message of ours defines."""
    key = (1000 << 3) | 2
    payload = b"x" * size
    return _varint(key) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


if __name__ == "__main__":
    main()
