"""``--authorization-mode``: parsing, the insecure default (AlwaysAllow, impersonation still applied),
AlwaysDeny refusing everyone but ``system:masters``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from sampan.apiserver.authz import parse_modes
from tests.apiserver.authz.conftest import Client
from tests.support.apiserver import InProcessAPIServer, run_apiserver_inprocess


def test_parse_modes() -> None:
    assert parse_modes("Node,RBAC") == ("Node", "RBAC")
    with pytest.raises(ValueError, match='authorization-mode "ABAC" is not a valid mode'):
        parse_modes("RBAC,ABAC")
    with pytest.raises(ValueError, match="more than once"):
        parse_modes("RBAC,RBAC")
    with pytest.raises(ValueError, match="at least one"):
        parse_modes(" , ")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def test_insecure_default_allows_everyone(inproc_apiserver: InProcessAPIServer,
                                                session: aiohttp.ClientSession) -> None:
    bob = Client(session, inproc_apiserver.url).as_user("bob")
    assert (await bob.get("/api/v1/namespaces/default/secrets")).status == 200
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "delete", "resource": "nodes"}}}
    r = await bob.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review)
    assert r.body["status"] == {"allowed": True}
    clusterroles = await bob.get("/apis/rbac.authorization.k8s.io/v1/clusterroles")
    assert clusterroles.body["items"] == []  # no bootstrap policy without RBAC


async def test_always_deny(tmp_path: Path, session: aiohttp.ClientSession) -> None:
    async with run_apiserver_inprocess(tmp_path / "s", authorization_modes=("AlwaysDeny",)) as server:
        admin = Client(session, server.url)
        assert (await admin.get("/api/v1/namespaces")).status == 200  # system:masters
        r = await admin.as_user("bob").get("/api/v1/namespaces")
        assert r.status == 403
        assert r.body["message"].endswith("at the cluster scope: Everything is forbidden.")
