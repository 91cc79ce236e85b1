"""Label and field selectors in list and watch queries are parsed as upstream's apimachinery parsers:
empty field-selector terms are skipped (``metadata.name=x,``), a trailing comma in a label selector is
upstream's 400, and every parse error is upstream's text, verbatim."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle
from tests.support.pyclient import official_client

kubernetes = pytest.importorskip("kubernetes")

from kubernetes import client as kclient  # noqa: E402
from kubernetes import watch as kwatch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, APIServerHandle]]:
    with official_client(tmp_path_factory.mktemp("selectors")) as (client, handle):
        core = kclient.CoreV1Api(client)
        for name, app in (("x", "web"), ("y", "db")):
            core.create_namespaced_config_map("default", {"metadata": {"name": name, "labels": {"app": app}}})
        yield client, handle


def _names(items: Any) -> list[str]:
    return sorted(i.metadata.name for i in items)


def test_empty_field_selector_terms_are_skipped(server: tuple[Any, APIServerHandle]) -> None:
    core = kclient.CoreV1Api(server[0])
    assert _names(core.list_namespaced_config_map("default", field_selector="metadata.name=x,").items) == ["x"]
    assert _names(core.list_namespaced_config_map("default", field_selector=",metadata.name=y,,").items) == ["y"]
    stream = kwatch.Watch().stream(core.list_namespaced_config_map, "default", field_selector="metadata.name=x,",
                                   timeout_seconds=1)
    assert [e["object"].metadata.name for e in stream] == ["x"]


@pytest.mark.parametrize(("field_selector", "message"), [
    ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
    ("metadata.name=a=b", "invalid field selector: unescaped character in value: 61"),
    ("=x", "field label not supported: "),
    (" metadata.name=x", "field label not supported:  metadata.name"),
])
def test_field_selector_errors(server: tuple[Any, APIServerHandle], field_selector: str, message: str) -> None:
    with pytest.raises(ApiException) as err:
        kclient.CoreV1Api(server[0]).list_namespaced_config_map("default", field_selector=field_selector)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == message


@pytest.mark.parametrize(("label_selector", "message"), [
    ("app=web,", "found '', expected: identifier after ','"),
    ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("app>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the "
              "value must be an integer"),
])
def test_label_selector_errors(server: tuple[Any, APIServerHandle], label_selector: str, message: str) -> None:
    with pytest.raises(ApiException) as err:
        kclient.CoreV1Api(server[0]).list_namespaced_config_map("default", label_selector=label_selector)
    assert err.value.status == 400
    assert json.loads(err.value.body)["message"] == message


def test_label_selector_edges_that_parse(server: tuple[Any, APIServerHandle]) -> None:
    core = kclient.CoreV1Api(server[0])
    assert _names(core.list_namespaced_config_map("default", label_selector=" app in (web,,) ").items) == ["x"]
    assert _names(core.list_namespaced_config_map("default", label_selector="app notin (),app").items) == ["x", "y"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_field_selector_with_trailing_comma(server: tuple[Any, APIServerHandle], tmp_path: Path) -> None:
    kubectl = Kubectl("kubectl", server[1], tmp_path / "cache")
    out = kubectl.out("get", "configmaps", "--field-selector", "metadata.name=x,", "-o", "name")
    assert out.split() == ["configmap/x"]
