from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.kubelet.runtime.interface import ContainerConfigError
from sampan.kubelet.volumes.env import container_env, expand, expand_command
from sampan.kubelet.volumes.objects import StaticObjects


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


OBJECTS = StaticObjects(
    configmaps=[{"metadata": {"namespace": "ns", "name": "cm"}, "data": {"A": "1", "mode": "fast", "bad key": "x"}}],
    secrets=[{"metadata": {"namespace": "ns", "name": "sec"}, "data": {"password": b64("hunter2")}}],
)

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "ns", "uid": "u-1", "labels": {"app": "web"}},
    "spec": {"nodeName": "n1", "containers": [
        {"name": "c", "resources": {"limits": {"cpu": "1500m", "memory": "64Mi"}, "requests": {"cpu": "250m"}}},
    ]},
    "status": {"podIP": "10.0.0.5", "hostIP": "192.168.0.1"},
}


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(A)", "1"), ("x$(A)y", "x1y"), ("$(MISSING)", "$(MISSING)"), ("$$(A)", "$(A)"), ("$$", "$"),
        ("$(A", "$(A"), ("$", "$"), ("$x", "$x"), ("$()", "$()"), ("a$(A)$(B)", "a12"),
    ],
)
def test_expand(text: str, want: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}) == want


@given(st.text(alphabet="ab$()", max_size=20))
def test_expand_without_references_is_identity_on_text_without_dollar(text: str) -> None:
    if "$" not in text:
        assert expand(text, {"a": "X"}) == text
    assert expand(text.replace("$", "$$"), {"a": "X"}) == text  # escaping round-trips


def test_env_order_refs_and_expansion() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}],
        "env": [
            {"name": "GREETING", "value": "hi $(CM_A) $(LATER) $$(CM_A)"},
            {"name": "LATER", "value": "late"},
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "mode"}}},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "MCPU", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "REQMEM", "valueFrom": {"resourceFieldRef": {"resource": "requests.memory"}}},
            {"name": "DISK", "valueFrom": {"resourceFieldRef": {"resource": "limits.ephemeral-storage"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        ],
        "command": ["echo", "$(GREETING)"], "args": ["$(POD)", "$$(POD)"],
    }
    env = container_env(POD, container, objects=OBJECTS, node_allocatable={"ephemeral-storage": "1Gi"})
    assert list(env)[:3] == ["CM_A", "CM_mode", "password"]  # envFrom first; "CM_bad key" skipped
    assert env["GREETING"] == "hi 1 $(LATER) $(CM_A)"
    assert (env["MODE"], env["PW"], env["POD"], env["APP"], env["IP"]) == ("fast", "hunter2", "web", "web", "10.0.0.5")
    assert (env["CPU"], env["MCPU"], env["MEM"]) == ("2", "250", "64")  # cpu rounds up to whole cores
    assert env["REQMEM"] == str(64 << 20)  # unset request: the limit
    assert env["DISK"] == str(1 << 30)  # unset limit: the node's allocatable
    assert "OPT" not in env
    assert expand_command(container, env) == (("echo", "hi 1 $(LATER) $(CM_A)"), ("web", "$(POD)"))


@pytest.mark.parametrize(
    ("var", "message"),
    [
        ({"configMapKeyRef": {"name": "nope", "key": "k"}}, 'configmap "nope" not found'),
        ({"configMapKeyRef": {"name": "cm", "key": "k"}}, "couldn't find key k in ConfigMap ns/cm"),
        ({"secretKeyRef": {"name": "nope", "key": "k"}}, 'secret "nope" not found'),
        ({"secretKeyRef": {"name": "sec", "key": "k"}}, "couldn't find key k in Secret ns/sec"),
        ({"fieldRef": {"fieldPath": "spec.bogus"}}, "unsupported fieldPath: spec.bogus"),
    ],
)
def test_missing_refs_are_config_errors(var: dict[str, Any], message: str) -> None:
    container = {"name": "c", "env": [{"name": "X", "valueFrom": var}]}
    with pytest.raises(ContainerConfigError) as info:
        container_env(POD, container, objects=OBJECTS)
    assert info.value.message == message
    assert info.value.reason == "CreateContainerConfigError"


def test_missing_env_from_object() -> None:
    with pytest.raises(ContainerConfigError, match='configmap "nope" not found'):
        container_env(POD, {"name": "c", "envFrom": [{"configMapRef": {"name": "nope"}}]}, objects=OBJECTS)
    env = container_env(POD, {"name": "c", "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]},
                        objects=OBJECTS)
    assert env == {}
