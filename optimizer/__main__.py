"""``python -m optimizer``: the gRPC optimizer on its own (same as ``nhip optimizer serve``)."""

import argparse
import logging
import os
import sys
import threading

from optimizer.cli import add_serve_arguments, check_link
from optimizer.server import main

parser = argparse.ArgumentParser(prog="python -m optimizer", description=__doc__)
add_serve_arguments(parser)
parser.add_argument("--exit-with-parent", action="store_true",
                    help="exit when standard input closes (the parent process ended)")
args = parser.parse_args()
check_link(args)
if args.exit_with_parent:
    # A parent that dies without stopping us (killed, crashed) closes our stdin.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
try:
    main(args.host, args.port, args.ready_line, args.tls_dir, args.redis_url, args.redis_prefix)
except (ValueError, OSError) as error:
    sys.exit(f"python -m optimizer: {error}")
