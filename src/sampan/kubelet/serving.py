"""What the kubelet server needs beyond logs: its TLS context, the authentication/authorization filter of
its callers, stats and streaming (exec/attach/port-forward) routes, TokenRequests for projected tokens."""

from __future__ import annotations

import ssl
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from sampan.client.dynamic import Client
from sampan.kubelet.options import KubeletOptions
from sampan.kubelet.runtime.interface import ContainerState, ContainerStatus, Runtime, SandboxState
from sampan.kubelet.server_auth import KubeletAuth
from sampan.kubelet.sources import KubeletSources
from sampan.kubelet.stats.endpoints import StatsEndpoints
from sampan.kubelet.streaming.runtimes import streaming_for
from sampan.kubelet.streaming.server import StreamingOptions, StreamingServer


class KubeletServing:
    """The kubelet server's extra parts: TLS, authentication/authorization of its callers, stats and
    streaming routes, and TokenRequests for projected tokens. A part of
    :class:`~sampan.kubelet.kubelet.Kubelet`, which owns the attributes declared here."""

    client: Client
    options: KubeletOptions
    runtime: Runtime
    sources: KubeletSources
    stats: StatsEndpoints
    streaming: StreamingServer | None
    server_auth: KubeletAuth

    async def _find_containers(self, namespace: str, name: str, container: str) -> list[ContainerStatus] | None:
        raise NotImplementedError  # PodEvents'

    async def _request_token(self, namespace: str, account: str, body: dict[str, Any]) -> dict[str, Any]:
        """TokenRequest for a pod's projected service-account token."""
        answer: dict[str, Any] = await self.client.rest.request(
            "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", body=body)
        return answer

    def _extra_routes(self, app: web.Application) -> None:
        """The kubelet server's routes beyond logs: stats always, streaming when the runtime has it."""
        self.stats.register(app)
        if self.streaming is not None:
            self.streaming.register(app)

    def _serving_tls(self) -> ssl.SSLContext | None:
        """The kubelet server's TLS context, or None. With a client CA, client certificates are required
        at the TLS layer unless bearer tokens may authenticate too (``--authentication-token-webhook``)."""
        options = self.options
        if options.tls_cert_file is None:
            return None
        from sampan._lib.pki import server_ssl_context

        return server_ssl_context(options.tls_cert_file, options.tls_private_key_file or options.tls_cert_file,
                                  client_ca_file=options.client_ca_file,
                                  require_client_certificate=options.client_ca_file is not None
                                  and not options.server_auth.token_webhook)

    def _server_auth(self) -> list[Middleware]:
        """The kubelet API's authentication/authorization filter (none when everything is allowed)."""
        if self.options.server_auth.default:
            return []

        async def review(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer: dict[str, Any] = await self.client.rest.request("POST", path, body=body)
            return answer

        self.server_auth = KubeletAuth(self.options.server_auth, node_name=self.options.node_name, review=review)
        return [self.server_auth.middleware()]

    def _streaming_server(self) -> StreamingServer | None:
        """exec/attach/port-forward for runtimes that implement the streaming seam (process, CRI)."""
        streaming = streaming_for(self.runtime)
        if streaming is None:
            return None
        return StreamingServer(streaming, find_container=self._running_container,
                               find_sandbox=self._ready_sandbox,
                               options=StreamingOptions(idle_timeout=self.options.streaming_connection_idle_timeout))

    async def _running_container(self, namespace: str, name: str, container: str) -> str | None:
        records = await self._find_containers(namespace, name, container)
        if records and records[0].state is ContainerState.RUNNING:
            return records[0].id
        return None

    async def _ready_sandbox(self, namespace: str, name: str) -> str | None:
        pod = self.sources.pods.indexer.get_by_key(f"{namespace}/{name}")
        if pod is None:
            return None
        uid = (pod.get("metadata") or {}).get("uid", "")
        for sb in await self.runtime.list_pod_sandboxes(uid):
            if sb.state is SandboxState.READY:
                return sb.id
        return None
