"""Where a local cluster keeps its files: everything lives under one data directory.

``<data-dir>/state.db``      the embedded store (sqlite backend)
``<data-dir>/kubeconfig``    a kubeconfig for this cluster
``<data-dir>/up.pid``        pid of the ``sampan up`` supervisor, while it runs
``<data-dir>/up.json``       how the running cluster was started (port, components)
``<data-dir>/logs/*.log``    one log per component
``<data-dir>/pids/*.pid``    the supervised components' pids, while they run (:mod:`sampan.cli.leftovers`)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ClusterLayout:
    data_dir: Path

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "up.pid"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "up.json"

    @property
    def pid_dir(self) -> Path:
        return self.data_dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def running_pid(self) -> int | None:
        """The supervisor's pid if one is alive for this data dir, else None (stale files are ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def read_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_state(self, state: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2))

    def clear(self) -> None:
        for path in (self.pid_file, self.state_file):
            path.unlink(missing_ok=True)
