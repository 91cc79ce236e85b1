"""The audit policy's matching, the rotating log file and the never-blocking buffer (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from sampan.apiserver.audit.backend import AuditMetrics, LogBackend
from sampan.apiserver.audit.policy import DEFAULT_POLICY, METADATA, NONE, REQUEST, RequestInfo, parse
from sampan.apiserver.audit.rotation import RotatingFile
from sampan.apiserver.authz.attributes import request_info
from sampan.apiserver.userinfo import UserInfo

ALICE = UserInfo("alice", groups=("devs", "system:authenticated"))
POLICY = {
    "apiVersion": "audit.k8s.io/v1", "kind": "Policy", "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"]},
        {"level": "Metadata", "resources": [{"group": "", "resources": ["secrets"]}]},
        {"level": "RequestResponse", "resources": [{"group": "", "resources": ["pods/log", "*/status"]}],
         "omitStages": ["ResponseStarted"]},
        {"level": "Request", "resources": [{"group": "apps", "resources": ["deployments"],
                                            "resourceNames": ["web"]}], "namespaces": ["prod"]},
        {"level": "Metadata", "nonResourceURLs": ["/healthz*"], "userGroups": ["devs"]},
        {"level": "Request", "verbs": ["create"], "omitManagedFields": True},
    ],
}


def info(method: str, path: str, **query: str) -> RequestInfo:
    return request_info(method, path, query)


def test_rules_match_as_upstream() -> None:
    policy = parse(POLICY)
    proxy = UserInfo("system:kube-proxy")
    assert policy.decide(proxy, info("GET", "/api/v1/services", watch="1")).level == NONE
    assert policy.decide(ALICE, info("POST", "/api/v1/namespaces/a/secrets")).level == METADATA  # first match wins
    assert policy.decide(ALICE, info("GET", "/api/v1/namespaces/a/pods/p/log")).level == "RequestResponse"
    status = policy.decide(ALICE, info("PUT", "/api/v1/namespaces/a/pods/p/status"))
    assert status.level == "RequestResponse"
    assert status.omit_stages == {"RequestReceived", "ResponseStarted"}
    assert policy.decide(ALICE, info("GET", "/apis/apps/v1/namespaces/prod/deployments/web")).level == REQUEST
    assert not policy.decide(ALICE, info("GET", "/apis/apps/v1/namespaces/dev/deployments/web")).recorded
    assert not policy.decide(ALICE, info("GET", "/apis/apps/v1/namespaces/prod/deployments/api")).recorded
    assert policy.decide(ALICE, info("GET", "/healthz/etcd")).level == METADATA
    assert not policy.decide(UserInfo("bob"), info("GET", "/healthz")).recorded  # not in devs
    create = policy.decide(ALICE, info("POST", "/api/v1/namespaces/a/configmaps"))
    assert create.level == REQUEST
    assert create.omit_managed_fields
    assert not policy.decide(ALICE, info("GET", "/api/v1/namespaces/a/configmaps")).recorded  # no rule: None


@pytest.mark.parametrize(("doc", "message"), [
    ({"kind": "Policy", "apiVersion": "audit.k8s.io/v1", "rules": []}, "at least one rule"),
    ({"kind": "Policy", "apiVersion": "audit.k8s.io/v1", "rules": [{"level": "Everything"}]}, "rules[0].level"),
    ({"kind": "Policy", "apiVersion": "audit.k8s.io/v1", "rules": [{"level": "None", "omitStages": ["Later"]}]},
     "unknown stage"),
    ({"kind": "Policy", "apiVersion": "audit.k8s.io/v1",
      "rules": [{"level": "None", "nonResourceURLs": ["/x"], "resources": [{"resources": ["pods"]}]}]}, "both"),
    ({"kind": "Policy", "apiVersion": "v1", "rules": [{"level": "None"}]}, "apiVersion"),
])
def test_bad_policies_are_one_line_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse(doc)


def test_default_policy_keeps_secrets_at_metadata_and_skips_leases() -> None:
    policy = parse(yaml.safe_load(DEFAULT_POLICY))
    assert policy.decide(ALICE, info("PUT", "/api/v1/namespaces/a/secrets/s")).level == METADATA
    assert not policy.decide(ALICE, info("PUT", "/apis/coordination.k8s.io/v1/namespaces/a/leases/n")).recorded
    assert not policy.decide(ALICE, info("GET", "/readyz")).recorded
    assert policy.decide(ALICE, info("POST", "/api/v1/namespaces/a/pods")).level == METADATA


def test_log_file_rotates_and_keeps_max_backups(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    f = RotatingFile(str(path), max_size=100, max_backups=2)
    for i in range(8):
        f.write(b"x" * 60 + f"{i}\n".encode())
    f.close()
    backups = f.backups()
    assert f.rotations == 7
    assert len(backups) == 2
    assert path.read_bytes().endswith(b"7\n")
    assert backups[-1].read_bytes().endswith(b"6\n")
    assert backups[0].name.startswith("audit-")


async def test_full_buffer_drops_instead_of_waiting(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    backend = LogBackend(RotatingFile(str(tmp_path / "a.log")), metrics=AuditMetrics(registry), buffer_size=3)
    for i in range(5):
        backend.process({"auditID": str(i)})  # returns at once, writer not running
    assert backend.dropped == 2
    assert registry.get_sample_value("apiserver_audit_error_total", {"plugin": "log"}) == 2
    await backend.flush()
    lines = (tmp_path / "a.log").read_bytes().splitlines()
    assert [orjson.loads(line)["auditID"] for line in lines] == ["0", "1", "2"]


def test_dash_writes_to_standard_output(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    f = RotatingFile("-", max_size=1)  # never rotated
    f.write(b'{"a":1}\n')
    f.write(b'{"a":2}\n')
    f.close()
    assert capfdbinary.readouterr().out == b'{"a":1}\n{"a":2}\n'
    assert f.rotations == 0
