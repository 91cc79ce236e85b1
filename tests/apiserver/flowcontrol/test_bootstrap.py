"""The flowcontrol API is served with upstream's bootstrap objects, kept as upstream keeps them, and
kubectl prints them as upstream's server does."""

from __future__ import annotations

import asyncio
import os
import subprocess
from typing import Any

from sampan.apiserver.flowcontrol import bootstrap
from tests.apiserver.flowcontrol.conftest import Server

BASE = "/apis/flowcontrol.apiserver.k8s.io/v1"

# `kubectl get flowschemas,prioritylevelconfigurations` against a fresh kube-apiserver 1.29+ (AGE dropped)
UPSTREAM_FLOWSCHEMAS = """\
NAME                           PRIORITYLEVEL     MATCHINGPRECEDENCE   DISTINGUISHERMETHOD   MISSINGPL
catch-all                      catch-all         10000                ByUser                False
endpoint-controller            workload-high     150                  ByUser                False
exempt                         exempt            1                    <none>                False
global-default                 global-default    9900                 ByUser                False
kube-controller-manager        workload-high     800                  ByNamespace           False
kube-scheduler                 workload-high     800                  ByNamespace           False
kube-system-service-accounts   workload-high     900                  ByNamespace           False
probes                         exempt            2                    <none>                False
service-accounts               workload-low      9000                 ByUser                False
system-leader-election         leader-election   100                  ByUser                False
system-node-high               node-high         400                  ByUser                False
system-nodes                   system            500                  ByUser                False
workload-leader-election       leader-election   200                  ByUser                False
"""
UPSTREAM_LEVELS = """\
NAME              TYPE      NOMINALCONCURRENCYSHARES   QUEUES   HANDSIZE   QUEUELENGTHLIMIT
catch-all         Limited   5                          <none>   <none>     <none>
exempt            Exempt    <none>                     <none>   <none>     <none>
global-default    Limited   20                         128      6          50
leader-election   Limited   10                         16       4          50
node-high         Limited   40                         64       6          50
system            Limited   30                         64       6          50
workload-high     Limited   40                         128      6          50
workload-low      Limited   100                        128      6          50
"""


async def _items(server: Server, resource: str) -> dict[str, dict[str, Any]]:
    reply = await server.request("GET", f"{BASE}/{resource}")
    assert reply.status == 200, reply.text
    return {o["metadata"]["name"]: o for o in reply.json()["items"]}


async def test_bootstrap_objects_have_upstreams_specs(server: Server) -> None:
    schemas = await _items(server, "flowschemas")
    levels = await _items(server, "prioritylevelconfigurations")
    want_schemas = {o["metadata"]["name"]: o for o in bootstrap.mandatory_schemas() + bootstrap.suggested_schemas()}
    want_levels = {o["metadata"]["name"]: o for o in bootstrap.mandatory_levels() + bootstrap.suggested_levels()}
    assert set(schemas) == set(want_schemas)
    assert len(schemas) == 13
    assert set(levels) == set(want_levels)
    assert len(levels) == 8
    for name, obj in schemas.items():
        assert obj["spec"] == want_schemas[name]["spec"], name
    for name, obj in levels.items():
        assert obj["spec"] == want_levels[name]["spec"], name
    for obj in [*schemas.values(), *levels.values()]:
        assert obj["metadata"]["annotations"][bootstrap.AUTO_UPDATE_ANNOTATION] == "true"
    assert levels["global-default"]["spec"]["limited"] == {
        "nominalConcurrencyShares": 20, "lendablePercent": 50,
        "limitResponse": {"type": "Queue", "queuing": {"queues": 128, "handSize": 6, "queueLengthLimit": 50}}}
    cond = schemas["probes"]["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Dangling", "False", "Found")
    assert cond["message"] == ('This FlowSchema references the PriorityLevelConfiguration object named "exempt" '
                               "and it exists")


def _kubectl(server: Server, *args: str) -> str:
    out = subprocess.run(["kubectl", *args], env={**os.environ, "KUBECONFIG": str(server.kubeconfig)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _without_age(table: str) -> str:
    lines = table.splitlines()
    start = lines[0].index("AGE")
    end = start + len(lines[0][start:].split()[0]) + 3 if "MISSINGPL" in lines[0] else None
    out = []
    for line in lines:
        out.append((line[:start] + line[end:]).rstrip() if end else line[:start].rstrip())
    return "\n".join(out) + "\n"


async def test_kubectl_get_matches_upstream(server: Server) -> None:
    schemas = await asyncio.to_thread(_kubectl, server, "get", "flowschemas")
    levels = await asyncio.to_thread(_kubectl, server, "get", "prioritylevelconfigurations")
    assert _without_age(schemas) == UPSTREAM_FLOWSCHEMAS
    assert _without_age(levels) == UPSTREAM_LEVELS


async def test_mandatory_objects_are_restored_and_suggested_respect_the_annotation(server: Server) -> None:
    path = f"{BASE}/flowschemas/catch-all"
    obj = (await server.request("GET", path)).json()
    obj["spec"]["matchingPrecedence"] = 5000
    assert (await server.request("PUT", path, body=obj)).status == 200
    # a suggested object whose owner turned auto-update off keeps the owner's spec
    gd_path = f"{BASE}/prioritylevelconfigurations/global-default"
    gd = (await server.request("GET", gd_path)).json()
    gd["metadata"]["annotations"][bootstrap.AUTO_UPDATE_ANNOTATION] = "false"
    gd["spec"]["limited"]["nominalConcurrencyShares"] = 7
    assert (await server.request("PUT", gd_path, body=gd)).status == 200
    assert (await server.request("DELETE", f"{BASE}/prioritylevelconfigurations/exempt")).status == 200

    async def restored() -> bool:
        fs = (await server.request("GET", path)).json()
        exempt = await server.request("GET", f"{BASE}/prioritylevelconfigurations/exempt")
        return fs["spec"]["matchingPrecedence"] == 10000 and exempt.status == 200

    deadline = asyncio.get_running_loop().time() + 20
    while not await restored():
        assert asyncio.get_running_loop().time() < deadline, "mandatory objects not restored"
        await asyncio.sleep(0.05)
    gd = (await server.request("GET", gd_path)).json()
    assert gd["spec"]["limited"]["nominalConcurrencyShares"] == 7
    await server.wait_for(lambda: server.apf.levels["global-default"].spec.shares == 7, "new shares in force")


async def test_dangling_flowschema_status_and_missing_pl_column(server: Server) -> None:
    fs = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": "orphan"},
          "spec": {"priorityLevelConfiguration": {"name": "nowhere"}, "matchingPrecedence": 300,
                   "rules": [{"subjects": [{"kind": "User", "user": {"name": "alice"}}],
                              "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}}
    created = await server.request("POST", f"{BASE}/flowschemas", body=fs)
    assert created.status == 201, created.text

    async def condition() -> dict[str, Any] | None:
        obj = (await server.request("GET", f"{BASE}/flowschemas/orphan")).json()
        conds = (obj.get("status") or {}).get("conditions") or []
        return conds[0] if conds else None

    deadline = asyncio.get_running_loop().time() + 20
    while (cond := await condition()) is None:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert (cond["status"], cond["reason"]) == ("True", "NotFound")
    assert cond["message"].endswith('named "nowhere" but there is no such object')
    assert "orphan" in server.apf.dangling
    row = next(line for line in (await asyncio.to_thread(_kubectl, server, "get", "flowschema", "orphan")).splitlines()
           if line.startswith("orphan"))
    assert row.split()[-1] == "True"


async def test_invalid_objects_are_rejected(server: Server) -> None:
    bad = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "PriorityLevelConfiguration",
           "metadata": {"name": "bad"},
           "spec": {"type": "Limited", "limited": {"limitResponse": {"type": "Queue", "queuing": {
               "queues": 4, "handSize": 8, "queueLengthLimit": 10}}}}}
    reply = await server.request("POST", f"{BASE}/prioritylevelconfigurations", body=bad)
    assert reply.status == 422, reply.text
    assert reply.json()["reason"] == "Invalid"
    assert "handSize" in reply.text
