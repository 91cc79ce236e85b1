"""The audit log file with upstream's (lumberjack's) rotation: ``--audit-log-maxsize`` (MB),
``--audit-log-maxbackup`` (files kept), ``--audit-log-maxage`` (days kept).

When a write would grow the file past ``max_size`` bytes the file is renamed to
``<name>-<UTC time, 2006-01-02T15-04-05.000>.<ext>`` and a new one started; then backups beyond
``max_backups`` (0: all kept) and older than ``max_age_days`` (0: no limit) are removed, oldest first.
Path ``-`` writes to standard output (never rotated). Not thread-safe: one writer task owns it.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from pathlib import Path
from typing import BinaryIO

BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S.%f"


class RotatingFile:
    def __init__(self, path: str, *, max_size: int = 0, max_backups: int = 0, max_age_days: int = 0) -> None:
        self.path = path
        self.max_size = max_size
        self.max_backups = max_backups
        self.max_age_days = max_age_days
        self._file: BinaryIO | None = None
        self._size = 0
        self.rotations = 0

    def _open(self) -> BinaryIO:
        if self._file is None:
            if self.path == "-":
                self._file = sys.stdout.buffer
            else:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                self._file = os.fdopen(fd, "ab")
                self._size = os.fstat(fd).st_size
        return self._file

    def write(self, data: bytes) -> None:
        """Append ``data`` (whole lines), rotating first when it would not fit."""
        f = self._open()
        if self.path != "-" and self.max_size and self._size and self._size + len(data) > self.max_size:
            self._rotate()
            f = self._open()
        f.write(data)
        f.flush()
        self._size += len(data)

    def _backup_name(self) -> Path:
        p = Path(self.path)
        stamp = datetime.datetime.now(datetime.UTC).strftime(BACKUP_TIME_FORMAT)[:-3]
        return p.with_name(f"{p.stem}-{stamp}{p.suffix}")

    def backups(self) -> list[Path]:
        """Rotated files of this log, oldest first."""
        p = Path(self.path)
        found = [c for c in p.parent.glob(f"{p.stem}-*{p.suffix}") if c != p]
        return sorted(found, key=lambda c: c.name)

    def _rotate(self) -> None:
        self.close()
        os.replace(self.path, self._backup_name())
        self.rotations += 1
        backups = self.backups()
        doomed = set(backups[:-self.max_backups]) if self.max_backups and len(backups) > self.max_backups else set()
        if self.max_age_days:
            cutoff = time.time() - self.max_age_days * 86400
            doomed |= {b for b in backups if b.stat().st_mtime < cutoff}
        for b in doomed:
            b.unlink(missing_ok=True)

    def close(self) -> None:
        if self._file is not None and self.path != "-":
            self._file.close()
        self._file = None
        self._size = 0
