"""``sampan trace`` on any kind, ``--follow`` and its one-line errors, against a real API server and a
trace store the test fills with spans."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.observability.cluster import threaded_trace_store
from tests.support.apiserver import APIServerHandle


def post(store: str, *spans: dict[str, object]) -> None:
    req = urllib.request.Request(f"{store}/v1/spans", data=json.dumps({"spans": list(spans)}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        r.read()


def span(sid: str, name: str, start: int, uid: str) -> dict[str, object]:
    return {"trace_id": "t", "span_id": sid, "parent_id": "", "name": name, "component": "kube-controller-manager",
            "start_ns": start, "end_ns": start + 1_000_000, "attributes": {"k8s.uid": uid}}


def sampan(*argv: str) -> list[str]:
    return [sys.executable, "-m", "sampan.cli.main", *argv]


def test_any_kind_follow_and_errors(apiserver: APIServerHandle, tmp_path: Path) -> None:
    kc = str(apiserver.kubeconfig)
    subprocess.run(["kubectl", "--kubeconfig", kc, "create", "configmap", "traced"], check=True, capture_output=True)
    uid = subprocess.run(["kubectl", "--kubeconfig", kc, "get", "configmap", "traced", "-o",
                          "jsonpath={.metadata.uid}"], check=True, capture_output=True, text=True).stdout
    with threaded_trace_store() as store:
        now = time.time_ns()
        post(store.url, span("a", "reconcile", now, uid))
        once = subprocess.run(sampan("trace", "cm/traced", "--store", store.url, "--kubeconfig", kc, "-o", "json"),
                              capture_output=True, text=True, timeout=60)
        assert once.returncode == 0, once.stderr
        doc = json.loads(once.stdout)
        assert doc["object"] == {"kind": "ConfigMap", "namespace": "default", "name": "traced", "uid": uid}
        assert [h["name"] for h in doc["hops"]] == ["reconcile"]

        follow = subprocess.Popen(sampan("trace", "configmap/traced", "--store", store.url, "--kubeconfig", kc,
                                         "-o", "json", "--follow"), stdout=subprocess.PIPE, text=True)
        try:
            assert follow.stdout is not None
            first = json.loads(follow.stdout.readline())  # the timeline so far
            assert [h["name"] for h in first["hops"]] == ["reconcile"]
            post(store.url, span("b", "later", now + 5_000_000, uid))
            hop = json.loads(follow.stdout.readline())  # then one line per new hop
            assert hop["name"] == "later"
            assert hop["start_ms"] == 5.0
        finally:
            follow.terminate()
            follow.wait(10)

        missing = subprocess.run(sampan("trace", "pod/nope", "--store", store.url, "--kubeconfig", kc),
                                 capture_output=True, text=True, timeout=60)
        assert missing.returncode == 1
        assert missing.stderr.strip().splitlines() == ['sampan trace: pods "nope" not found']
        bad = subprocess.run(sampan("trace", "nothing", "--store", store.url, "--kubeconfig", kc),
                             capture_output=True, text=True, timeout=60)
        assert bad.stderr.strip() == "sampan trace: expected KIND/NAME (e.g. pod/web-1), got 'nothing'"
    gone = subprocess.run(sampan("trace", "cm/traced", "--data-dir", str(tmp_path), "--kubeconfig", kc),
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1
    assert "no trace store" in gone.stderr


def test_table_shows_one_row_per_informer_for_its_handlers() -> None:
    """A write delivered to the 3 handlers of one informer is one table row; other repeats stay apart."""
    from sampan.cli.trace_render import collapsed
    from sampan.tracestore.timeline import Hop

    def hop(name: str, label: str, start: float, *, component: str = "kube-controller-manager") -> Hop:
        return Hop(component, name, label, start, 0.5, 0, f"{start}")

    hops = [hop("apiserver.request", "POST", 0.0, component="kube-apiserver"),
            *(hop("informer.deliver", "informer add (rv 5)", 1.0 + i) for i in range(3)),
            hop("informer.deliver", "informer add (rv 5)", 4.0, component="kubelet"),
            hop("reconcile", "replicaset reconcile", 5.0), hop("reconcile", "replicaset reconcile", 6.0)]
    rows = [(h.component, h.label, n, end) for h, n, end in collapsed(hops)]
    assert rows == [("kube-apiserver", "POST", 1, 0.5),
                    ("kube-controller-manager", "informer add (rv 5)", 3, 3.5),
                    ("kubelet", "informer add (rv 5)", 1, 4.5),
                    ("kube-controller-manager", "replicaset reconcile", 1, 5.5),
                    ("kube-controller-manager", "replicaset reconcile", 1, 6.5)]
