"""The real kubectl (Go's client-go and protobuf runtime) decodes what our encoder writes, and its
JSON rendering of the result equals our decoder's JSON for the same bytes.

A loopback HTTP server answers kubectl's typed generator commands with ``encode(object)``; kubectl
prints the object it decoded with ``-o json``. Skipped when the versioned kubectl binaries are absent.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sampan.api import protobuf as pb

from .objects import OBJECTS


def _kubectl(version: str) -> str | None:
    found = shutil.which("kubectl")
    if not found:
        return None
    path = os.path.join(os.path.dirname(os.path.realpath(found)), f"kubectl.{version}")
    return path if os.access(path, os.X_OK) else None


class _Server(http.server.ThreadingHTTPServer):
    response: bytes = b""
    status: int = 201
    request_types: list[str]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.request_types.append(self.headers.get("Content-Type") or "")
        self.send_response(self.server.status)
        self.send_header("Content-Type", pb.CONTENT_TYPE)
        self.send_header("Content-Length", str(len(self.server.response)))
        self.end_headers()
        self.wfile.write(self.server.response)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.request_types = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


COMMANDS: dict[str, list[str]] = {
    "Deployment": ["create", "deployment", "web", "--image=x"],
    "Job": ["create", "job", "pi", "--image=perl"],
    "ConfigMap": ["create", "configmap", "cfg", "--from-literal=a=1"],
    "Secret": ["create", "secret", "generic", "sec", "--from-literal=a=1"],
    "Namespace": ["create", "namespace", "team-a"],
    "Service": ["create", "service", "clusterip", "web", "--tcp=80:8080"],
    "ServiceAccount": ["create", "serviceaccount", "robot"],
    "ResourceQuota": ["create", "quota", "q", "--hard=pods=1"],
    "PodDisruptionBudget": ["create", "pdb", "pdb", "--selector=app=web", "--min-available=1"],
    "PriorityClass": ["create", "priorityclass", "high", "--value=1"],
    "TokenRequest": ["create", "token", "robot"],
    "Ingress": ["create", "ingress", "web", "--rule=foo.com/bar=svc1:8080"],
}


# Fields our (newer) schema has that an older kubectl's Go types lack: that kubectl drops them.
UNKNOWN_TO: dict[str, dict[str, list[tuple[str, ...]]]] = {
    "1.32": {"Deployment": [("status", "terminatingReplicas")]},
}


def _without(obj: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    for path in paths:
        parent = obj
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    return obj


@pytest.mark.parametrize("version", ["1.32", "1.33"])
@pytest.mark.parametrize("key", sorted(COMMANDS))
def test_kubectl_decodes_our_protobuf_like_we_do(server: _Server, version: str, key: str) -> None:
    binary = _kubectl(version)
    if binary is None:
        pytest.skip(f"kubectl.{version} not installed")
    obj = OBJECTS[key]
    server.response, server.status = pb.encode(obj), 201
    out = subprocess.run(
        [binary, "-s", f"http://127.0.0.1:{server.server_address[1]}", *COMMANDS[key], "-o", "json",
         "--show-managed-fields"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    expected = _without(pb.decode(pb.encode(obj)), UNKNOWN_TO.get(version, {}).get(key, []))
    assert json.loads(out.stdout) == expected
    assert server.request_types[-1] == pb.CONTENT_TYPE


def test_kubectl_reads_our_protobuf_status(server: _Server) -> None:
    binary = _kubectl("1.33")
    if binary is None:
        pytest.skip("kubectl.1.33 not installed")
    server.response, server.status = pb.encode(OBJECTS["Status"]), 422
    out = subprocess.run(
        [binary, "-s", f"http://127.0.0.1:{server.server_address[1]}", "create", "namespace", "x"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode != 0
    assert 'pods "x" is invalid: spec.containers: Required value' in out.stderr
