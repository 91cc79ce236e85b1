"""Strict field validation for custom resources (issue 24), with the real kubectl and raw requests.

kubectl sends ``fieldValidation=Strict`` by default: a custom object with a field its CRD's schema does
not specify is refused with upstream's ``strict decoding error: unknown field "spec.extra"``;
``--validate=false`` (Ignore) prunes it silently; ``--validate=warn`` prints the server's warning.
Duplicate JSON fields and unknown ``metadata`` fields are reported the same way.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apiserver.conftest import API
from tests.apiserver.test_customresources_kubectl import CRD
from tests.apiserver.test_kubectl import Kubectl
from tests.support.apiserver import APIServerHandle, run_apiserver_process

CRONTABS = "/apis/stable.example.com/v1/namespaces/default/crontabs"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

WITH_EXTRA = """\
apiVersion: stable.example.com/v1
kind: CronTab
metadata: {{name: {name}, namespace: default}}
spec: {{cronSpec: "* * * * *", image: img, replicas: 1, extra: yes-please}}
"""

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[APIServerHandle]:
    with run_apiserver_process(tmp_path / "server", storage="sqlite") as handle:
        yield handle


@pytest.fixture
def kubectl(server: APIServerHandle, tmp_path: Path) -> Kubectl:
    k = Kubectl("kubectl", server, tmp_path / "cache")
    k.out("apply", "-f", "-", stdin=CRD)
    k.out("wait", "--for=condition=Established", "--timeout=30s", "crd/crontabs.stable.example.com")
    return k


@needs_kubectl
def test_kubectl_apply_unknown_field_is_refused(kubectl: Kubectl) -> None:
    proc = kubectl.run("apply", "-f", "-", stdin=WITH_EXTRA.format(name="strict"), check=False)
    assert proc.returncode != 0
    assert ('CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: unknown field '
            '"spec.extra"') in proc.stderr
    assert kubectl.run("get", "crontab", "strict", check=False).returncode != 0  # nothing stored


@needs_kubectl
def test_kubectl_apply_validate_false_prunes(kubectl: Kubectl) -> None:
    proc = kubectl.run("apply", "--validate=false", "-f", "-", stdin=WITH_EXTRA.format(name="pruned"))
    assert "Warning" not in proc.stderr
    spec = kubectl.out("get", "crontab", "pruned", "-o", "jsonpath={.spec}")
    assert "extra" not in spec
    assert "img" in spec


@needs_kubectl
def test_kubectl_apply_validate_warn_prints_warning(kubectl: Kubectl) -> None:
    proc = kubectl.run("apply", "--validate=warn", "-f", "-", stdin=WITH_EXTRA.format(name="warned"))
    assert 'Warning: unknown field "spec.extra"' in proc.stderr
    assert "extra" not in kubectl.out("get", "crontab", "warned", "-o", "jsonpath={.spec}")
    # applying again to the existing object is a merge patch: same answers, upstream's patch wording
    again = kubectl.run("apply", "-f", "-", stdin=WITH_EXTRA.format(name="warned"), check=False)
    assert again.returncode != 0
    assert 'strict decoding error: unknown field "spec.extra"' in again.stderr


def crontab(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": name},
            "spec": {"cronSpec": "* * * * *", "image": "img", **spec}}


async def _crd(api: API) -> None:
    import yaml

    r = await api.post(CRDS, yaml.safe_load(CRD))
    assert r.status == 201, r.body
    for _ in range(200):
        if (await api.get(CRONTABS)).status == 200:
            return
        import asyncio

        await asyncio.sleep(0.05)
    raise AssertionError("the CRD was never served")


async def test_strict_lists_every_unknown_and_duplicate_field(api: API) -> None:
    await _crd(api)
    body = (b'{"apiVersion":"stable.example.com/v1","kind":"CronTab","metadata":{"name":"d","bogus":1},'
            b'"spec":{"image":"a","image":"b","extra":1,"more":{"x":1}}}')
    r = await api.request("POST", CRONTABS, data=body, headers={"Content-Type": "application/json"},
                          params={"fieldValidation": "Strict"})
    assert r.status == 400, r.body
    assert r.body["message"] == ('CronTab in version "v1" cannot be handled as a CronTab: strict decoding error: '
                                 'unknown field "metadata.bogus", unknown field "spec.extra", unknown field '
                                 '"spec.more", duplicate field "spec.image"')
    r = await api.request("POST", CRONTABS, data=body, headers={"Content-Type": "application/json"},
                          params={"fieldValidation": "Warn"})
    assert r.status == 201, r.body
    assert r.headers.getall("Warning") == ['299 - "unknown field \\"metadata.bogus\\""',
                                           '299 - "unknown field \\"spec.extra\\""',
                                           '299 - "unknown field \\"spec.more\\""',
                                           '299 - "duplicate field \\"spec.image\\""']
    assert r.body["spec"] == {"image": "b"}
    assert "bogus" not in r.body["metadata"]


async def test_ignore_prunes_silently_and_patch_strict_wording(api: API) -> None:
    await _crd(api)
    r = await api.post(CRONTABS, crontab("i", extra=1), fieldValidation="Ignore")
    assert r.status == 201, r.body
    assert "Warning" not in r.headers
    assert "extra" not in r.body["spec"]
    r = await api.request("PATCH", f"{CRONTABS}/i", {"spec": {"extra": 2}},
                          headers={"Content-Type": "application/merge-patch+json"},
                          params={"fieldValidation": "Strict"})
    assert r.status == 400, r.body
    assert r.body["message"] == 'strict decoding error: unknown field "spec.extra"'
