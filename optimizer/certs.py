"""``nhip certs make``: a test certificate authority and one certificate per controller."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("certs", help="make TLS certificates for optimizer links")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    make = actions.add_parser(
        "make", help="write a test authority, the optimizer's certificate and one "
                     "certificate per controller and operator")
    make.add_argument("--out", type=Path, required=True, help="folder to write into")
    make.add_argument("--controllers", required=True,
                      help="comma-separated junction ids, e.g. TP,J2")
    make.add_argument("--operators", default="operator",
                      help="comma-separated operator names (default: operator)")
    make.add_argument("--days", type=int, default=30, help="validity in days (default 30)")
    make.set_defaults(handler=_make)


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _make(args: argparse.Namespace) -> int:
    from optimizer.tls import make_test_pki

    controllers = _names(args.controllers)
    if not controllers:
        raise SystemExit("--controllers: give at least one junction id")
    files = make_test_pki(args.out, controllers, _names(args.operators), args.days)
    for name, path in sorted(files.items()):
        print(f"{name:>24}  {path}")
    print(f"keys are private (mode 600); keep {args.out / 'ca.key'} offline outside tests")
    return 0
