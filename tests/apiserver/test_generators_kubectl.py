"""kubectl's typed generator commands for the resources served by the registry modules resourcequotas,
roles, rolebindings, poddisruptionbudgets, cronjobs and horizontalpodautoscalers, plus ``create token``
and ``auth can-i``, with the real kubectl 1.32 and 1.33 binaries (protobuf bodies) against a real
``sampan apiserver`` process (sqlite storage, so the token signing key lives in its data dir).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.apiserver.test_kubectl import Kubectl
from tests.apiserver.test_kubectl_matrix import versioned_kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

VERSIONS = ("1.32", "1.33")

# (argv after "create", printed "<kind>/<name> created", resource for get)
GENERATORS = [
    (["quota", "q1", "--hard=pods=2,requests.cpu=1,limits.memory=1Gi", "--scopes=NotTerminating"],
     "resourcequota/q1", "resourcequota"),
    (["role", "r1", "--verb=get,list", "--resource=pods,deployments.apps"], "role.rbac.authorization.k8s.io/r1",
     "role"),
    (["rolebinding", "rb1", "--role=r1", "--user=alice", "--group=devs", "--serviceaccount=kube-system:default"],
     "rolebinding.rbac.authorization.k8s.io/rb1", "rolebinding"),
    (["pdb", "p1", "--selector=app=x", "--min-available=1"], "poddisruptionbudget.policy/p1", "pdb"),
    (["cronjob", "cj1", "--image=busybox", "--schedule=*/5 * * * *", "--", "date"], "cronjob.batch/cj1", "cronjob"),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path_factory.mktemp("generators-kubectl"), storage="sqlite") as handle:
        yield handle


@pytest.fixture(params=VERSIONS)
def kubectl(request: pytest.FixtureRequest, server: APIServerHandle, tmp_path: Path) -> Kubectl:
    binary = versioned_kubectl(request.param)
    if binary is None:
        pytest.skip(f"kubectl.{request.param} is not installed")
    return Kubectl(binary, server, tmp_path / "cache")


def version_of(kubectl: Kubectl) -> str:
    return Path(kubectl.binary).name.replace("kubectl.", "")


def namespace_for(kubectl: Kubectl) -> str:
    ns = "gen-" + version_of(kubectl).replace(".", "")
    if kubectl.run("get", "namespace", ns, check=False).returncode != 0:
        kubectl.out("create", "namespace", ns)
    return ns


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(kubectl.out("get", *args, "-o", "json"))
    return out


def test_generators_create_upstream_objects(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    for argv, printed, _ in GENERATORS:
        assert kubectl.out("create", "-n", ns, *argv).strip() == f"{printed} created"
    quota = get_json(kubectl, "quota", "q1", "-n", ns)
    assert quota["spec"] == {"hard": {"pods": "2", "requests.cpu": "1", "limits.memory": "1Gi"},
                             "scopes": ["NotTerminating"]}
    role = get_json(kubectl, "role", "r1", "-n", ns)
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
                             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list"]}]
    rb = get_json(kubectl, "rolebinding", "rb1", "-n", ns)
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r1"}
    assert {"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"} in rb["subjects"]
    assert {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"} in rb["subjects"]
    pdb = get_json(kubectl, "pdb", "p1", "-n", ns)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["metadata"]["generation"] == 1
    assert pdb["status"]["disruptionsAllowed"] == 0
    cj = get_json(kubectl, "cronjob", "cj1", "-n", ns)
    assert cj["spec"]["schedule"] == "*/5 * * * *"
    assert cj["spec"]["concurrencyPolicy"] == "Allow"
    assert cj["spec"]["successfulJobsHistoryLimit"] == 3
    assert cj["spec"]["failedJobsHistoryLimit"] == 1
    pod_spec = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["command"] == ["date"]
    assert pod_spec["restartPolicy"] == "OnFailure"
    assert pod_spec["dnsPolicy"] == "ClusterFirst"


def test_cluster_scoped_rbac_generators(kubectl: Kubectl) -> None:
    suffix = version_of(kubectl).replace(".", "")
    role, binding = f"reader-{suffix}", f"readers-{suffix}"
    out = kubectl.out("create", "clusterrole", role, "--verb=get", "--resource=nodes",
                      "--non-resource-url=/healthz", "--verb=get")
    assert out.strip() == f"clusterrole.rbac.authorization.k8s.io/{role} created"
    out = kubectl.out("create", "clusterrolebinding", binding, f"--clusterrole={role}", "--group=ops",
                      "--serviceaccount=default:builder")
    assert out.strip() == f"clusterrolebinding.rbac.authorization.k8s.io/{binding} created"
    cr = get_json(kubectl, "clusterrole", role)
    assert {"nonResourceURLs": ["/healthz"], "verbs": ["get"]} in cr["rules"]
    crb = get_json(kubectl, "clusterrolebinding", binding)
    assert crb["roleRef"]["kind"] == "ClusterRole"
    table = kubectl.out("get", "clusterrolebinding", binding, "-o", "wide")
    header, row = table.splitlines()[:2]
    assert header.split() == ["NAME", "ROLE", "AGE", "USERS", "GROUPS", "SERVICEACCOUNTS"]
    assert f"ClusterRole/{role}" in row
    assert "default/builder" in row
    # a ClusterRoleBinding may only name a ClusterRole: upstream's NotSupported cause
    bad = json.dumps({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                      "metadata": {"name": f"bad-{suffix}"}, "roleRef": {"kind": "Role", "name": "x"}})
    proc = kubectl.run("create", "-f", "-", "--validate=false", stdin=bad, check=False)
    assert proc.returncode != 0
    assert 'roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"' in proc.stderr


def test_dry_run_server_stores_nothing(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    for argv, printed, resource in GENERATORS:
        named = [argv[0], "dry", *argv[2:]]
        obj = json.loads(kubectl.out("create", "-n", ns, "--dry-run=server", "-o", "json", *named))
        assert obj["metadata"]["name"] == "dry", printed
        assert obj["metadata"]["uid"], printed
        gone = kubectl.run("get", resource, "dry", "-n", ns, check=False)
        assert gone.returncode != 0, printed
        assert "NotFound" in gone.stderr, printed


def test_tables_have_upstream_columns(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    for argv, _, _ in GENERATORS:
        kubectl.run("create", "-n", ns, *argv, check=False)  # idempotent set-up when run alone
    expected = {
        "resourcequota": ["NAME", "AGE", "REQUEST", "LIMIT"],
        "role": ["NAME", "CREATED", "AT"],
        "rolebinding": ["NAME", "ROLE", "AGE"],
        "pdb": ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE", "ALLOWED", "DISRUPTIONS", "AGE"],
        "cronjob": ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE", "AGE"],
    }
    for resource, header in expected.items():
        lines = kubectl.out("get", resource, "-n", ns).splitlines()
        assert lines[0].split() == header, resource
    cron_row = kubectl.out("get", "cronjob", "cj1", "-n", ns, "--no-headers").split()
    assert cron_row[:8] == ["cj1", "*/5", "*", "*", "*", "*", "<none>", "False"]
    pdb_row = kubectl.out("get", "pdb", "p1", "-n", ns, "--no-headers").split()
    assert pdb_row[:4] == ["p1", "1", "N/A", "0"]


def test_describe_reads_served_kinds(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    for argv, _, _ in GENERATORS:
        kubectl.run("create", "-n", ns, *argv, check=False)
    assert "Schedule:                      */5 * * * *" in kubectl.out("describe", "cronjob", "cj1", "-n", ns)
    assert "Min available:  1" in kubectl.out("describe", "pdb", "p1", "-n", ns)
    rb = kubectl.out("describe", "rolebinding", "rb1", "-n", ns)
    assert "ServiceAccount  default  kube-system" in rb
    job = kubectl.out("create", "job", "from-cj", "--from=cronjob/cj1", "-n", ns)
    assert job.strip() == "job.batch/from-cj created"


def test_invalid_input_gets_upstream_causes(kubectl: Kubectl) -> None:
    ns = namespace_for(kubectl)
    bad = kubectl.run("create", "cronjob", "badcron", "-n", ns, "--image=busybox", "--schedule=61 * * * *",
                      check=False)
    assert bad.returncode != 0
    assert 'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61' in bad.stderr
    bad = kubectl.run("create", "cronjob", "tzcron", "-n", ns, "--image=busybox",
                      "--schedule=TZ=UTC 0 * * * *", check=False)
    assert "cannot use TZ or CRON_TZ in schedule, use timeZone field instead" in bad.stderr
    bad = kubectl.run("create", "quota", "badq", "-n", ns, "--hard=widgets=2", check=False)
    assert "spec.hard[widgets]: Invalid value: \"widgets\": must be a standard resource for quota" in bad.stderr
    bad = kubectl.run("create", "pdb", "badpdb", "-n", ns, "--selector=app=x", "--min-available=150%",
                      check=False)
    assert "spec.minAvailable: Invalid value: \"150%\": must not be greater than 100%" in bad.stderr


def test_auth_can_i_says_yes(kubectl: Kubectl) -> None:
    proc = kubectl.run("auth", "can-i", "delete", "pods", "-n", "default", check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "yes"
    assert kubectl.out("auth", "can-i", "get", "/healthz").strip() == "yes"


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_create_token_is_a_signed_jwt(kubectl: Kubectl, server: APIServerHandle) -> None:
    ns = namespace_for(kubectl)
    kubectl.run("create", "serviceaccount", "builder", "-n", ns, check=False)
    sa_uid = get_json(kubectl, "serviceaccount", "builder", "-n", ns)["metadata"]["uid"]
    before = int(time.time())
    token = kubectl.out("create", "token", "builder", "-n", ns, "--duration=2h", "--audience=vault").strip()
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(_b64(header_b64))
    claims = json.loads(_b64(payload_b64))
    assert header["alg"] == "ES256"
    assert claims["sub"] == f"system:serviceaccount:{ns}:builder"
    assert claims["aud"] == ["vault"]
    assert claims["kubernetes.io"] == {"namespace": ns, "serviceaccount": {"name": "builder", "uid": sa_uid}}
    assert claims["iat"] == claims["nbf"]
    assert before - 5 <= claims["iat"] <= time.time() + 5
    assert claims["exp"] - claims["iat"] == 7200
    # the signature verifies with the key the server keeps in its data dir
    key = serialization.load_pem_private_key((server.data_dir / "service-account.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    raw = _b64(signature_b64)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key.public_key().verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    # default lifetime and audience; a missing account is a clean 404; too short a duration is a 422
    default = json.loads(_b64(kubectl.out("create", "token", "builder", "-n", ns).strip().split(".")[1]))
    assert default["exp"] - default["iat"] == 3600
    assert default["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    missing = kubectl.run("create", "token", "nobody", "-n", ns, check=False)
    assert missing.returncode != 0
    assert 'serviceaccounts "nobody" not found' in missing.stderr
    short = kubectl.run("create", "token", "builder", "-n", ns, "--duration=1m", check=False)
    assert "may not specify a duration less than 10 minutes" in short.stderr


def test_autoscale(kubectl: Kubectl) -> None:
    """kubectl 1.33 creates an autoscaling/v2 HPA; 1.32 sends an autoscaling/v1 one (protobuf), stored as v2
    through the v1 view (registry/horizontalpodautoscalers_v1.py): both read back the same through v2."""
    ns = namespace_for(kubectl)
    kubectl.run("create", "deployment", "web", "--image=nginx", "-n", ns, check=False)
    proc = kubectl.run("autoscale", "deployment", "web", "--max=3", "--cpu-percent=70", "-n", ns, check=False)
    if version_of(kubectl) == "1.32":
        v1 = get_json(kubectl, "horizontalpodautoscalers.v1.autoscaling", "web", "-n", ns)
        assert v1["apiVersion"] == "autoscaling/v1"
        assert v1["spec"]["targetCPUUtilizationPercentage"] == 70
    assert proc.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled", proc.stderr
    hpa = get_json(kubectl, "hpa", "web", "-n", ns)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 1
    assert hpa["spec"]["maxReplicas"] == 3
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    lines = kubectl.out("get", "hpa", "-n", ns).splitlines()
    assert lines[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert "Deployment/web" in lines[1]
    assert "cpu: <unknown>/70%" in lines[1]


def test_api_resources_and_explain(kubectl: Kubectl) -> None:
    out = kubectl.out("api-resources", "--no-headers")
    rows = {line.split()[0]: line.split() for line in out.splitlines()}
    for name in ("resourcequotas", "roles", "rolebindings", "clusterroles", "clusterrolebindings",
                 "poddisruptionbudgets", "cronjobs", "horizontalpodautoscalers", "selfsubjectaccessreviews"):
        assert name in rows, name
    assert rows["resourcequotas"][1] == "quota"
    assert rows["cronjobs"][1] == "cj"
    assert "autoscaling/v2" in rows["horizontalpodautoscalers"]
    explained = kubectl.out("explain", "cronjob.spec.schedule")
    assert "schedule" in explained


def test_server_logged_no_tracebacks(server: APIServerHandle) -> None:
    assert "Traceback" not in server.log_text()
