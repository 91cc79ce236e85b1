"""Schema-driven fuzzing with schemathesis (PyPI) against the server's own ``/openapi/v3`` (issue 24).

For core/v1, apps/v1, batch/v1, apiextensions.k8s.io/v1 and coordination.k8s.io/v1, schemathesis
generates requests from the published document (fixed seed, a few examples per operation) and checks
every answer: no 5xx, no dropped connection, and every response body conforms to the published schema
(``response_schema_conformance``) — except DELETE, whose 200 may be a ``Status`` as upstream's is.

To reach objects rather than 404s, the harness first creates one object named ``fz`` of every kind in
namespace ``default`` and pins the ``name``/``namespace`` path parameters to those, generates merge,
strategic and apply patches from the kind's schema (a partial object) rather than arbitrary JSON, and
aims bodies at the seeded objects (``schemathesis_hooks``); it drops the legacy
``/watch/`` paths and the ``watch`` parameter (a watch never ends: not a request/response pair).
A failure prints schemathesis' own report (the request to reproduce, and what was wrong).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.apiserver import APIServerHandle, run_apiserver_process

pytest.importorskip("schemathesis")

pytestmark = pytest.mark.slow

GROUP_VERSIONS = ("api/v1", "apis/apps/v1", "apis/batch/v1", "apis/apiextensions.k8s.io/v1",
                  "apis/coordination.k8s.io/v1")
ROOT = Path(__file__).resolve().parents[2]
SEED = 24
EXAMPLES = 2
NAME = "fz"
_SKIPPED_PATH = re.compile(r"/watch/|/(proxy|exec|attach|portforward)(/|$)")
_STREAMING_PARAMS = frozenset({"watch", "allowWatchBookmarks", "follow"})
_POD_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}
_TEMPLATE = {"metadata": {"labels": {"app": NAME}}, "spec": _POD_SPEC}
_SELECTOR = {"matchLabels": {"app": NAME}}
SEEDS: dict[str, dict[str, Any]] = {
    "namespaces": {},
    "nodes": {},
    "configmaps": {"data": {"k": "v"}},
    "secrets": {"stringData": {"k": "v"}},
    "serviceaccounts": {},
    "services": {"spec": {"ports": [{"port": 80, "targetPort": 8080}]}},
    "endpoints": {"subsets": [{"addresses": [{"ip": "100.64.0.5"}], "ports": [{"port": 80}]}]},
    "pods": {"spec": _POD_SPEC},
    "events": {"involvedObject": {"kind": "Pod", "name": NAME, "namespace": "default"}, "reason": "Fuzz"},
    "resourcequotas": {"spec": {"hard": {"pods": "10"}}},
    "limitranges": {"spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}},
    "podtemplates": {"template": _TEMPLATE},
    "replicationcontrollers": {"spec": {"replicas": 0, "selector": {"app": NAME}, "template": _TEMPLATE}},
    "persistentvolumeclaims": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests":
                                                                                       {"storage": "1Gi"}}}},
    "deployments": {"spec": {"replicas": 0, "selector": _SELECTOR, "template": _TEMPLATE}},
    "replicasets": {"spec": {"replicas": 0, "selector": _SELECTOR, "template": _TEMPLATE}},
    "statefulsets": {"spec": {"replicas": 0, "serviceName": NAME, "selector": _SELECTOR, "template": _TEMPLATE}},
    "daemonsets": {"spec": {"selector": _SELECTOR, "template": _TEMPLATE}},
    "controllerrevisions": {"revision": 1},
    "jobs": {"spec": {"suspend": True, "template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}},
    "cronjobs": {"spec": {"schedule": "*/5 * * * *", "suspend": True,
                          "jobTemplate": {"spec": {"template": {"spec": {**_POD_SPEC, "restartPolicy": "Never"}}}}}},
    "leases": {"spec": {"holderIdentity": NAME, "leaseDurationSeconds": 10}},
}
CONFIG = """\
[[operations]]
include-method = "DELETE"
checks.response_schema_conformance.enabled = false
"""


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def _seed(url: str, gv: str, doc: dict[str, Any]) -> None:
    """One object named ``fz`` per kind the document can create (kinds without a seed body are skipped)."""
    version = gv.split("/", 1)[1]
    for path, item in doc["paths"].items():
        post = item.get("post")
        gvk = (post or {}).get("x-kubernetes-group-version-kind")
        resource = path.rsplit("/", 1)[1]
        if post is None or gvk is None or path.endswith("}") or resource not in SEEDS:
            continue
        target = url + path.replace("{namespace}", "default")
        body = {"apiVersion": version, "kind": gvk["kind"], "metadata": {"name": NAME}, **SEEDS[resource]}
        status, answer = _http("POST", target, body)
        assert status in (201, 409), f"seeding {path}: {status} {answer}"


def _fuzzable(url: str, gv: str) -> dict[str, Any]:
    """The published document with path parameters pinned to the seeded objects and streams removed."""
    with urllib.request.urlopen(f"{url}/openapi/v3/{gv}", timeout=30) as resp:
        doc: dict[str, Any] = json.loads(resp.read())
    _seed(url, gv, doc)
    paths = {}
    for path, item in doc["paths"].items():
        if _SKIPPED_PATH.search(path):
            continue
        for holder in [item, *[op for op in item.values() if isinstance(op, dict)]]:
            params = holder.get("parameters")
            if not isinstance(params, list):
                continue
            holder["parameters"] = [p for p in params if p.get("name") not in _STREAMING_PARAMS]
            for p in holder["parameters"]:
                if p.get("in") == "path" and p.get("name") in ("name", "namespace"):
                    p["schema"] = {"type": "string", "enum": ["default" if p["name"] == "namespace" else NAME]}
        patch = item.get("patch")
        kind_schema = (((patch or {}).get("responses") or {}).get("200") or {}).get("content", {}).get(
            "application/json", {}).get("schema")
        if patch is not None and kind_schema is not None:  # partial objects, not arbitrary JSON
            for media, content in patch["requestBody"]["content"].items():
                if media != "application/json-patch+json":
                    content["schema"] = kind_schema
        paths[path] = item
    doc["paths"] = paths
    return doc


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("schemathesis"), storage="memory") as handle:
        yield handle


@pytest.mark.parametrize("gv", GROUP_VERSIONS)
def test_published_schema_holds_under_fuzzing(server: APIServerHandle, tmp_path: Path, gv: str) -> None:
    doc_path = tmp_path / "openapi.json"
    doc_path.write_text(json.dumps(_fuzzable(server.url, gv)))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    argv = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", str(doc_path),
            "--url", server.url, "--checks", "not_a_server_error,response_schema_conformance",
            "--header", "Accept: application/json",
            "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--workers", "1", "--phases", "examples,fuzzing",
            "--request-timeout", "20", "--no-shrink", "--suppress-health-check", "all", "--warnings", "off"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.apiserver.schemathesis_hooks",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    report = proc.stdout[-12000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, f"schemathesis found problems in {gv}:\n{report}\nserver log:\n" \
                                 f"{server.log_text()[-3000:]}"
    assert re.search(r"\d+ generated", proc.stdout), report  # it really ran
