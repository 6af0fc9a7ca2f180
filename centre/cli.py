"""``nhip serve``: the optimizer, the centre's API and dashboard, and the live field.

With no users file, one user per role is created with a fresh token, printed once and
kept (as hashes) in the work folder. With a Redis URL, several instances share plans,
audit and live state, and each scenario's field runs in exactly one of them. Without
one, plans, bounds, schedules, their history, acknowledgements and the audit log live
in this process only and are gone when it stops.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the traffic centre: API, dashboard, optimizer and live field",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default "
                        "127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    parser.add_argument("--redis-url", default=os.environ.get("NHIP_REDIS_URL"),
                        help="share state through this Redis (default: $NHIP_REDIS_URL; "
                        "none keeps everything in this process)")
    parser.add_argument("--users", type=Path,
                        help='users file {"users": [{"name", "role", "token_sha256"}]}')
    parser.add_argument("--scenarios", help="comma-separated scenarios for the live field "
                        "(default: all)")
    parser.add_argument("--speed", type=float, default=None,
                        help="simulated seconds per second in the field (default 1)")
    parser.add_argument("--no-field", action="store_true",
                        help="do not simulate; wait for field controllers to report")
    parser.add_argument("--workdir", type=Path, help="folder for field and preview files")
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from centre.api import create_app
    from centre.auth import DEFAULT_PEOPLE, UserDirectory
    from centre.observability import use_json_logs
    from centre.service import CentreSettings, build_centre
    from nhip.optimizer_process import OptimizerProcess

    use_json_logs(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    log = logging.getLogger("nhip.centre")
    scenarios = tuple(s.strip() for s in args.scenarios.split(",")) if args.scenarios else None
    workdir = args.workdir
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)

    if args.users:
        users = UserDirectory.from_file(args.users)
        tokens: dict[str, str] = {}
    else:
        users, tokens = UserDirectory.with_new_tokens(DEFAULT_PEOPLE)

    with OptimizerProcess() as optimizer:
        settings = CentreSettings.from_env(
            host=args.host, port=args.port, redis_url=args.redis_url, scenarios=scenarios,
            speed=args.speed, optimizer_address=optimizer.address,
            run_field=not args.no_field, workdir=workdir)
        if not settings.redis_url:
            log.warning("no --redis-url: plans, bounds, schedules, plan history, incident "
                        "acknowledgements and the audit log are kept in this process only "
                        "and are lost when it stops (the audit log then starts empty, and "
                        "verifies); start with --redis-url redis://HOST:6379/0 (or set "
                        "NHIP_REDIS_URL) to keep them", extra={"store": "memory"})
        if tokens:
            users.write(settings.workdir / "users.json", tokens)
            log.warning("no --users: these tokens are new and replace any from an earlier "
                        "start; to keep them, start next time with --users %s",
                        settings.workdir / "users.json")
            print("Tokens for this run (shown once; hashes in "
                  f"{settings.workdir / 'users.json'}):", flush=True)
            for name, token in tokens.items():
                print(f"  {name:<11} {token}", flush=True)
        centre = build_centre(settings, users)
        log.info("centre on http://%s:%d with junctions %s; optimizer at %s", args.host,
                 args.port, ", ".join(sorted(centre.junctions)), optimizer.address)
        uvicorn.run(create_app(centre), host=args.host, port=args.port, log_config=None,
                    access_log=False)
    return 0
