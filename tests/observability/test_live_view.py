"""The live view in a real headless browser (Debian's chromium through chromium-driver and selenium): the
page shows the node and the components; without a reload it shows a pod that was created (and the
scheduler's and kubelet's pod informers delivering it in the informer panel, the API Priority and Fairness
panel's priority levels dispatching requests), and a kubelet killed with SIGKILL as a growing Lease age and
then NotReady after the (shrunk) grace period; a click on a pod asks for its trace (this cluster has no
trace store, so the panel says so)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sampan.client import Client, load_config
from sampan.dashboard.server import LiveView
from sampan.dashboard.snapshot import ComponentTarget, SnapshotSource
from tests.observability.cluster import NODE, MiniCluster, mini_cluster
from tests.support.apiserver import APIServerHandle

CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMEDRIVER is None or shutil.which("chromium") is None,
                                 reason="needs Debian's chromium and chromium-driver")]


def targets(apiserver: APIServerHandle, cluster: MiniCluster) -> list[ComponentTarget]:
    def local(component: str, path: str) -> str:
        return f"http://127.0.0.1:{cluster.ports[component]}{path}"

    return [ComponentTarget("kube-apiserver", f"{apiserver.url}/readyz", f"{apiserver.url}/metrics"),
            ComponentTarget("kube-scheduler", local("scheduler", "/healthz"), local("scheduler", "/metrics"),
                            "kube-scheduler"),
            ComponentTarget("kube-controller-manager", local("controller-manager", "/healthz"),
                            local("controller-manager", "/metrics"), "kube-controller-manager"),
            ComponentTarget(f"kubelet {NODE}", local("kubelet", "/healthz"), local("kubelet", "/metrics"))]


@contextlib.contextmanager
def threaded_live_view(kubeconfig: str, components: list[ComponentTarget], apiserver_metrics: str
                       ) -> Iterator[LiveView]:
    loop = asyncio.new_event_loop()
    holder: dict[str, Any] = {}
    started = threading.Event()

    async def serve() -> None:
        async with Client(load_config(kubeconfig)) as client:
            view = LiveView(SnapshotSource(client, components, apiserver_metrics), interval=0.3)
            await view.start()
            holder["view"] = view
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                await view.stop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        task = loop.create_task(serve())
        holder["task"] = task
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=run, name="live-view", daemon=True)
    thread.start()
    if not started.wait(20):
        raise RuntimeError("live view did not start")
    try:
        yield holder["view"]
    finally:
        loop.call_soon_threadsafe(holder["task"].cancel)
        thread.join(20)


@contextlib.contextmanager
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium") or ""
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(driver: Any, what: str, check: Callable[[Any], Any], timeout: float = 60) -> Any:
    """Poll `check` until truthy; an element re-rendered between lookup and read is simply looked up again."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(check, message=f"page never showed {what}")


def cell_state(driver: Any, selector: str, attribute: str) -> str:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, selector)
    return str(found[0].get_attribute(attribute)) if found else ""


def test_live_view_follows_pods_and_a_dying_node(apiserver: APIServerHandle, tmp_path: Path) -> None:
    with mini_cluster(apiserver, tmp_path, controllers="replicaset,nodelifecycle",
                      cm_args=("--node-monitor-period", "500ms", "--node-monitor-grace-period", "4s"),
                      kubelet_args=("--node-lease-duration-seconds", "2", "--node-lease-renew-interval", "500ms",
                                    "--node-status-update-frequency", "500ms")) as cluster, \
            threaded_live_view(cluster.kubeconfig, targets(apiserver, cluster), f"{apiserver.url}/metrics") as view, \
            browser() as driver:
        driver.get(view.url)
        snapshots = int(wait_until(driver, "a snapshot", lambda d: d.find_element("tag name", "body")
                                   .get_attribute("data-snapshots")) or 0)
        assert snapshots >= 1
        wait_until(driver, "the node Ready", lambda d: cell_state(d, f'tr[data-node="{NODE}"]', "data-ready") == "True")
        for name in ("kube-apiserver", "kube-scheduler", "kube-controller-manager", "kubelet", "storage"):
            wait_until(driver, f"{name} alive",
                       lambda d, n=name: cell_state(d, f'g.component[data-name="{n}"]', "data-state") == "alive")
        wait_until(driver, "the scheduler's leader", lambda d: "leader:" in d.find_element(
            "css selector", 'g.component[data-name="kube-scheduler"]').text)

        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "live"},
               "spec": {"containers": [{"name": "c", "image": "pause"}]}}

        async def create() -> None:
            async with Client(load_config(cluster.kubeconfig)) as client:
                await (await client.resource("v1", "pods")).create(pod, namespace="default")

        asyncio.run(create())
        wait_until(driver, "the new pod Running",
                   lambda d: cell_state(d, 'tr.pod[data-pod="live"]', "data-phase") == "Running")
        for component in ("kube-scheduler", f"kubelet {NODE}"):  # their pod informers delivered the new pod
            wait_until(driver, f"{component}'s pod informer delivering", lambda d, c=component: int(cell_state(
                d, f'#informers tr[data-component="{c}"][data-informer="v1/pods"]', "data-deliveries") or 0) > 0)

        def dispatched(d: Any) -> int:
            return int(cell_state(d, '#apf tr[data-level="exempt"]', "data-dispatched") or 0)

        first_count = wait_until(driver, "the exempt priority level dispatching", dispatched)
        wait_until(driver, "APF dispatch counts moving", lambda d: dispatched(d) > first_count)
        wait_until(driver, "the pod row clicked",  # its trace (no store here: why); the row may be re-rendered
                   lambda d: d.find_element("css selector", 'tr.pod[data-pod="live"]').click() or True)
        wait_until(driver, "the trace panel answer", lambda d: "no trace store" in d.find_element("id", "trace").text)

        def lease_age(d: Any) -> float:
            from selenium.webdriver.common.by import By

            cells = d.find_elements(By.CSS_SELECTOR, f'tr[data-node="{NODE}"] td')
            try:
                return float(cells[2].text)
            except (IndexError, ValueError):
                return -1.0

        os.killpg(cluster.procs["kubelet"].pid, signal.SIGKILL)
        wait_until(driver, "the Lease age growing past the renew interval", lambda d: lease_age(d) > 2.0)
        wait_until(driver, "the node NotReady",
                   lambda d: cell_state(d, f'tr[data-node="{NODE}"]', "data-ready") in ("Unknown", "False"))
        wait_until(driver, "the kubelet dead", lambda d: cell_state(
            d, 'g.component[data-name="kubelet"]', "data-state") == "dead")
        assert int(driver.find_element("tag name", "body").get_attribute("data-snapshots")) > snapshots
