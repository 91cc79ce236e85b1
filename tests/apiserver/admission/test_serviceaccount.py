"""ServiceAccount admission with upstream's behaviour: the default account, the refusal when the account
is missing, the projected kube-api-access volume and its mounts, and the opt-outs."""

from __future__ import annotations

from typing import Any

import pytest

from sampan.cli.apiserver import admission_plugins_off
from tests.apiserver.conftest import API

pytestmark = pytest.mark.apiserver_config(disable_admission_plugins=())
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "i"}],
                     "initContainers": [{"name": "init", "image": "i"}], **spec}}


async def account(api: API, name: str, **extra: Any) -> None:
    body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}, **extra}
    assert (await api.post("/api/v1/namespaces/default/serviceaccounts", body)).status == 201


async def test_a_missing_account_is_refused_with_upstreams_message(api: API) -> None:
    reply = await api.post("/api/v1/namespaces/default/pods", pod("p"))
    assert reply.status == 403
    assert reply.body["message"] == ('pods "p" is forbidden: error looking up service account default/default: '
                                     'serviceaccount "default" not found')


async def test_pods_get_the_default_account_and_the_api_access_volume(api: API) -> None:
    await account(api, "default")
    reply = await api.post("/api/v1/namespaces/default/pods", pod("p"))
    assert reply.status == 201, reply.body
    spec = reply.body["spec"]
    assert spec["serviceAccountName"] == spec["serviceAccount"] == "default"
    [volume] = spec["volumes"]
    assert volume["name"].startswith("kube-api-access-")
    assert len(volume["name"]) == len("kube-api-access-") + 5
    sources = volume["projected"]["sources"]
    assert sources[0] == {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["fieldRef"]["fieldPath"] == "metadata.namespace"
    for c in spec["containers"] + spec["initContainers"]:
        assert c["volumeMounts"] == [{"name": volume["name"], "readOnly": True, "mountPath": TOKEN_PATH}]


async def test_automount_false_on_the_pod_or_the_account_opts_out(api: API) -> None:
    await account(api, "default")
    await account(api, "quiet", automountServiceAccountToken=False)
    reply = await api.post("/api/v1/namespaces/default/pods", pod("a", automountServiceAccountToken=False))
    assert "volumes" not in reply.body["spec"]
    reply = await api.post("/api/v1/namespaces/default/pods", pod("b", serviceAccountName="quiet"))
    assert reply.body["spec"]["serviceAccountName"] == "quiet"
    assert "volumes" not in reply.body["spec"]
    # the pod's own true wins over the account's false
    reply = await api.post("/api/v1/namespaces/default/pods",
                           pod("c", serviceAccountName="quiet", automountServiceAccountToken=True))
    assert reply.body["spec"]["volumes"][0]["name"].startswith("kube-api-access-")


async def test_mirror_pods_are_left_alone(api: API) -> None:
    body = pod("static-n1")
    body["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    reply = await api.post("/api/v1/namespaces/default/pods", body)
    assert reply.status == 201, reply.body
    assert "volumes" not in reply.body["spec"]


def test_admission_plugin_flags() -> None:
    assert admission_plugins_off("", "") == ("ServiceAccount",)  # a bare API server has no SA controller
    assert admission_plugins_off("ServiceAccount", "") == ()  # what sampan up asks for
    assert admission_plugins_off("", "ServiceAccount,LimitRanger") == ("LimitRanger", "ServiceAccount")
    with pytest.raises(ValueError, match="unknown admission plugin"):
        admission_plugins_off("", "NoSuchPlugin")
    with pytest.raises(ValueError, match="both enabled and disabled"):
        admission_plugins_off("ServiceAccount", "ServiceAccount")
