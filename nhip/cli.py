"""The ``nhip`` command: one subcommand per part of the service.

Each part contributes its subcommands through an ``add_commands(subparsers)`` function
in the module listed below. Those modules keep heavy imports (SUMO, OR-Tools, OpenCV)
inside their handlers, so that ``nhip --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    "nhip.demo",
    "nhip.validate",
    "optimizer.cli",
    "vision.cli",
    "incidents.cli",
    "centre.cli",
    "optimizer.certs",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nhip", description="Nhịp: adaptive traffic-signal control, validated in SUMO."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
