"""The live view's informer and APF panels from Prometheus pages (rates and interval means from the
previous page's counters), and the trace store's write → handler lag per component and informer. Unit tests:
the browser test (test_live_view.py) shows the same panels filled by a real cluster."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from sampan.api import errors
from sampan.client import Client, load_config
from sampan.dashboard.panels import APFPanel, InformerPanel
from sampan.tracestore.store import SpanStore
from tests.support.apiserver import InProcessAPIServer


def informer_page(count: float, wait: float, *, pending: float = 0, oldest: float = 0) -> str:
    labels = 'informer="v1/pods",handler="EventHandlerFuncs"'
    return (f"sampan_informer_pending_notifications{{{labels}}} {pending}\n"
            f"sampan_informer_oldest_pending_seconds{{{labels}}} {oldest}\n"
            f"sampan_informer_notifications_total{{{labels}}} {count}\n"
            f"sampan_informer_notification_wait_seconds_total{{{labels}}} {wait}\n"
            f'sampan_informer_notifications_total{{informer="v1/pods",handler="other"}} {count}\n'
            'reflector_lists_total{name="v1/pods"} 3\nsampan_reflector_expired_total{name="v1/pods"} 1\n')


def test_informer_panel_rates_and_interval_mean_lag() -> None:
    panel = InformerPanel()
    first = panel.rows([("kube-scheduler", informer_page(10, 0.5))], 100.0)
    assert first == [{"component": "kube-scheduler", "informer": "v1/pods", "pending": 0, "oldest_s": 0.0,
                      "deliveries": 20, "lists": 3, "relists_410": 1, "per_s": 0.0, "lag_ms": None,
                      "trace": None}]
    traced = [{"component": "kube-scheduler", "informer": "v1/pods", "count": 3, "mean_ms": 1.5, "max_ms": 4.0}]
    (row,) = panel.rows([("kube-scheduler", informer_page(14, 0.6, pending=2, oldest=0.25))], 102.0, traced)
    assert row["deliveries"] == 28  # both handlers of the informer, summed
    assert row["per_s"] == 4.0  # 8 more in 2 s
    assert row["lag_ms"] == 12.5  # 0.1 s more waiting over 8 more deliveries
    assert (row["pending"], row["oldest_s"]) == (2, 0.25)
    assert row["trace"] == {"mean_ms": 1.5, "max_ms": 4.0}
    (row,) = panel.rows([("kube-scheduler", informer_page(1, 0.0))], 103.0)  # restarted: counters from zero
    assert row["per_s"] == 2.0
    assert row["lag_ms"] == 0.0


def apf_page(dispatched: float, rejected: float) -> str:
    pf = 'priority_level="workload-low",flow_schema="service-accounts"'
    pf2 = 'priority_level="workload-low",flow_schema="global-default"'
    return (f"apiserver_flowcontrol_current_executing_requests{{{pf}}} 2\n"
            f"apiserver_flowcontrol_current_executing_requests{{{pf2}}} 1\n"
            f"apiserver_flowcontrol_current_inqueue_requests{{{pf}}} 5\n"
            f"apiserver_flowcontrol_current_executing_seats{{{pf}}} 3\n"
            'apiserver_flowcontrol_nominal_limit_seats{priority_level="workload-low"} 40\n'
            f"apiserver_flowcontrol_dispatched_requests_total{{{pf}}} {dispatched}\n"
            f'apiserver_flowcontrol_rejected_requests_total{{{pf},reason="queue-full"}} {rejected}\n'
            "apiserver_request_total{verb=\"GET\"} 9\n")


def test_apf_panel_per_priority_level() -> None:
    panel = APFPanel()
    panel.rows(apf_page(100, 0), 10.0)
    (row,) = panel.rows(apf_page(130, 4), 12.0)
    assert row == {"level": "workload-low", "executing": 3, "waiting": 5, "seats": 3, "limit": 40,
                   "dispatched": 130, "rejected": 4, "dispatched_per_s": 15.0, "rejected_per_s": 2.0}


def test_store_informer_lag_from_write_to_handler() -> None:
    ms = 1_000_000
    store = SpanStore()
    # the delivery may reach the store before the write it lags behind (different processes)
    store.add([{"trace_id": "t2", "span_id": "d", "name": "informer.deliver", "component": "kubelet",
                "start_ns": 17 * ms, "end_ns": 18 * ms,
                "attributes": {"informer": "v1/pods", "k8s.resource_version": "7"}},
               {"trace_id": "t3", "span_id": "e", "name": "informer.deliver", "component": "kubelet",
                "start_ns": 19 * ms, "end_ns": 20 * ms,
                "attributes": {"informer": "v1/pods", "k8s.resource_version": "99"}}])  # write unknown
    assert store.informer_lag() == []
    store.add([{"trace_id": "t1", "span_id": "a", "name": "apiserver.request", "component": "kube-apiserver",
                "start_ns": 0, "end_ns": 12 * ms, "attributes": {},
                "events": [{"name": "storage.update", "time_ns": 5 * ms,
                            "attributes": {"k8s.resource_version": "7", "sampan.step_duration_ns": 5 * ms}}]}])
    assert store.informer_lag() == [{"component": "kubelet", "informer": "v1/pods", "count": 1, "mean_ms": 7.0,
                                     "max_ms": 7.0}]


async def test_rest_get_text_reads_metrics_with_the_clients_credentials(inproc_apiserver: InProcessAPIServer) -> None:
    """What the live view reads the API server's /metrics and /readyz with (its secure port wants credentials)."""
    async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
        text = await client.rest.get_text("/metrics")
        assert "apiserver_flowcontrol_dispatched_requests_total" in text
        with pytest.raises(errors.NotFound):
            await client.rest.get_text("/api/v1/namespaces/default/configmaps/none")


async def test_components_without_endpoints_are_alive_by_their_leader_lease(
        inproc_apiserver: InProcessAPIServer) -> None:
    """A scheduler and controller-manager run with ``--secure-port 0`` (no /healthz to ask): the live view
    goes by their leader-election Lease — unknown before one exists, alive while its holder renews it,
    not alive once released or lapsed. A kubelet serving TLS (``sampan up``'s) is asked through the node
    proxy, not over plain HTTP on its port (here it has no Node: not alive)."""
    from sampan.cli.supervisor import ComponentSpec
    from sampan.cli.up_live import targets
    from sampan.client.leaderelection import LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock
    from sampan.dashboard.snapshot import SnapshotSource

    specs = [ComponentSpec("scheduler", ("scheduler", "--kubeconfig", "k", "--secure-port", "0")),
             ComponentSpec("controller-manager", ("controller-manager", "--secure-port", "0")),
             ComponentSpec("kubelet", ("kubelet", "--node-name", "n1", "--tls-cert-file", "c", "--port", "10250"))]
    server = inproc_apiserver.url
    async with Client(load_config(str(inproc_apiserver.kubeconfig))) as client:
        source = SnapshotSource(client, targets(specs, server)[1:], f"{server}/metrics")
        assert [(c.name, c.health, c.lease) for c in source.components] == [
            ("kube-scheduler", None, "kube-scheduler"), ("kube-controller-manager", None, "kube-controller-manager"),
            ("kubelet n1", None, None)]

        async def states() -> dict[str, tuple[bool | None, str]]:
            snap = await source.snapshot()
            return {c["name"]: (c["alive"], c["leader"]) for c in snap["components"]}

        assert await states() == {"kube-scheduler": (None, ""), "kube-controller-manager": (None, ""),
                                  "kubelet n1": (False, "")}
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        await leases.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": {"name": "kube-controller-manager", "namespace": "kube-system"},
                             "spec": {"holderIdentity": "gone_1", "leaseDurationSeconds": 15,
                                      "renewTime": "2020-01-01T00:00:00.000000Z"}}, namespace="kube-system")
        lock = LeaseLock(leases, namespace="kube-system", name="kube-scheduler", identity="sched_1")
        elector = LeaderElector(lock, LeaderCallbacks(on_started_leading=asyncio.Event().wait),
                                LeaderElectionConfig(lease_duration=3, renew_deadline=2, retry_period=0.2))
        task = asyncio.create_task(elector.run())
        try:
            deadline = asyncio.get_running_loop().time() + 30
            while (got := await states())["kube-scheduler"] != (True, "sched_1"):
                assert asyncio.get_running_loop().time() < deadline, got
                await asyncio.sleep(0.1)
            assert got["kube-controller-manager"] == (False, "gone_1")  # renewed years ago
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert (await states())["kube-scheduler"][0] is False  # released on the way out
