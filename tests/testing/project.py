"""A throw-away pytest project for testing the sampan pytest plugin from the outside: files in a temp dir
(no conftest), ``pytest`` run in a subprocess with a private ``TMPDIR``, and checks that a run left no
cluster process, listening port or work directory behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sampan.testing.process import WORKDIR_PREFIX

INI = """[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
"""

#: Environment of the outer run that must not leak into the inner one.
_DROP = ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
         "PYTEST_CURRENT_TEST", "KUBECONFIG")


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmpdir = root / "_tmp"
        self.out = root / "_out"
        for d in (self.tmpdir, self.out):
            d.mkdir(parents=True, exist_ok=True)
        (root / "pytest.ini").write_text(INI)

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _DROP}
        return {**env, "TMPDIR": str(self.tmpdir), "OUT": str(self.out)}

    def argv(self, *args: str, cache: bool = False) -> list[str]:
        return [sys.executable, "-m", "pytest", *(() if cache else ("-p", "no:cacheprovider")), "-q",
                "-o", "console_output_style=classic", *args]

    def run(self, *args: str, timeout: float = 240, cache: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args, cache=cache), cwd=self.root, env=self.env(), capture_output=True,
                              text=True, timeout=timeout, check=False)

    def leftover_dirs(self) -> list[str]:
        return sorted(p.name for p in self.tmpdir.iterdir() if p.name.startswith(WORKDIR_PREFIX))

    def leftover_processes(self) -> list[int]:
        """Processes whose command line names this project's TMPDIR (cluster hosts, etcd)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(self.tmpdir) in cmdline:
                found.append(int(entry.name))
        return found


def passed(result: subprocess.CompletedProcess[str]) -> int:
    """How many tests the summary line says passed (0 if none)."""
    match = re.search(r"(\d+) passed", result.stdout)
    return int(match.group(1)) if match else 0


def listening_ports() -> set[int]:
    """TCP ports in LISTEN state on this machine (IPv4 and IPv6)."""
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])
