"""The real kubectl (1.27, 1.32, 1.33) and the official ``kubernetes`` Python client against the HTTPS
server: admin kubeconfig with a client certificate (as ``sampan up`` writes it), tokens, ``auth whoami``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.apiserver.authn.conftest import STATIC_TOKEN, SecureServer


def versioned_kubectl(version: str) -> str | None:
    dispatcher = shutil.which("kubectl")
    if dispatcher is None:
        return None
    path = Path(os.path.realpath(dispatcher)).parent / f"kubectl.{version}"
    return str(path) if path.exists() else None


async def run(binary: str, kubeconfig: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(binary, "--kubeconfig", str(kubeconfig), *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("version", ["1.27", "1.32", "1.33"])
async def test_kubectl_with_admin_certificate_and_tokens(secure: SecureServer, version: str) -> None:
    kubectl = versioned_kubectl(version)
    if kubectl is None:
        pytest.skip(f"kubectl.{version} is not installed")
    admin = secure.kubeconfig("admin", common_name="kubernetes-admin", groups=("kubeadm:cluster-admins",))
    code, out, err = await run(kubectl, admin, "get", "namespaces", "-o", "name")
    assert code == 0, err
    assert "namespace/kube-system" in out.split()
    code, out, err = await run(kubectl, admin, "create", "configmap", f"made-by-{version.replace('.', '-')}",
                               "--from-literal=a=b")
    assert code == 0, err
    code, out, err = await run(kubectl, admin, "auth", "whoami", "-o", "json")
    assert code == 0, err
    assert json.loads(out)["status"]["userInfo"] == {"username": "kubernetes-admin",
                                                     "groups": ["kubeadm:cluster-admins", "system:authenticated"]}
    code, out, err = await run(kubectl, admin, "auth", "whoami")
    assert code == 0, err
    assert "kubernetes-admin" in out

    alice = secure.kubeconfig("alice", token=STATIC_TOKEN)
    code, out, err = await run(kubectl, alice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert (code, out) == (0, "alice"), err

    nobody = secure.kubeconfig("nobody", token="not-a-token")
    code, out, err = await run(kubectl, nobody, "get", "pods")
    assert code != 0
    assert "Unauthorized" in err or "must be logged in" in err


async def test_kubectl_create_token_works_as_a_credential(secure: SecureServer) -> None:
    kubectl = versioned_kubectl("1.32") or shutil.which("kubectl")
    assert kubectl
    admin = secure.kubeconfig("admin", common_name="kubernetes-admin", groups=("kubeadm:cluster-admins",))
    code, _, err = await run(kubectl, admin, "create", "serviceaccount", "robot")
    assert code == 0, err
    code, token, err = await run(kubectl, admin, "create", "token", "robot")
    assert code == 0, err
    robot = secure.kubeconfig("robot", token=token.strip())
    code, out, err = await run(kubectl, robot, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert (code, out) == (0, "system:serviceaccount:default:robot"), err


async def test_official_python_client_with_the_admin_kubeconfig(secure: SecureServer) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    admin = secure.kubeconfig("admin", common_name="kubernetes-admin", groups=("kubeadm:cluster-admins",))

    def use() -> tuple[list[str], str]:
        api_client = kubernetes.config.new_client_from_config(config_file=str(admin))
        try:
            names = [ns.metadata.name for ns in kubernetes.client.CoreV1Api(api_client).list_namespace().items]
            review = kubernetes.client.AuthenticationV1Api(api_client).create_self_subject_review(
                kubernetes.client.V1SelfSubjectReview())
            return names, review.status.user_info.username
        finally:
            api_client.close()

    names, user = await asyncio.to_thread(use)
    assert "kube-system" in names
    assert user == "kubernetes-admin"

    nobody = secure.kubeconfig("nobody", token="not-a-token")

    def refused() -> int:
        api_client = kubernetes.config.new_client_from_config(config_file=str(nobody))
        try:
            kubernetes.client.CoreV1Api(api_client).list_namespace()
        except kubernetes.client.ApiException as exc:
            return int(exc.status)
        finally:
            api_client.close()
        return 200

    assert await asyncio.to_thread(refused) == 401
