"""A real kopf operator (``kopf run --standalone``, from PyPI) against a real ``sampan apiserver``
process and against a ``sampan up`` cluster: it sees creations, updates and deletions of a custom
resource, patches its status, adds and removes its finalizer, and posts events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apiserver import APIServerHandle, free_port, run_apiserver_process

kopf = pytest.importorskip("kopf")
pytestmark = pytest.mark.slow

CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gizmos.kopf.example.com"},
    "spec": {
        "group": "kopf.example.com",
        "scope": "Namespaced",
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "subresources": {"status": {}},
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            }}},
        }],
    },
}

OPERATOR = '''
import logging
import pathlib
import kopf

MARKER = pathlib.Path({marker!r})


@kopf.on.startup()
def configure(settings, **_):
    settings.posting.level = logging.INFO
    settings.watching.server_timeout = 30
    settings.watching.reconnect_backoff = 0.2


@kopf.on.create("kopf.example.com", "v1", "gizmos")
def created(body, spec, **_):
    kopf.info(body, reason="Created", message=f"gizmo created with size {{spec['size']}}")
    return {{"size": spec["size"]}}


@kopf.on.update("kopf.example.com", "v1", "gizmos")
def updated(spec, **_):
    return {{"size": spec["size"]}}


@kopf.on.delete("kopf.example.com", "v1", "gizmos")
def deleted(name, **_):
    MARKER.write_text(name)
'''

GIZMOS = "/apis/kopf.example.com/v1/namespaces/default/gizmos"


class Client:
    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise AssertionError(f"{method} {path}: {err.code} {err.read()!r}") from err


def wait_for(check: Callable[[], Any], what: str, proc: subprocess.Popen[bytes], log: Path,
             timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; kopf log:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path / "server", storage="sqlite") as handle:
        yield handle


def test_kopf_operator_end_to_end(server: APIServerHandle, tmp_path: Path) -> None:
    run_operator_scenario(server.url, server.kubeconfig, tmp_path)


def test_kopf_operator_against_sampan_up(tmp_path: Path) -> None:
    """The same against a whole ``sampan up`` cluster (controller-manager, scheduler, one simulated node)."""
    data_dir = tmp_path / "cluster"
    port = free_port()
    up = subprocess.run([sys.executable, "-m", "sampan.cli.main", "up", "--detach", "--insecure", "--nodes", "1",
                         "--runtime",
                         "simulated", "--data-dir", str(data_dir), "--port", str(port), "--no-merge-kubeconfig"],
                        env={**os.environ, "KUBECONFIG": str(tmp_path / "user-kubeconfig")},
                        capture_output=True, text=True, timeout=120, check=False)
    try:
        assert up.returncode == 0, f"sampan up failed:\n{up.stdout}\n{up.stderr}"
        run_operator_scenario(f"http://127.0.0.1:{port}", data_dir / "kubeconfig", tmp_path)
    finally:
        subprocess.run([sys.executable, "-m", "sampan.cli.main", "down", "--data-dir", str(data_dir)],
                       capture_output=True, timeout=90, check=False)


def run_operator_scenario(url: str, kubeconfig: Path, tmp_path: Path) -> None:
    api = Client(url)
    api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD)
    deadline = time.monotonic() + 30
    while api.call("GET", GIZMOS) is None:
        assert time.monotonic() < deadline, "CRD never served"
        time.sleep(0.05)

    marker = tmp_path / "deleted"
    script = tmp_path / "operator.py"
    script.write_text(OPERATOR.format(marker=str(marker)))
    log = tmp_path / "kopf.log"
    kopf_bin = str(Path(sys.executable).with_name("kopf"))
    with open(log, "wb") as out:
        proc = subprocess.Popen([kopf_bin, "run", "--standalone", "--namespace", "default", "--verbose",
                                 str(script)], stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "KUBECONFIG": str(kubeconfig)})
    try:
        api.call("POST", GIZMOS, {"apiVersion": "kopf.example.com/v1", "kind": "Gizmo",
                                  "metadata": {"name": "g1"}, "spec": {"size": 3}})

        def status(key: str) -> Any:
            obj = api.call("GET", f"{GIZMOS}/g1")
            return obj and obj.get("status", {}).get(key)

        assert wait_for(lambda: status("created"), "the create handler", proc, log) == {"size": 3}
        obj = api.call("GET", f"{GIZMOS}/g1")
        assert "kopf.zalando.org/KopfFinalizerMarker" in obj["metadata"]["finalizers"]

        api.call("PATCH", f"{GIZMOS}/g1", {"spec": {"size": 5}}, "application/merge-patch+json")
        assert wait_for(lambda: status("updated"), "the update handler", proc, log) == {"size": 5}

        def events() -> list[dict[str, Any]]:
            items = api.call("GET", "/api/v1/namespaces/default/events")["items"]
            return [e for e in items if e["involvedObject"].get("name") == "g1"]

        found = wait_for(events, "kopf's events", proc, log)
        assert any("gizmo created with size 3" in e.get("message", "") for e in found)

        api.call("DELETE", f"{GIZMOS}/g1")
        wait_for(lambda: api.call("GET", f"{GIZMOS}/g1") is None, "the finalizer to be removed", proc, log)
        assert marker.read_text() == "g1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
