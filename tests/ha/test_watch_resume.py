"""An informer (``sampan.client``) whose API server dies reconnects through HAProxy to another server and
resumes from its last resourceVersion: without a relist when that server's watch cache still holds the
version, with one relist (after 410 Expired) and no event lost when it does not.

Server A is frozen (SIGSTOP) while writes go to server B, then killed; B's watch cache holds 5 events.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from sampan.cli import ha_plane
from tests.ha.support import apiserver_argv, needs_etcd_and_haproxy, processes, ready, request, wait_until
from tests.support.apiserver import free_port

pytestmark = [pytest.mark.slow, needs_etcd_and_haproxy]

WATCH_CACHE = 5


async def _until(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize(("writes", "relists"), [(2, 0), (3 * WATCH_CACHE, 1)])
async def test_a_broken_watch_resumes_through_the_balancer(tmp_path: Path, writes: int, relists: int) -> None:
    from sampan.client import Client
    from sampan.client.cache.handlers import EventHandlerFuncs
    from sampan.client.config import RESTConfig
    from sampan.client.informers import SharedInformerFactory

    plan = ha_plane.ControlPlanePlan(1, ha_plane.new_members(1))
    a_port, b_port, lb_port = free_port(), free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(ha_plane.haproxy_config(port=lb_port, backends=[("a", a_port), ("b", b_port)]))
    a, b, lb = (f"http://127.0.0.1:{p}" for p in (a_port, b_port, lb_port))
    cache = ["--default-watch-cache-size", str(WATCH_CACHE)]
    etcd = list(ha_plane.etcd_argv(plan.members[0], plan, data_dir=tmp_path, etcd=ha_plane.etcd_binary()))
    with processes([etcd, apiserver_argv(data_dir=tmp_path, port=a_port, etcd_servers=plan.etcd_servers) + cache,
                    [ha_plane.haproxy_binary(), "-db", "-f", str(cfg)]], tmp_path / "logs") as procs:
        await asyncio.to_thread(wait_until, lambda: ready(a) and ready(lb), 60, "server A behind the balancer")
        request("POST", f"{a}/api/v1/namespaces", {"metadata": {"name": "w"}})
        seen: list[tuple[str, str]] = []

        def on_add(obj: dict[str, Any]) -> None:
            seen.append((obj["metadata"]["name"], obj["metadata"]["resourceVersion"]))

        async with Client(RESTConfig(host=lb, qps=0, timeout=10)) as client:
            factory = SharedInformerFactory(client, namespace="w")
            informer = factory.informer("v1", "configmaps")
            informer.add_event_handler(EventHandlerFuncs(on_add_func=on_add))
            factory.start()
            try:
                await factory.wait_for_cache_sync(timeout=30)  # B is down: the watch is on A
                with processes([apiserver_argv(data_dir=tmp_path, port=b_port, etcd_servers=plan.etcd_servers)
                                + cache], tmp_path / "logs-b"):
                    await asyncio.to_thread(wait_until, lambda: ready(b), 60, "server B")
                    request("POST", f"{b}/api/v1/namespaces/w/configmaps", {"metadata": {"name": "first"}})
                    await _until(lambda: len(seen) == 1, 30, "the first event through A")
                    os.kill(procs[1].pid, signal.SIGSTOP)
                    for i in range(writes):
                        request("POST", f"{b}/api/v1/namespaces/w/configmaps", {"metadata": {"name": f"cm-{i}"}})
                    os.kill(procs[1].pid, signal.SIGKILL)
                    await _until(lambda: len(seen) == writes + 1, 60, "every event after the failover")
                    stats = informer.reflector.stats
                    expected = ["first", *(f"cm-{i}" for i in range(writes))]
                    names = [n for n, _ in seen]
                    # resumed: the events in order; relisted: the list's adds (in name order), none missing
                    assert names == expected if not relists else sorted(names) == sorted(expected)
                    assert len(set(seen)) == len(seen)
                    assert stats.watches >= 2  # the watch was re-established
                    assert stats.expired == relists
                    assert stats.lists == 1 + relists
            finally:
                await factory.shutdown()
