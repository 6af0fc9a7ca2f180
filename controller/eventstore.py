"""Keeps a controller's event log on disk: one CSV file per junction and UTC day.

Files are ``DIR/JUNCTION/YYYY-MM-DD.csv`` with the columns ATSPM tools read
(timestamp to the millisecond, event code, parameter). A new file starts at UTC
midnight; lines are flushed as they are written so that a crash loses at most the line
being written. Retention (how many days to keep) is left to the operator's archive.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

HEADER = ("timestamp_utc", "event_code", "parameter")


class DailyCsvSink:
    def __init__(self, directory: Path, junction_id: str) -> None:
        if not junction_id or "/" in junction_id or junction_id.startswith("."):
            raise ValueError(f"junction_id: {junction_id!r} cannot name a folder")
        self.folder = Path(directory) / junction_id
        self.folder.mkdir(parents=True, exist_ok=True)
        self._day: dt.date | None = None
        self._handle = None
        self._writer = None

    def path_for(self, day: dt.date) -> Path:
        return self.folder / f"{day.isoformat()}.csv"

    def write(self, utc: dt.datetime, code: int, param: int) -> None:
        day = utc.astimezone(dt.timezone.utc).date()
        if day != self._day:
            self._open(day)
        self._writer.writerow([utc.isoformat(timespec="milliseconds"), code, param])
        self._handle.flush()

    def _open(self, day: dt.date) -> None:
        self.close()
        path = self.path_for(day)
        fresh = not path.exists() or path.stat().st_size == 0
        self._handle = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._handle)
        if fresh:
            self._writer.writerow(HEADER)
        self._day = day

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
        self._handle = self._writer = None
        self._day = None


def read_day(path: Path) -> list[tuple[dt.datetime, int, int]]:
    """Reads one day's file back: (UTC instant, code, parameter) rows."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    if not rows or tuple(rows[0]) != HEADER:
        raise ValueError(f"{path}: first line must be the header {','.join(HEADER)}")
    return [(dt.datetime.fromisoformat(t), int(c), int(p)) for t, c, p in rows[1:]]
