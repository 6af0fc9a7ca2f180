"""A lean webhook receiver for the incident bench: asyncio HTTP/1.1 on 127.0.0.1.

It checks each request's HMAC signature, accepts each idempotency key once (repeats
get 200 but are not counted) and, on SIGTERM, writes ``key receipt_unix`` lines for
the accepted messages to ``--out``. Run: python bench/incidents_receiver.py --port P
--secret-env VAR --out FILE [--cert CRT --key KEY].
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from incidents.signing import verify

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
UNAUTHORISED = b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"


class Receiver:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.accepted: dict[str, float] = {}
        self.repeats = 0
        self.bad_signatures = 0
        self.connections: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                writer.write(self.handle(body, headers))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self.connections.discard(writer)
            writer.close()

    def handle(self, body: bytes, headers: dict[str, str]) -> bytes:
        received = time.time()
        try:
            verify(self.secret, body, headers)
        except ValueError:
            self.bad_signatures += 1
            return UNAUTHORISED
        key = headers.get("idempotency-key", "")
        if key in self.accepted:
            self.repeats += 1
        else:
            self.accepted[key] = received
        return OK


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret-env", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    receiver = Receiver(os.environ[args.secret_env].encode())
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", args.port, ssl=context,
                                        backlog=1024)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
        # Close the kept-alive connections so their handlers end normally.
        for writer in list(receiver.connections):
            writer.close()
        await asyncio.sleep(0.2)
    lines = [f"{key} {at:.6f}" for key, at in receiver.accepted.items()]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = f"# repeats {receiver.repeats} bad_signatures {receiver.bad_signatures}\n"
    with args.out.open("a", encoding="utf-8") as handle:
        handle.write(summary)


if __name__ == "__main__":
    asyncio.run(main())
