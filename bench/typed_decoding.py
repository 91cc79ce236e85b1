"""CPU cost of decoding a write's body: typed decoding + fieldValidation, per object, in-process.

    .venv/bin/python bench/typed_decoding.py            # 20,000 rounds per body
    .venv/bin/python bench/typed_decoding.py --rounds 2000

For a small pod, a full Deployment and a Node status it prints microseconds per call of

- ``before``: what a write did before typed decoding: the unknown-field walk, the pruning walk and the
  duplicate-key scan of the raw JSON (``fieldvalidation.problems`` + ``prune_unknown``);
- ``typed only``: the compiled per-kind checker (:mod:`sampan.api.typed`) alone;
- ``after``: ``writeopts.check_fields`` as every write now runs it (typed check; the unknown-field and
  pruning walks only when the checker saw an unknown field; the duplicate-key scan).

The API server's end-to-end figures are ``bench/apiserver.py``'s; this isolates the decode step, which
that benchmark's noise (two shared cores) hides.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from sampan.api import typed
from sampan.api.resources import ResourceInfo
from sampan.apiserver import fieldvalidation
from sampan.apiserver.handlers import writeopts


class _Strategy:
    def __init__(self, info: ResourceInfo) -> None:
        self.info = info


class _Scope:
    def __init__(self, group: str, version: str, kind: str) -> None:
        self.strategy = _Strategy(ResourceInfo(group=group, version=version, resource=kind.lower() + "s", kind=kind,
                                               singular=kind.lower(), namespaced=True))

    @property
    def info(self) -> ResourceInfo:
        return self.strategy.info


def _pod() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}],
                                     "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}}}]}}


def _deployment() -> dict[str, Any]:
    container = {"name": "web", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                 "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                 "env": [{"name": f"E{i}", "value": str(i)} for i in range(8)],
                 "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
                 "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [container, {**container, "name": "sidecar"}],
                                           "volumes": [{"name": "data", "emptyDir": {}}],
                                           "tolerations": [{"key": "k", "operator": "Exists"}]}}}}


def _node() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n", "labels": {"kubernetes.io/os": "linux"}},
            "status": {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                       "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": t, "status": "False", "reason": "R", "message": "m",
                                       "lastHeartbeatTime": "2024-01-01T00:00:00Z",
                                       "lastTransitionTime": "2024-01-01T00:00:00Z"}
                                      for t in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")],
                       "addresses": [{"type": "InternalIP", "address": "100.64.0.2"},
                                     {"type": "Hostname", "address": "n"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Linux", "architecture": "amd64"}}}


def _time(fn: Callable[[dict[str, Any]], object], body: dict[str, Any], rounds: int) -> float:
    copies = [copy.deepcopy(body) for _ in range(rounds)]
    start = time.perf_counter()
    for obj in copies:
        fn(obj)
    return (time.perf_counter() - start) / rounds * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20_000)
    args = parser.parse_args()
    print(f"{'body':<12} {'before µs':>10} {'typed only µs':>14} {'after µs':>10}")
    for label, body, gvk in (("pod", _pod(), ("", "v1", "Pod")),
                             ("deployment", _deployment(), ("apps", "v1", "Deployment")),
                             ("node", _node(), ("", "v1", "Node"))):
        scope: Any = _Scope(*gvk)
        raw = orjson.dumps(body)
        checker = typed.checker_for(*gvk)
        assert checker is not None
        node = writeopts.type_node(scope)

        def before(obj: dict[str, Any], gvk: tuple[str, str, str] = gvk, raw: bytes = raw, node: Any = node) -> None:
            fieldvalidation.problems(obj, group=gvk[0], version=gvk[1], kind=gvk[2], raw=raw, directive="Warn")
            fieldvalidation.prune_unknown(obj, node)

        def after(obj: dict[str, Any], scope: Any = scope, raw: bytes = raw) -> None:
            writeopts.check_fields(scope, obj, opts=writeopts.WriteOptions(dry=False, manager="m",
                                                                            field_validation="Warn"), raw=raw)

        typed_only = _time(lambda obj, c=checker: c.check(obj, normalize=True), body, args.rounds)
        print(f"{label:<12} {_time(before, body, args.rounds):>10.1f} {typed_only:>14.1f} "
              f"{_time(after, body, args.rounds):>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
