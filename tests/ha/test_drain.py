"""An API server that loses etcd fails ``/readyz`` (its ``etcd`` check) and HAProxy, configured as ``sampan up
--control-plane-nodes`` configures it, stops sending it requests; when etcd is back it is ready and used again.

Two API servers, each over its own one-member etcd, behind one HAProxy: a namespace that exists only in
server B's store tells which server answered a request through the balancer.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sampan.cli import ha_plane
from tests.ha.support import apiserver_argv, kill9, needs_etcd_and_haproxy, processes, ready, request, wait_until
from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow, needs_etcd_and_haproxy]


def _answered_by_b(lb: str) -> bool:
    try:
        request("GET", f"{lb}/api/v1/namespaces/only-on-b", timeout=3)
        return True
    except (urllib.error.URLError, OSError):
        return False


def _verbose_readyz(url: str) -> str:
    try:
        with urllib.request.urlopen(f"{url}/readyz?verbose", timeout=15) as resp:
            return str(resp.read().decode())
    except urllib.error.HTTPError as err:
        return str(err.read().decode())


def test_an_api_server_without_etcd_is_drained_and_comes_back(tmp_path: Path) -> None:
    plans = [ha_plane.ControlPlanePlan(1, ha_plane.new_members(1)) for _ in range(2)]
    dirs = [tmp_path / "a", tmp_path / "b"]
    ports = [free_port(), free_port()]
    lb_port = free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(ha_plane.haproxy_config(port=lb_port, backends=[("a", ports[0]), ("b", ports[1])]))
    etcds = [list(ha_plane.etcd_argv(p.members[0], p, data_dir=d, etcd=ha_plane.etcd_binary()))
             for p, d in zip(plans, dirs, strict=True)]
    servers = [apiserver_argv(data_dir=d, port=port, etcd_servers=p.etcd_servers)
               for p, d, port in zip(plans, dirs, ports, strict=True)]
    a_url, b_url, lb = (f"http://127.0.0.1:{p}" for p in (*ports, lb_port))
    with processes([*etcds, *servers, [ha_plane.haproxy_binary(), "-db", "-f", str(cfg)]], tmp_path / "logs") as procs:
        wait_until(lambda: ready(a_url) and ready(b_url) and ready(lb), 60, "both servers and the balancer")
        request("POST", f"{b_url}/api/v1/namespaces", {"metadata": {"name": "only-on-b"}})
        # both servers take requests: some GETs land on A, which has no such namespace
        wait_until(lambda: not _answered_by_b(lb), 30, "a request answered by server A")

        kill9(procs[0].pid)  # A's etcd
        wait_until(lambda: "[-]etcd failed" in _verbose_readyz(a_url), 60, "A's /readyz to fail its etcd check")
        wait_until(lambda: all(_answered_by_b(lb) for _ in range(20)), 30, "the balancer to send everything to B")

        with processes([etcds[0]], tmp_path / "logs-again"):  # etcd back, same data and ports
            wait_until(lambda: ready(a_url), 60, "A to be ready again")
            wait_until(lambda: not _answered_by_b(lb), 30, "the balancer to use A again")
