"""The sync loop and the backends' bookkeeping, with a fake kernel (no root needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from sampan.proxy.iptables.ruleset import IptablesConfig, render
from sampan.proxy.model import ServiceKey
from sampan.proxy.nftables import backend as nft_backend
from sampan.proxy.nftables.fragments import Scope
from sampan.proxy.nftables.ruleset import TableConfig
from sampan.proxy.proxier import Proxier
from sampan.proxy.snapshot import ServiceState
from tests.proxy.builders import endpoint, endpoint_slice, service


class FakeBackend:
    name = "nftables"

    def __init__(self) -> None:
        self.calls: list[tuple[str, set[str]]] = []
        self.fail_next = False

    async def sync_full(self, services: Mapping[ServiceKey, ServiceState]) -> None:
        self._record("full", {k.name for k in services})

    async def sync_partial(self, changed: Mapping[ServiceKey, ServiceState | None]) -> None:
        self._record("partial", {k.name for k in changed})

    def _record(self, kind: str, names: set[str]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("nft failed")
        self.calls.append((kind, names))

    async def cleanup(self) -> None:
        pass


async def _until(predicate: object, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_first_full_then_partial_then_full_after_failure() -> None:
    be = FakeBackend()
    p = Proxier(be, sync_period=3600, min_sync_period=0)
    p.on_service(service("a", "100.96.0.1"))
    p.on_slice(endpoint_slice("a", [endpoint("100.64.0.5")]))
    task = asyncio.create_task(p.run())
    try:
        await asyncio.sleep(0.05)
        assert be.calls == []  # nothing before the caches synced
        p.ready.set()
        await _until(lambda: be.calls)
        assert be.calls[0] == ("full", {"a"})
        p.on_service(service("b", "100.96.0.2"))
        await _until(lambda: len(be.calls) == 2)
        assert be.calls[1] == ("partial", {"b"})
        be.fail_next = True
        p.on_slice(endpoint_slice("b", [endpoint("100.64.0.6")]))
        await _until(lambda: len(be.calls) == 3, timeout=10)
        assert be.calls[2] == ("full", {"a", "b"})  # retried as a full sync
        assert p.syncs["failed"] == 1
        assert p.health.healthy()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_periodic_full_resync() -> None:
    be = FakeBackend()
    p = Proxier(be, sync_period=0.2, min_sync_period=0)
    p.ready.set()
    task = asyncio.create_task(p.run())
    try:
        await _until(lambda: sum(1 for k, _ in be.calls if k == "full") >= 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_nft_backend_partial_bookkeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []

    async def fake_nft(*args: str, stdin: str | None = None) -> str:
        if args[:3] == ("-j", "-t", "list"):
            return '{"nftables": []}'
        sent.append(stdin or "")
        return ""

    monkeypatch.setattr(nft_backend, "run_nft", fake_nft)
    be = nft_backend.NftablesBackend(TableConfig(table="sampan-proxy-t", scope=Scope(node_name="n1")))
    p = Proxier(be)

    def state(name: str) -> ServiceState | None:
        return p._state(ServiceKey("default", name))

    p.on_service(service("a", "100.96.0.1"))
    p.on_service(service("dup", "100.96.0.1"))  # same VIP and port: the first owner keeps it
    p.on_slice(endpoint_slice("a", [endpoint("100.64.0.5")]))
    await be.sync_full({k: s for k in p.tracker.services if (s := state(k.name)) is not None})
    assert "add element ip sampan-proxy-t service-ips { 100.96.0.1 . tcp . 80 : goto service-" in sent[-1]
    assert be.owners[("service-ips", "100.96.0.1 . tcp . 80")] == ServiceKey("default", "a")
    # deleting the duplicate removes only its own elements, never a's
    p.on_service_delete(service("dup", "100.96.0.1"))
    await be.sync_partial({ServiceKey("default", "dup"): None})
    assert "delete element ip sampan-proxy-t service-ips" not in "".join(sent[1:])
    assert "delete element ip sampan-proxy-t cluster-ips" not in "".join(sent[1:])
    # a's endpoints go: its element moves to no-endpoint-services
    p.on_slice_delete(endpoint_slice("a", []))
    await be.sync_partial({ServiceKey("default", "a"): state("a")})
    assert "delete element ip sampan-proxy-t service-ips { 100.96.0.1 . tcp . 80 }" in sent[-1]
    assert "no-endpoint-services { 100.96.0.1 . tcp . 80 : goto reject-chain }" in sent[-1]


def test_iptables_render() -> None:
    from sampan.proxy.model import service_ports, slice_endpoints

    svc = service("web", "100.96.0.20", type_="NodePort", node_port=30080, affinity=30)
    eps = slice_endpoints(endpoint_slice("web", [endpoint("100.64.0.5"), endpoint("100.64.0.6")]))
    empty = service("empty", "100.96.0.21")
    states = {ServiceKey("default", "web"): ServiceState(service_ports(svc), eps),
              ServiceKey("default", "empty"): ServiceState(service_ports(empty), {})}
    cfg = IptablesConfig(node_name="n1", scope=Scope(node_name="n1", local_interface="sampan0"),
                         reject_cidrs=("100.96.0.0/16",))
    out = render(cfg, states, stale_nat={f"{cfg.prefix}SVC-OLDOLDOLDOLD"})
    assert "-m statistic --mode random --probability 0.5000000000" in out
    assert "--to-destination 100.64.0.5:8080" in out
    assert "-m recent --name" in out
    assert "--rcheck --seconds 30 --reap" in out
    assert "-d 100.96.0.21/32 -p tcp -m tcp --dport 80 -j REJECT" in out
    assert "-d 100.96.0.0/16 -j REJECT" in out
    assert f"-X {cfg.prefix}SVC-OLDOLDOLDOLD" in out
    assert all(len(ln.split()[0][1:]) <= 28 for ln in out.splitlines() if ln.startswith(":"))
