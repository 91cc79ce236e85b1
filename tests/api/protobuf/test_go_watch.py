"""The real kubectl decodes our protobuf PodList and protobuf watch frames.

``kubectl debug web -it --image=busybox --container=dbg`` adds an ephemeral container, then lists and
watches the Pod (typed client-go, ``Accept: application/vnd.kubernetes.protobuf``) until that container
runs, and only then attaches. We list it as waiting and send "running" only in one protobuf watch
frame: kubectl's attach request proves client-go decoded both. Skipped without the kubectl binaries.
"""

from __future__ import annotations

import copy
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.api import protobuf as pb

from .objects import POD
from .test_go_interop import _kubectl

RUNNING: dict[str, Any] = copy.deepcopy(POD)
RUNNING["metadata"].update(namespace="default", name="web")
for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
    RUNNING["metadata"].pop(key)
RUNNING["spec"]["ephemeralContainers"] = [{"name": "dbg", "image": "busybox", "stdin": True, "tty": True}]
RUNNING["status"]["ephemeralContainerStatuses"] = [{
    "name": "dbg", "state": {"running": {"startedAt": "2026-11-26T10:00:00Z"}}, "lastState": {}, "ready": False,
    "restartCount": 0, "image": "busybox", "imageID": ""}]
WAITING = copy.deepcopy(RUNNING)
WAITING["status"]["ephemeralContainerStatuses"][0]["state"] = {"waiting": {"reason": "ContainerCreating"}}
DISCOVERY: dict[str, Any] = {
    "/api": {"kind": "APIVersions", "versions": ["v1"]},
    "/apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": []},
    "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod",
         "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]},
        {"name": "pods/ephemeralcontainers", "singularName": "", "namespaced": True, "kind": "Pod",
         "verbs": ["get", "patch", "update"]}]},
    "/api/v1/namespaces/default/pods/web": RUNNING,
}


class _Server(http.server.ThreadingHTTPServer):
    attached: threading.Event
    protobuf_requests: list[str]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A reset is how the killed kubectl's idle keep-alive connections end; anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _send(self, code: int, content_type: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        accept = self.headers.get("Accept") or ""
        protobuf = pb.CONTENT_TYPE in accept
        if path.endswith("/attach"):
            self.server.attached.set()
        elif self.command == "GET" and path in DISCOVERY:
            return self._send(200, "application/json", json.dumps(DISCOVERY[path]).encode())
        elif path.endswith("/ephemeralcontainers"):
            return self._send(200, pb.CONTENT_TYPE, pb.encode(WAITING))
        elif path.endswith("/pods") and protobuf and "watch=true" in query:
            self.server.protobuf_requests.append("watch")
            self.send_response(200)
            self.send_header("Content-Type", pb.WATCH_CONTENT_TYPE)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            frame = pb.encode_watch_frame("MODIFIED", RUNNING)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
            self.wfile.flush()
            self.server.attached.wait(30)
            self.wfile.write(b"0\r\n\r\n")
            return None
        elif path.endswith("/pods") and protobuf:
            self.server.protobuf_requests.append("list")
            items = [{k: v for k, v in WAITING.items() if k not in ("kind", "apiVersion")}]
            return self._send(200, pb.CONTENT_TYPE, pb.encode(
                {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"}, "items": items}))
        return self._send(404, "application/json", json.dumps(
            {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}).encode())

    do_GET = do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.attached, srv.protobuf_requests = threading.Event(), []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.attached.set()
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("version", ["1.32", "1.33"])
def test_kubectl_follows_our_protobuf_watch(server: _Server, version: str, tmp_path: Path) -> None:
    binary = _kubectl(version)
    if binary is None:
        pytest.skip(f"kubectl.{version} not installed")
    proc = subprocess.Popen(
        [binary, "-s", f"http://127.0.0.1:{server.server_address[1]}", "--cache-dir", str(tmp_path),
         "debug", "web", "-it", "--image=busybox", "--container=dbg"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        assert server.attached.wait(30), "kubectl never saw the container running through our watch frame"
    finally:
        proc.kill()
        proc.communicate()
    assert server.protobuf_requests[:2] == ["list", "watch"]
