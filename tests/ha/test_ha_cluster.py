"""``sampan up --control-plane-nodes 3``: 3 etcd members, 3 API servers behind HAProxy, 3 schedulers and
3 controller-managers, on simulated nodes (no kernel objects). One cluster for the module, secure as
``sampan up`` makes it by default: every request goes over TLS with the cluster's CA verified and the admin's
client certificate, to the balancer (TLS passes through it) or to each API server by its own address:

* 200 Services created concurrently through the 3 API servers directly get 200 distinct cluster IPs;
* the ``kubernetes`` Service lists every API server; ``sampan status`` names the leaders;
* failover: while 16 writers write and 50 informers (sampan.client) watch through the balancer, kill -9 in
  turn the etcd leader, the API server with the most watchers, the leading scheduler and the leading
  controller-manager: every acknowledged write is in the store, every watcher ends with the store's
  state without a duplicate or out-of-order event and relisted only after a 410, a new leader takes
  over, kubectl keeps working through the balancer.
* ``sampan etcd snapshot save`` → delete a namespace → ``restore`` into a new 3-member cluster: it is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import ssl
import subprocess
import time
import urllib.error
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.ha.support import (
    apiserver_argv,
    etcd_leader,
    etcd_statuses,
    kill9,
    metric_sum,
    needs_etcd_and_haproxy,
    pids_matching,
    processes,
    ready,
    request,
    sampan,
    wait_until,
)
from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow, needs_etcd_and_haproxy]

LEASE_DURATION = 4.0
WRITERS, WATCHERS = 16, 50
NS = "chaos"


@dataclass
class Cluster:
    data_dir: Path
    env: dict[str, str]
    state: dict[str, Any]
    tls: ssl.SSLContext
    """The cluster CA (verified, host names included) and the admin's client certificate."""
    etcd_tls: ssl.SSLContext
    """etcd's CA and its health-check client certificate (the members require client certificates)."""

    def call(self, method: str, url: str, body: dict[str, Any] | None = None, *, timeout: float = 10) -> Any:
        return request(method, url, body, timeout=timeout, context=self.tls)

    def ready(self, url: str) -> bool:
        return ready(url, context=self.tls)

    def watchers(self, url: str) -> float:
        return metric_sum(url, "apiserver_registered_watchers", context=self.tls)

    @property
    def lb(self) -> str:
        return str(self.state["server"])

    @property
    def apiservers(self) -> list[str]:
        return [a["url"] for a in self.state["control_plane"]["apiservers"]]

    @property
    def members(self) -> list[dict[str, Any]]:
        return list(self.state["control_plane"]["etcd_members"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("ha") / "cluster"
    env = {**os.environ, "KUBECONFIG": str(data / "kubeconfig")}
    result = sampan("up", "--data-dir", str(data), "--port", "0", "--control-plane-nodes", "3", "--nodes", "2",
                    "--runtime", "simulated", "--detach", "--no-merge-kubeconfig",
                    "--leader-elect-lease-duration", f"{LEASE_DURATION:.0f}s", "--leader-elect-renew-deadline", "3s",
                    "--leader-elect-retry-period", "500ms", env=env, timeout=200)
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        state = json.loads((data / "up.json").read_text())
        assert state["server"].startswith("https://")
        assert all(a["url"].startswith("https://") for a in state["control_plane"]["apiservers"])
        from sampan.cli.pki import admin_ssl_context

        tls = admin_ssl_context(data)
        assert tls is not None
        from sampan.cli.ha_status import etcd_context

        assert all(m["client_url"].startswith("https://") for m in state["control_plane"]["etcd_members"])
        etcd_tls = etcd_context(state["control_plane"]["etcd_client"])
        assert etcd_tls is not None
        yield Cluster(data, env, state, tls, etcd_tls)
    finally:
        sampan("down", "--data-dir", str(data), env=env, timeout=60)


def kubectl(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], env=cluster.env, capture_output=True, text=True, timeout=30, check=False)


def kubectl_works(cluster: Cluster) -> int:
    """Attempts kubectl needed through the balancer (at most 3)."""
    for attempt in range(1, 4):
        if kubectl(cluster, "get", "configmaps", "-n", NS, "-o", "name").returncode == 0:
            return attempt
        time.sleep(1)
    raise AssertionError("kubectl failed 3 times in a row through the balancer")


def test_every_api_server_is_an_endpoint_of_the_kubernetes_service(cluster: Cluster) -> None:
    ports = sorted(int(u.rsplit(":", 1)[1]) for u in cluster.apiservers)

    def listed() -> bool:
        ep = cluster.call("GET", f"{cluster.lb}/api/v1/namespaces/default/endpoints/kubernetes")
        return sorted(p["port"] for s in ep.get("subsets") or [] for p in s["ports"]) == ports

    wait_until(listed, 30, "the kubernetes endpoints to list all 3 API servers")
    status = sampan("status", "--data-dir", str(cluster.data_dir), env={**cluster.env, "COLUMNS": "200"})
    assert status.returncode == 0, status.stderr
    assert status.stdout.count("healthy, leader") == 1
    # each API server probed over TLS by its own address, and the balancer passing TLS through
    assert status.stdout.count(" ready (https://127.0.0.1:") == 4, status.stdout
    assert "not ready" not in status.stdout, status.stdout
    assert "scheduler leader" in status.stdout
    assert "scheduler-" in status.stdout


def test_200_concurrent_services_on_3_servers_get_distinct_ips(cluster: Cluster) -> None:
    servers = cluster.apiservers

    def create(i: int) -> tuple[str, list[int]]:
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc-{i}"},
                "spec": {"type": "NodePort" if i % 4 == 0 else "ClusterIP", "ports": [{"port": 80}]}}
        svc = cluster.call("POST", f"{servers[i % 3]}/api/v1/namespaces/default/services", body, timeout=60)
        return svc["spec"]["clusterIP"], [p["nodePort"] for p in svc["spec"]["ports"] if p.get("nodePort")]

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(create, range(200)))
    ips = [ip for ip, _ in results]
    ports = [p for _, ps in results for p in ps]
    assert len(set(ips)) == 200
    assert len(ports) == 50
    assert len(set(ports)) == 50
    stored = cluster.call("GET", f"{cluster.lb}/api/v1/namespaces/default/services")["items"]
    assert len({s["spec"]["clusterIP"] for s in stored if s["metadata"]["name"].startswith("svc-")}) == 200


def test_a_consistent_list_on_one_server_sees_a_write_acknowledged_by_another(cluster: Cluster) -> None:
    servers = cluster.apiservers
    cluster.call("POST", f"{cluster.lb}/api/v1/namespaces", {"metadata": {"name": "rw"}})
    for i in range(60):
        writer, reader = servers[i % 3], servers[(i + 1) % 3]
        created = cluster.call("POST", f"{writer}/api/v1/namespaces/rw/configmaps", {"metadata": {"name": f"c{i}"}})
        listed = cluster.call("GET", f"{reader}/api/v1/namespaces/rw/configmaps")  # no resourceVersion: consistent
        assert int(listed["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])
        assert f"c{i}" in {o["metadata"]["name"] for o in listed["items"]}


# -- failover ----------------------------------------------------------------------------------------------


@dataclass
class WatcherLog:
    """What one informer's handler saw: the newest resourceVersion per name and any violation."""

    seen: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def on_add(self, obj: dict[str, Any]) -> None:
        name, rv = obj["metadata"]["name"], int(obj["metadata"]["resourceVersion"])
        if name in self.seen and self.seen[name] >= rv:
            self.violations.append(f"add {name}@{rv} after {self.seen[name]}")
        self.seen[name] = max(rv, self.seen.get(name, 0))

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        name, rv = new["metadata"]["name"], int(new["metadata"]["resourceVersion"])
        if rv == self.seen.get(name):
            return  # a relist's unchanged object: the informer's resync, not an event
        if rv < self.seen.get(name, 0):
            self.violations.append(f"update {name}@{rv} after {self.seen[name]}")
        self.seen[name] = max(rv, self.seen.get(name, 0))

    def on_delete(self, obj: dict[str, Any]) -> None:
        self.violations.append(f"delete {obj['metadata']['name']} (nothing is deleted)")


@dataclass
class Acked:
    creates: dict[str, int] = field(default_factory=dict)
    patches: dict[str, int] = field(default_factory=dict)
    failures: int = 0

    @property
    def count(self) -> int:
        return len(self.creates) + len(self.patches)


async def _writer(k: int, cms: Any, acked: Acked, stop: asyncio.Event) -> None:
    from sampan.api import errors

    i = 0
    while not stop.is_set():
        name = f"w{k}-{i}"
        try:
            obj = await cms.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
                                    "data": {"n": "0"}}, namespace=NS)
            acked.creates[name] = int(obj["metadata"]["resourceVersion"])
            i += 1
            if i % 3 == 0:
                prev = f"w{k}-{i - 2}"
                patched = await cms.patch(prev, {"data": {"n": "1"}}, namespace=NS)
                acked.patches[prev] = int(patched["metadata"]["resourceVersion"])
        except errors.AlreadyExists:
            i += 1  # an earlier attempt that was not acknowledged did happen
        except Exception:
            acked.failures += 1
            await asyncio.sleep(0.2)


async def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(pred)
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _lease(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(cluster.call("GET", f"{cluster.lb}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}"))


def _renewed_after(lease: dict[str, Any], when: float) -> bool:
    renew = lease["spec"].get("renewTime")
    return bool(renew) and datetime.fromisoformat(renew.replace("Z", "+00:00")).timestamp() > when


async def _kill_leader(cluster: Cluster, lease_name: str) -> str:
    """Kill -9 the process holding ``lease_name``; wait for a live holder that renewed after the kill."""
    holder = _lease(cluster, lease_name)["spec"]["holderIdentity"]
    pids = pids_matching("--identity", holder, str(cluster.data_dir))
    assert len(pids) == 1, (holder, pids)
    killed_at = time.time()
    kill9(pids[0])

    def taken_over() -> bool:
        try:
            lease = _lease(cluster, lease_name)
        except (urllib.error.URLError, OSError):
            return False
        now_holder = lease["spec"].get("holderIdentity")
        live = pids_matching("--identity", now_holder, str(cluster.data_dir)) if now_holder else []
        return bool(live) and live != pids and _renewed_after(lease, killed_at)

    await _wait(taken_over, 15 + LEASE_DURATION, f"a new {lease_name} leader")  # 15 s: upstream's lease
    return str(holder)


async def _kill_etcd_leader(cluster: Cluster) -> str:
    """Kill -9 the etcd leader; wait for a leader elected after it: a member that leads at a higher raft term.
    ``sampan up`` restarts the killed member after 1 s, so that member may win the new election itself
    (it then leads again, at a higher term): that is a new leader too."""
    before = etcd_leader(cluster.members, context=cluster.etcd_tls)
    assert before is not None
    leader, term = before
    pids = pids_matching(f"--name={leader}", str(cluster.data_dir))
    assert len(pids) == 1
    kill9(pids[0])

    def elected() -> tuple[str, int] | None:
        now = etcd_leader(cluster.members, context=cluster.etcd_tls)
        return now if now is not None and now[1] > term else None

    try:
        await _wait(elected, 30, f"an etcd leader at a raft term after {term} (killed leader: {leader})")
    except AssertionError as e:
        raise AssertionError(f"{e}; members: {etcd_statuses(cluster.members, context=cluster.etcd_tls)}") from e
    return leader


async def _kill_busiest_apiserver(cluster: Cluster) -> str:
    counts = {u: cluster.watchers(u) for u in cluster.apiservers}
    victim = max(counts, key=lambda u: counts[u])
    pids = pids_matching("apiserver", "--secure-port", victim.rsplit(":", 1)[1], str(cluster.data_dir))
    assert len(pids) == 1
    kill9(pids[0])
    await _wait(lambda: cluster.ready(victim), 60, "the killed API server to be restarted")
    return victim


def _new_leaders_work(cluster: Cluster) -> None:
    """The scheduler that took over binds a new pod; the controller-manager that took over gives a new
    namespace its ``default`` ServiceAccount."""
    cluster.call("POST", f"{cluster.lb}/api/v1/namespaces", {"metadata": {"name": "after"}})

    def has_default_sa() -> bool:
        try:
            cluster.call("GET", f"{cluster.lb}/api/v1/namespaces/after/serviceaccounts/default")
        except urllib.error.HTTPError:
            return False
        return True

    # first the account (ServiceAccount admission refuses pods in a namespace that has none yet, as upstream)
    wait_until(has_default_sa, 60, "the new controller-manager leader to create the default ServiceAccount")
    cluster.call("POST", f"{cluster.lb}/api/v1/namespaces/after/pods",
            {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    wait_until(lambda: cluster.call("GET", f"{cluster.lb}/api/v1/namespaces/after/pods/p")["spec"].get("nodeName"),
               60, "the new scheduler leader to bind a pod")


async def test_failover_loses_no_acknowledged_write_and_no_watch_event(cluster: Cluster) -> None:
    from sampan.client import Client, load_config
    from sampan.client.cache.handlers import EventHandlerFuncs
    from sampan.client.informers import SharedInformerFactory

    cluster.call("POST", f"{cluster.lb}/api/v1/namespaces", {"metadata": {"name": NS}})
    config = dataclasses.replace(load_config(cluster.env["KUBECONFIG"]), qps=0, timeout=15)
    assert config.host == cluster.lb
    logs = [WatcherLog() for _ in range(WATCHERS)]
    acked, stop = Acked(), asyncio.Event()
    async with Client(config) as client:
        factories = [SharedInformerFactory(client, namespace=NS) for _ in range(WATCHERS)]
        informers = []
        for factory, log in zip(factories, logs, strict=True):
            informer = factory.informer("v1", "configmaps")
            informer.add_event_handler(EventHandlerFuncs(on_add_func=log.on_add, on_update_func=log.on_update,
                                                         on_delete_func=log.on_delete))
            informers.append(informer)
            factory.start()
        try:
            for factory in factories:
                assert all((await factory.wait_for_cache_sync(timeout=60)).values())
            # watches spread over the servers: each one's /metrics counts some of them
            await _wait(lambda: all(cluster.watchers(u) > 0 for u in cluster.apiservers),
                        30, "watchers on every API server")
            cms = await client.resource("v1", "configmaps")
            writers = [asyncio.create_task(_writer(k, cms, acked, stop)) for k in range(WRITERS)]
            try:
                victims = []
                await _wait(lambda: acked.count >= 50, 60, "writes before the first kill")
                # the writes acknowledged after one kill are the writes before the next
                for kill in (_kill_etcd_leader, _kill_busiest_apiserver,
                             lambda c: _kill_leader(c, "kube-scheduler"),
                             lambda c: _kill_leader(c, "kube-controller-manager")):
                    victims.append(await kill(cluster))
                    assert await asyncio.to_thread(kubectl_works, cluster) <= 3
                    after = acked.count
                    await _wait(lambda a=after: acked.count >= a + 50, 60, "writes after the kill")
            finally:
                stop.set()
                await asyncio.gather(*writers)
            await asyncio.to_thread(_new_leaders_work, cluster)
            final_list = cluster.call("GET", f"{cluster.lb}/api/v1/namespaces/{NS}/configmaps")
            final = {o["metadata"]["name"]: int(o["metadata"]["resourceVersion"]) for o in final_list["items"]}
            missing = [n for n in acked.creates if n not in final]
            assert not missing, f"acknowledged creates lost: {missing[:5]}"
            stale = [n for n, rv in acked.patches.items() if final[n] < rv]
            assert not stale, f"acknowledged patches lost: {stale[:5]}"
            for i, log in enumerate(logs):
                await _wait(lambda lg=log: lg.seen == final, 60, f"watcher {i} to reach the final state")
                assert not log.violations, f"watcher {i}: {log.violations[:5]}"
            for informer in informers:
                stats = informer.reflector.stats
                # every LIST after the first was forced by a 410: resumed watches did not relist
                assert stats.lists - 1 <= stats.expired, stats
            assert sum(i.reflector.stats.watches for i in informers) > WATCHERS  # some watches did break
            assert len(acked.creates) >= 400
            assert victims
        finally:
            for factory in factories:
                await factory.shutdown()


# -- etcd snapshot -----------------------------------------------------------------------------------------


def test_snapshot_save_then_restore_into_a_new_cluster_brings_a_namespace_back(cluster: Cluster,
                                                                               tmp_path: Path) -> None:
    cluster.call("POST", f"{cluster.lb}/api/v1/namespaces", {"metadata": {"name": "keep-me"}})
    cluster.call("POST", f"{cluster.lb}/api/v1/namespaces/keep-me/configmaps",
            {"metadata": {"name": "cm"}, "data": {"k": "v"}})
    snapshot = tmp_path / "etcd.snapshot"
    saved = sampan("etcd", "snapshot", "save", str(snapshot), "--data-dir", str(cluster.data_dir))
    assert saved.returncode == 0, saved.stderr
    cluster.call("DELETE", f"{cluster.lb}/api/v1/namespaces/keep-me")
    wait_until(lambda: "keep-me" not in kubectl(cluster, "get", "namespaces", "-o", "name").stdout, 60,
               "the namespace to be gone")

    new = tmp_path / "restored"
    restored = sampan("etcd", "snapshot", "restore", str(snapshot), "--data-dir", str(new),
                      "--control-plane-nodes", "3")
    assert restored.returncode == 0, restored.stderr
    again = sampan("etcd", "snapshot", "restore", str(snapshot), "--data-dir", str(new))
    assert again.returncode != 0
    assert "restore into a new data dir" in again.stderr

    from sampan.cli import ha_plane

    plan = ha_plane.read_plan(new)
    assert plan is not None
    assert len(plan.members) == 3
    port = free_port()
    argvs = [list(ha_plane.etcd_argv(m, plan, data_dir=new)) for m in plan.members]
    assert plan.tls  # a restored cluster is secure too: etcd's own CA in the new data dir
    argvs.append(apiserver_argv(data_dir=new, port=port, etcd_servers=plan.etcd_servers)
                 + list(ha_plane.apiserver_etcd_args(new, plan)))
    with processes(argvs, tmp_path / "logs"):
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: ready(url), 60, "the API server over the restored etcd")
        ns = request("GET", f"{url}/api/v1/namespaces/keep-me")
        assert ns["status"]["phase"] == "Active"
        assert request("GET", f"{url}/api/v1/namespaces/keep-me/configmaps/cm")["data"] == {"k": "v"}
