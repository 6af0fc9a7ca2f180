"""``nhip incidents ...`` subcommands: run the dispatcher, replay dead letters, verify.

Also runnable on its own as ``python -m incidents.cli ...`` with the same arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("incidents", help="incident and violation delivery")
    commands = parser.add_subparsers(dest="incidents_command", metavar="ACTION",
                                     required=True)

    dispatch = commands.add_parser("dispatch", help="deliver bus events to the receivers")
    dispatch.add_argument("--config", type=Path, required=True, help="dispatch YAML file")
    dispatch.add_argument("--consumer", help="consumer name, overriding the file's; give "
                          "each dispatcher process its own to share the load")
    dispatch.set_defaults(handler=_dispatch)

    replay = commands.add_parser("replay-dead-letters",
                                 help="publish dead-lettered messages again")
    replay.add_argument("--config", type=Path, required=True)
    replay.add_argument("--receiver", help="only the messages that failed for this one; "
                        "each replayed message goes only to the receiver it failed for")
    replay.set_defaults(handler=_replay)

    verify = commands.add_parser("verify-evidence",
                                 help="check the hash chains of an evidence store")
    verify.add_argument("--dir", type=Path, required=True, help="evidence store folder")
    verify.set_defaults(handler=_verify)


def _load(path: Path):
    """The dispatch configuration, or a one-line error naming the file and the field."""
    import yaml

    from incidents.config import load_config

    try:
        return load_config(path)
    except OSError as error:
        raise SystemExit(f"--config: cannot read {path} ({error.strerror or error})") \
            from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid YAML"
        raise SystemExit(f"{path}: YAML syntax error{where}: {problem}") from None
    except ValueError as error:
        raise SystemExit(f"{path}: {error}") from None


def _dispatch(args: argparse.Namespace) -> int:
    import asyncio
    import dataclasses
    import signal

    from incidents.bus import open_bus
    from incidents.dispatcher import Dispatcher

    config = _load(args.config)
    if args.consumer:
        config = dataclasses.replace(config, consumer=args.consumer)
    bus = open_bus(config.redis_url)
    dispatcher = Dispatcher(config, bus)
    # httpx logs every request at INFO; at hundreds per second that buries the
    # dispatcher's own warnings, which already name each failed delivery.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    log = logging.getLogger("incidents.cli")
    log.info("dispatching to %s from %s as consumer %s", ", ".join(config.receivers),
             config.redis_url or "the in-process bus", config.consumer)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, dispatcher.stop)
        await dispatcher.run()

    asyncio.run(run())
    log.info("dispatcher stopped; totals %s", dispatcher.counts)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from incidents.bus import open_bus
    from incidents.dispatcher import replay_dead_letters

    config = _load(args.config)
    if args.receiver and args.receiver not in config.receivers:
        raise SystemExit(f"--receiver {args.receiver!r} is not one of the configured "
                         f"receivers ({', '.join(config.receivers)})")
    count = replay_dead_letters(open_bus(config.redis_url), args.receiver,
                                receivers=set(config.receivers))
    print(f"replayed {count} dead-lettered messages (removed from the dead-letter stream; "
          "any that fail again come back as new dead letters)")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from incidents.evidence import EvidenceStore

    try:
        results = EvidenceStore.verify_existing(args.dir)
    except OSError as error:
        raise SystemExit(f"--dir: {error}") from None
    for name, result in results.items():
        state = ("intact, last hash " + result.last_hash if result.ok else
                 f"BROKEN at line {result.first_bad_line}: {result.problem}")
        print(f"{name}: {result.records} records, {state}")
    return 0 if all(r.ok for r in results.values()) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="incidents")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["incidents", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
