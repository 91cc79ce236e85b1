"""Plain HTTP with ``--token-auth-file`` (no TLS): a request carrying one of the file's tokens is that
token's user, so API Priority and Fairness classifies it as in a cluster; one without credentials is the
insecure admin; a token not in the file is 401. (The density benchmark's ``--http-identities`` mode.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from sampan.cli.apiserver import config_from_args
from sampan.cli.main import build_parser
from tests.support.apiserver import run_apiserver_inprocess

NODE_TOKEN = "node-token-0123456789"
SELF_REVIEW = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


async def _whoami(url: str, token: str | None) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    async with aiohttp.ClientSession() as session, session.post(
            url + SELF_REVIEW, json={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
            headers=headers) as resp:
        return resp.status, await resp.json(), dict(resp.headers)


async def test_tokens_name_users_and_no_token_is_the_insecure_admin(tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.csv"
    tokens.write_text(f'{NODE_TOKEN},system:node:hollow-1,node-1,"system:nodes"\n')
    serving = config_from_args(build_parser().parse_args(
        ["apiserver", "--port", "0", "--token-auth-file", str(tokens)]))
    assert serving.tls is None
    assert serving.authentication is not None
    async with run_apiserver_inprocess(tmp_path, authentication=serving.authentication) as api:
        status, body, headers = await _whoami(api.url, NODE_TOKEN)
        assert status == 201
        assert body["status"]["userInfo"]["username"] == "system:node:hollow-1"
        assert "system:nodes" in body["status"]["userInfo"]["groups"]
        # APF classified the node by its identity (upstream's system-nodes flow schema), not as exempt
        node_schema = headers["X-Kubernetes-PF-FlowSchema-UID"]

        status, body, headers = await _whoami(api.url, None)
        assert status == 201
        assert body["status"]["userInfo"]["username"] == "system:admin"
        assert "system:masters" in body["status"]["userInfo"]["groups"]
        assert headers["X-Kubernetes-PF-FlowSchema-UID"] != node_schema

        status, body, _ = await _whoami(api.url, "not-in-the-file")
        assert status == 401
        assert body["reason"] == "Unauthorized"


def test_without_a_token_file_plain_http_has_no_authentication() -> None:
    cfg = config_from_args(build_parser().parse_args(["apiserver", "--port", "0"]))
    assert cfg.authentication is None
