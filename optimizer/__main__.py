"""``python -m optimizer``: the gRPC optimizer on its own (same as ``nhip optimizer serve``)."""

import argparse
import logging

from optimizer.server import main

parser = argparse.ArgumentParser(prog="python -m optimizer", description=__doc__)
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=50051)
parser.add_argument("--ready-line", action="store_true")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
main(args.host, args.port, args.ready_line)
