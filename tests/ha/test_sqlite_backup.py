"""``sampan backup`` while 8 writers write through a real API server on SQLite: the backup opens, holds every
write acknowledged before it began, and ``sampan restore`` puts it under a new API server."""

from __future__ import annotations

import sqlite3
import threading
import urllib.error
from pathlib import Path

import pytest

from tests.ha.support import apiserver_argv, processes, ready, request, sampan, wait_until
from tests.support.apiserver import free_port

pytestmark = pytest.mark.slow

WRITERS = 8


class Writers:
    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(WRITERS)]

    def _run(self, k: int) -> None:
        i = 0
        while not self.stop.is_set():
            name = f"w{k}-{i}"
            try:
                request("POST", f"{self.url}/api/v1/namespaces/default/configmaps",
                        {"metadata": {"name": name}, "data": {"i": str(i)}})
            except (urllib.error.URLError, OSError):
                continue
            with self.lock:
                self.acked.add(name)
            i += 1

    def snapshot(self) -> set[str]:
        with self.lock:
            return set(self.acked)


def test_backup_while_writing_holds_every_acknowledged_write(tmp_path: Path) -> None:
    data, port = tmp_path / "cluster", free_port()
    url = f"http://127.0.0.1:{port}"
    backup = tmp_path / "backup.db"
    with processes([apiserver_argv(data_dir=data, port=port, storage="sqlite")], tmp_path / "logs"):
        wait_until(lambda: ready(url), 60, "the API server")
        writers = Writers(url)
        for t in writers.threads:
            t.start()
        try:
            wait_until(lambda: len(writers.snapshot()) >= 200, 60, "writes before the backup")
            before = writers.snapshot()
            result = sampan("backup", str(backup), "--data-dir", str(data))
            assert result.returncode == 0, result.stderr
            wait_until(lambda: len(writers.snapshot()) >= len(before) + 100, 60, "writes after the backup")
        finally:
            writers.stop.set()
            for t in writers.threads:
                t.join(timeout=30)
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    restored, port2 = tmp_path / "restored", free_port()
    result = sampan("restore", str(backup), "--data-dir", str(restored))
    assert result.returncode == 0, result.stderr
    url2 = f"http://127.0.0.1:{port2}"
    with processes([apiserver_argv(data_dir=restored, port=port2, storage="sqlite")], tmp_path / "logs2"):
        wait_until(lambda: ready(url2), 60, "the API server on the restored store")
        items = request("GET", f"{url2}/api/v1/namespaces/default/configmaps")["items"]
        names = {o["metadata"]["name"] for o in items}
        assert before <= names, f"lost {len(before - names)} acknowledged writes, e.g. {sorted(before - names)[:3]}"
        assert names <= writers.snapshot() | {"kube-root-ca.crt"}  # nothing invented


def test_restore_refuses_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database" * 100)
    result = sampan("restore", str(bad), "--data-dir", str(tmp_path / "d"))
    assert result.returncode != 0
    assert "not a usable SQLite store" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "d" / "state.db").exists()
