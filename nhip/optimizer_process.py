"""Runs the optimizer as a child process on a free loopback port, for demos and tests."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

READY_TIMEOUT_S = 30.0


class OptimizerProcess:
    """``with OptimizerProcess() as opt: opt.address`` -> '127.0.0.1:PORT'."""

    def __init__(self, port: int = 0, log_file: Path | None = None) -> None:
        self.port = port
        self.log_file = log_file
        self.process: subprocess.Popen | None = None
        self.address = ""

    def start(self) -> "OptimizerProcess":
        stderr = self.log_file.open("ab") if self.log_file else subprocess.DEVNULL
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
        self.process = subprocess.Popen(
            # -P: never let a folder named optimizer in the working directory shadow ours.
            [sys.executable, "-P", "-m", "optimizer", "--port", str(self.port), "--plaintext",
             "--ready-line", "--exit-with-parent"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )
        line = self._read_ready_line()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"optimizer did not start (said {line!r}); see its log")
        self.address = line.split()[-1]
        self.port = int(self.address.rsplit(":", 1)[1])
        return self

    def _read_ready_line(self) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.process.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(READY_TIMEOUT_S)
        return result[0].strip() if result else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """Ends the process abruptly, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "OptimizerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
