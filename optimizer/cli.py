"""``nhip optimizer serve``: runs the gRPC optimizer on its own."""

from __future__ import annotations

import argparse


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("optimizer", help="run the signal optimizer gRPC server")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    serve = actions.add_parser("serve", help="serve plans over gRPC")
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    serve.add_argument("--port", type=int, default=50051, help="port (0 picks a free one)")
    serve.add_argument("--ready-line", action="store_true",
                       help="print 'listening on HOST:PORT' once serving")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from optimizer.server import main

    main(args.host, args.port, args.ready_line)
    return 0
