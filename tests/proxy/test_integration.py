"""kube-proxy against the kernel: a real API server, a real ``sampan proxy`` process, endpoints in network
namespaces (see ``lab``). Root only; run under ``flock /tmp/sampan-net.lock``. Tests share one lab, API
server and proxy (module scope) and run in file order; each uses its own Service and virtual IP."""

from __future__ import annotations

import collections
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.proxy import lab
from tests.proxy.builders import endpoint, endpoint_slice, service
from tests.proxy.harness import Api, ProxyProcess, cleanup_cli, wait_for
from tests.support.apiserver import run_apiserver_process

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(lab.skip_reason()), reason=lab.skip_reason())]

ENDPOINTS = 5


@dataclass
class Env:
    lab: lab.Lab
    api: Api
    proxy: ProxyProcess
    workdir: Path

    def eps(self, *names: str) -> list[dict[str, object]]:
        return [endpoint(self.lab.endpoints[n], lab.NODE) for n in names]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    work = tmp_path_factory.mktemp("proxy")
    the_lab = lab.Lab(work).open()
    proxy = None
    try:
        for i in range(ENDPOINTS):
            the_lab.add_endpoint(i)
        # the lab's VIPs are in its own range: the API server allocates and validates cluster IPs there
        with run_apiserver_process(work / "api", extra_args=("--service-cluster-ip-range", lab.SERVICE_CIDR)) \
                as server:
            proxy = ProxyProcess(work, server.kubeconfig).start()
            lab.wait_routed("100.124.0.1")
            yield Env(the_lab, Api(server.url), proxy, work)
            proxy.stop()
    finally:
        if proxy is not None:
            proxy.stop()
        the_lab.close()
        cleanup_cli()


def hits(url: str, n: int) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        try:
            out[lab.http_get(url)] += 1
        except OSError as e:
            out[f"ERR {type(e).__name__}"] += 1
    return out


def make_service(env: Env, name: str, ip: str, eps: list[str], **kw: object) -> dict[str, object]:
    svc = service(name, ip, **kw)  # type: ignore[arg-type]
    env.api.create(svc)
    env.api.create(endpoint_slice(name, env.eps(*eps)))
    return svc


def test_vip_reaches_every_ready_endpoint(env: Env) -> None:
    make_service(env, "web", "100.124.0.10", ["e0", "e1", "e2"])
    wait_for(lambda: hits("http://100.124.0.10/", 1)["ERR URLError"] == 0, "web programmed")
    got = hits("http://100.124.0.10/", 90)
    assert set(got) == {"e0", "e1", "e2"}, got
    from_pod = collections.Counter(env.lab.from_client("http://100.124.0.10/", 60))
    assert set(from_pod) == {"e0", "e1", "e2"}, from_pod


def test_scale_changes_are_followed(env: Env) -> None:
    make_service(env, "scale", "100.124.0.11", ["e0", "e1", "e2"])
    wait_for(lambda: set(hits("http://100.124.0.11/", 30)) == {"e0", "e1", "e2"}, "three backends")
    env.api.replace(endpoint_slice("scale", env.eps("e3")))
    wait_for(lambda: set(hits("http://100.124.0.11/", 10)) == {"e3"}, "scaled to one")
    assert set(hits("http://100.124.0.11/", 40)) == {"e3"}
    env.api.replace(endpoint_slice("scale", env.eps(*(f"e{i}" for i in range(ENDPOINTS)))))
    wait_for(lambda: set(hits("http://100.124.0.11/", 60)) == {f"e{i}" for i in range(ENDPOINTS)}, "five backends")
    # not ready -> no traffic
    eps = env.eps("e0", "e1")
    eps[1] = endpoint(env.lab.endpoints["e1"], lab.NODE, ready=False, serving=False)
    env.api.replace(endpoint_slice("scale", eps))
    wait_for(lambda: set(hits("http://100.124.0.11/", 10)) == {"e0"}, "unready endpoint left out")
    assert set(hits("http://100.124.0.11/", 40)) == {"e0"}
    assert "kubeproxy_sync_partial_proxy_rules_duration_seconds_count" in env.proxy.metrics()


def test_service_without_endpoints_refuses_at_once(env: Env) -> None:
    make_service(env, "empty", "100.124.0.12", [])
    wait_for(lambda: lab.connect_error("100.124.0.12", 80) == "ConnectionRefusedError", "refused")
    assert lab.connect_error("100.124.0.12", 80, timeout=5) == "ConnectionRefusedError"


def test_unallocated_and_unknown_port_refused(env: Env) -> None:
    assert lab.routed_locally("100.124.77.7")
    assert lab.connect_error("100.124.77.7", 80, timeout=5) == "ConnectionRefusedError"
    assert lab.connect_error("100.124.0.10", 81, timeout=5) == "ConnectionRefusedError"
    assert lab.routed_locally("100.127.241.99")
    assert lab.connect_error("100.127.241.99", 80, timeout=5) == "ConnectionRefusedError"


def test_node_port_answers_on_the_node_address(env: Env) -> None:
    make_service(env, "np", "100.124.0.13", ["e0", "e1"], type_="NodePort", node_port=30123)
    wait_for(lambda: set(hits("http://127.0.0.1:30123/", 20)) == {"e0", "e1"}, "node port")


def test_load_balancer_ip_answers(env: Env) -> None:
    svc = make_service(env, "lb", "100.124.0.14", ["e2"], type_="LoadBalancer", node_port=30124)
    env.api.set_status(svc, {"loadBalancer": {"ingress": [{"ip": "100.127.241.5"}]}})
    wait_for(lambda: set(hits("http://100.127.241.5/", 5)) == {"e2"}, "load-balancer IP")


def test_session_affinity_pins_one_backend(env: Env) -> None:
    make_service(env, "sticky", "100.124.0.15", ["e0", "e1", "e2", "e3"], affinity=60)
    wait_for(lambda: hits("http://100.124.0.15/", 1)["ERR URLError"] == 0, "sticky programmed")
    from_pod = collections.Counter(env.lab.from_client("http://100.124.0.15/", 50))
    assert len(from_pod) == 1
    assert sum(from_pod.values()) == 50
    assert not any(k.startswith("ERR") for k in from_pod)
    from_host = hits("http://100.124.0.15/", 50)
    assert len(from_host) == 1, from_host


def test_kill9_keeps_rules_and_restart_applies_changes(env: Env) -> None:
    make_service(env, "crash", "100.124.0.16", ["e0", "e1"])
    wait_for(lambda: set(hits("http://100.124.0.16/", 30)) == {"e0", "e1"}, "crash programmed")
    env.proxy.kill9()
    assert set(hits("http://100.124.0.16/", 30)) == {"e0", "e1"}  # existing rules keep working
    env.api.replace(endpoint_slice("crash", env.eps("e4")))
    assert set(hits("http://100.124.0.16/", 20)) == {"e0", "e1"}  # nobody programs the change yet
    started = time.monotonic()
    env.proxy.start()
    wait_for(lambda: set(hits("http://100.124.0.16/", 10)) == {"e4"}, "change applied after restart",
             timeout=2 + 5)  # --sync-period 2s (plus start-up margin)
    assert time.monotonic() - started < 30
    assert set(hits("http://100.124.0.10/", 30)) == {"e0", "e1", "e2"}  # the others survived the restart


def test_iptables_mode(env: Env) -> None:
    env.proxy.stop()
    assert cleanup_cli().returncode == 0
    ipt = ProxyProcess(env.workdir, env.proxy.kubeconfig, mode="iptables").start()
    try:
        lab.wait_routed("100.124.0.10")
        wait_for(lambda: set(hits("http://100.124.0.10/", 60)) == {"e0", "e1", "e2"}, "iptables balancing")
        assert lab.connect_error("100.124.0.12", 80, timeout=5) == "ConnectionRefusedError"
        assert lab.connect_error("100.124.77.7", 80, timeout=5) == "ConnectionRefusedError"
        assert set(hits("http://127.0.0.1:30123/", 20)) == {"e0", "e1"}
        sticky = collections.Counter(env.lab.from_client("http://100.124.0.15/", 50))
        assert len(sticky) == 1, sticky
    finally:
        ipt.stop()
    save = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert "SAMPAN-" in save  # rules stay when the proxy stops
    assert cleanup_cli().returncode == 0
    save = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout
    assert "SAMPAN-" not in save
    assert "sampan kube-proxy" not in save


def test_cleanup_leaves_nothing(env: Env) -> None:
    env.proxy.start()
    wait_for(lambda: lab.leftovers(), "table and routes present")
    env.proxy.stop()
    res = cleanup_cli()
    assert res.returncode == 0, res.stderr
    assert lab.leftovers() == []
