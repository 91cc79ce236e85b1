"""Authentication benchmark: the cost of HTTPS + the authentication chain on writes.

    .venv/bin/python bench/authn.py                  # 2,000 creates per run, 16 clients
    .venv/bin/python bench/authn.py --count 500 --clients 64
    .venv/bin/python bench/authn.py --authorization  # the secure runs also pass --authorization-mode Node,RBAC

Starts a real ``sampan apiserver`` process (sqlite storage) per configuration and creates ConfigMaps from
``--clients`` concurrent keep-alive connections, reporting creates/s and p50/p99 latency:

- ``plain``: ``--port`` (plain HTTP on loopback, every request the insecure admin, no authentication);
- ``tls+x509``: ``--secure-port`` with the cluster CA, the admin's client certificate (the x509
  authenticator, verification cached per certificate);
- ``tls+token``: the same server, a bound service-account token (JWT signature cached per token, the
  ServiceAccount looked up in the watch cache on every request).

``--authorization`` adds ``--authorization-mode Node,RBAC`` to the secure runs (the RBAC work; a build
without that flag fails to start and says so). Goal (issue 17): secure creates/s >= 70% of plain. The
machine has 2 cores shared by server and load generator: figures are lower bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp

from sampan._lib.pki import CertificateAuthority, CertSpec, cert_pem, key_pem, write_atomic

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] if ordered else float("nan")


@contextlib.contextmanager
def apiserver(argv: list[str], url: str, ssl_ctx: ssl.SSLContext | None, log: Path) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", "apiserver", *argv], stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"apiserver exited ({proc.returncode}): {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1, context=ssl_ctx):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise SystemExit(f"apiserver not ready: {log.read_text()[-2000:]}") from None
                time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        proc.wait(10)


async def creates(url: str, *, count: int, clients: int, ssl_ctx: ssl.SSLContext | None, token: str | None,
                  namespace: str) -> tuple[float, list[float]]:
    headers = dict(HEADERS)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    latencies: list[float] = []
    names = iter(range(count))
    connector = aiohttp.TCPConnector(ssl=ssl_ctx if ssl_ctx is not None else False, limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async def worker() -> None:
            for i in names:
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i}"}, "data": {"k": "v"}}
                start = time.perf_counter()
                async with session.post(f"{url}/api/v1/namespaces/{namespace}/configmaps", json=body) as resp:
                    await resp.read()
                    if resp.status != 201:
                        raise SystemExit(f"create answered {resp.status}: {await resp.text()}")
                latencies.append(time.perf_counter() - start)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return count / elapsed, latencies


async def request_json(url: str, path: str, body: dict[str, object], ssl_ctx: ssl.SSLContext) -> dict[str, object]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_ctx)) as session, \
            session.post(url + path, json=body, headers=HEADERS) as resp:
        out: dict[str, object] = await resp.json()
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--authorization", action="store_true",
                        help="also pass --authorization-mode Node,RBAC to the secure server")
    parser.add_argument("--audit", action="store_true",
                        help="one more run: tls+x509 with audit on (sampan up's policy, RequestResponse for "
                             "configmaps, a log file)")
    args = parser.parse_args()
    rows: list[tuple[str, float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="sampan-bench-authn-") as tmp:
        work = Path(tmp)
        ca = CertificateAuthority.create()
        write_atomic(work / "ca.crt", ca.pem)
        serving, serving_key = ca.issue(CertSpec("kube-apiserver", dns_names=("localhost",),
                                                 ip_addresses=("127.0.0.1",), server=True, client=False))
        write_atomic(work / "apiserver.crt", cert_pem(serving))
        write_atomic(work / "apiserver.key", key_pem(serving_key), private=True)
        admin, admin_key = ca.issue(CertSpec("kubernetes-admin", organizations=("kubeadm:cluster-admins",)))
        write_atomic(work / "admin.crt", cert_pem(admin))
        write_atomic(work / "admin.key", key_pem(admin_key), private=True)
        admin_ctx = ssl.create_default_context(cafile=str(work / "ca.crt"))
        admin_ctx.load_cert_chain(str(work / "admin.crt"), str(work / "admin.key"))
        token_ctx = ssl.create_default_context(cafile=str(work / "ca.crt"))

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with apiserver(["--port", str(port), "--storage", "sqlite", "--data-dir", str(work / "plain")], url, None,
                       work / "plain.log"):
            rate, lat = asyncio.run(creates(url, count=args.count, clients=args.clients, ssl_ctx=None, token=None,
                                            namespace="default"))
            rows.append(("plain", rate, pct(lat, 50), pct(lat, 99)))

        port = free_port()
        url = f"https://127.0.0.1:{port}"
        secure = ["--secure-port", str(port), "--storage", "sqlite", "--data-dir", str(work / "secure"),
                  "--tls-cert-file", str(work / "apiserver.crt"), "--tls-private-key-file",
                  str(work / "apiserver.key"), "--client-ca-file", str(work / "ca.crt")]
        if args.authorization:
            secure += ["--authorization-mode", "Node,RBAC"]
        with apiserver(secure, url, admin_ctx, work / "secure.log"):
            rate, lat = asyncio.run(creates(url, count=args.count, clients=args.clients, ssl_ctx=admin_ctx,
                                            token=None, namespace="default"))
            rows.append(("tls+x509", rate, pct(lat, 50), pct(lat, 99)))
            asyncio.run(request_json(url, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                   "metadata": {"name": "bench"}}, admin_ctx))
            asyncio.run(request_json(url, "/api/v1/namespaces/bench/serviceaccounts",
                                     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bench"}},
                                     admin_ctx))
            answer = asyncio.run(request_json(url, "/api/v1/namespaces/bench/serviceaccounts/bench/token",
                                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                               "spec": {}}, admin_ctx))
            token = str(answer["status"]["token"])  # type: ignore[index]
            # under RBAC (the secure default) the ServiceAccount needs a grant: cluster-admin in its namespace
            # (edit is aggregated, and no clusterrole-aggregation controller runs here)
            asyncio.run(request_json(url, "/apis/rbac.authorization.k8s.io/v1/namespaces/bench/rolebindings", {
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "bench"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": "bench", "namespace": "bench"}]}, admin_ctx))
            rate, lat = asyncio.run(creates(url, count=args.count, clients=args.clients, ssl_ctx=token_ctx,
                                            token=token, namespace="bench"))
            rows.append(("tls+token", rate, pct(lat, 50), pct(lat, 99)))

        if args.audit:
            from sampan.apiserver.audit.policy import DEFAULT_POLICY

            # every create at RequestResponse (the heaviest level), the rest as sampan up's policy says
            policy = DEFAULT_POLICY.replace("rules:\n", "rules:\n  - level: RequestResponse\n    verbs: [create]\n", 1)
            (work / "audit-policy.yaml").write_text(policy)
            port = free_port()
            url = f"https://127.0.0.1:{port}"
            audited = [*secure, "--audit-policy-file", str(work / "audit-policy.yaml"), "--audit-log-path",
                       str(work / "audit.log"), "--data-dir", str(work / "audited")]
            audited[audited.index("--secure-port") + 1] = str(port)
            with apiserver(audited, url, admin_ctx, work / "audited.log"):
                rate, lat = asyncio.run(creates(url, count=args.count, clients=args.clients, ssl_ctx=admin_ctx,
                                                token=None, namespace="default"))
                rows.append(("x509+audit", rate, pct(lat, 50), pct(lat, 99)))
            lines = len((work / "audit.log").read_bytes().splitlines())
            print(f"audit log: {lines} events, {(work / 'audit.log').stat().st_size // 1024} KiB")

    plain = rows[0][1]
    authz = " + authorization (Node,RBAC)" if args.authorization else ""
    print(f"configmap creates, {args.count} per run, {args.clients} clients, sqlite{authz}")
    print(f"{'run':<12}{'creates/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'vs plain':>10}")
    for name, rate, p50, p99 in rows:
        print(f"{name:<12}{rate:>12.0f}{p50 * 1000:>10.1f}{p99 * 1000:>10.1f}{rate / plain:>10.0%}")


if __name__ == "__main__":
    main()
