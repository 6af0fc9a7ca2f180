"""``nhip optimizer serve``: runs the gRPC optimizer on its own."""

from __future__ import annotations

import argparse
from pathlib import Path


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {text}")
    return value


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; other than loopback only with --tls-dir")
    parser.add_argument("--port", type=port_number, default=50051,
                        help="port (0 picks a free one)")
    parser.add_argument("--tls-dir", type=Path,
                        help="folder made by 'nhip certs make': TLS with client certificates, "
                             "each controller limited to its own junction")
    parser.add_argument("--plaintext", action="store_true",
                        help="serve without TLS (loopback addresses only)")
    parser.add_argument("--ready-line", action="store_true",
                        help="print 'listening on HOST:PORT' once serving")
    parser.add_argument("--redis-url",
                        help="keep junction state in this Redis (redis://HOST:PORT/DB), so "
                             "that several optimizers can serve the same junctions; without "
                             "it the state lives in this process")
    # The default lives in optimizer.state_store, which this module does not import:
    # it pulls in Redis, and 'nhip --help' builds this parser.
    parser.add_argument("--redis-prefix",
                        help="prefix of the Redis keys (default 'nhip:optimizer:')")


def check_link(args: argparse.Namespace) -> None:
    """Plain text only when asked for, and then only on loopback (checked at bind)."""
    if args.tls_dir is None and not args.plaintext:
        raise SystemExit("give --tls-dir DIR (TLS with client certificates; see "
                         "'nhip certs make') or --plaintext (loopback addresses only)")
    if args.tls_dir is not None and args.plaintext:
        raise SystemExit("--plaintext and --tls-dir exclude each other")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("optimizer", help="run the signal optimizer gRPC server")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve plans over gRPC")
    add_serve_arguments(serve)
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from optimizer.server import main

    check_link(args)
    try:
        main(args.host, args.port, args.ready_line, args.tls_dir, args.redis_url,
             args.redis_prefix)
    except (ValueError, OSError) as error:
        raise SystemExit(f"nhip optimizer serve: {error}") from None
    return 0
