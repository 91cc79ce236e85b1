"""The official ``kubernetes`` and ``kubernetes_asyncio`` clients against a real sampan apiserver.

CRUD with typed models, errors decoded as ApiException with upstream codes, list pagination with
``limit``/``_continue``, watches resumed from a resourceVersion, and ``410 Gone`` for a version older
than the watch cache window (the server runs with ``--default-watch-cache-size 5``). Every test runs
against the sqlite store and against real etcd.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.apiserver import APIServerHandle, run_apiserver_process

kubernetes = pytest.importorskip("kubernetes")
kubernetes_asyncio = pytest.importorskip("kubernetes_asyncio")

from kubernetes import client as kclient  # noqa: E402
from kubernetes import config as kconfig  # noqa: E402
from kubernetes import watch as kwatch  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402

WINDOW = 5


@pytest.fixture(scope="module", params=["sqlite", pytest.param("etcd", marks=pytest.mark.etcd)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[APIServerHandle]:
    """A server per storage backend: every client test runs against the embedded store and real etcd."""
    workdir = tmp_path_factory.mktemp(f"pyclients-{request.param}")
    args = ["--default-watch-cache-size", str(WINDOW)]
    if request.param == "sqlite":
        with run_apiserver_process(workdir, storage="sqlite", extra_args=args) as handle:
            yield handle
        return
    if shutil.which("etcd") is None:
        pytest.skip("etcd is not installed")
    from sampan.testing.etcd import EtcdCluster

    loop = asyncio.new_event_loop()  # etcd's lifecycle is async; this module's tests are mostly sync
    cluster = loop.run_until_complete(EtcdCluster.start(workdir / "etcd"))
    try:
        with run_apiserver_process(workdir, storage="etcd",
                                   extra_args=[*args, "--etcd-servers", ",".join(cluster.client_urls)]) as handle:
            yield handle
    finally:
        loop.run_until_complete(cluster.stop())
        loop.close()


@pytest.fixture
def core(server: APIServerHandle) -> Iterator[kclient.CoreV1Api]:
    api_client = kconfig.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        yield kclient.CoreV1Api(api_client)
    finally:
        api_client.close()


def cm(name: str, **labels: str) -> kclient.V1ConfigMap:
    return kclient.V1ConfigMap(metadata=kclient.V1ObjectMeta(name=name, labels=labels or None), data={"k": "v"})


def make_namespace(core: kclient.CoreV1Api, name: str) -> str:
    core.create_namespace(kclient.V1Namespace(metadata=kclient.V1ObjectMeta(name=name)))
    return name


def test_version_api(server: APIServerHandle) -> None:
    api_client = kconfig.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        info = kclient.VersionApi(api_client).get_code()
        assert (info.major, info.minor) == ("1", "32")
        groups = kclient.ApisApi(api_client).get_api_versions()
        assert "apps" in [g.name for g in groups.groups]
        resources = kclient.CoreV1Api(api_client).get_api_resources()
        assert "pods" in [r.name for r in resources.resources]
    finally:
        api_client.close()


def test_crud_and_errors(core: kclient.CoreV1Api) -> None:
    ns = make_namespace(core, "py-crud")
    created = core.create_namespaced_config_map(ns, cm("a", app="x"))
    assert created.metadata.uid
    assert created.metadata.resource_version.isdigit()
    got = core.read_namespaced_config_map("a", ns)
    assert got.data == {"k": "v"}

    update = cm("a", app="x")
    update.data = {"k": "v2"}
    update.metadata.resource_version = got.metadata.resource_version
    replaced = core.replace_namespaced_config_map("a", ns, update)
    assert replaced.data == {"k": "v2"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)

    stale = created
    stale.data = {"k": "stale"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("a", ns, stale)
    assert conflict.value.status == 409
    assert json.loads(conflict.value.body)["reason"] == "Conflict"

    with pytest.raises(ApiException) as exists:
        core.create_namespaced_config_map(ns, cm("a"))
    assert exists.value.status == 409
    assert json.loads(exists.value.body)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as invalid:
        core.create_namespaced_config_map(ns, cm("Not_Valid"))
    assert invalid.value.status == 422
    body = json.loads(invalid.value.body)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "metadata.name"

    listed = core.list_namespaced_config_map(ns, label_selector="app=x")
    assert [i.metadata.name for i in listed.items] == ["a"]

    deleted = core.delete_namespaced_config_map("a", ns)
    assert deleted is not None
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("a", ns)
    assert missing.value.status == 404
    assert json.loads(missing.value.body)["message"] == 'configmaps "a" not found'


def test_replace_after_read(core: kclient.CoreV1Api) -> None:
    """read -> modify -> replace, the commonest client pattern. The Python client re-serialises
    creationTimestamp as ``2024-01-02T03:04:05+00:00``; upstream ignores creationTimestamp on update
    (rest.BeforeUpdate copies the old one), so the replace must succeed."""
    ns = make_namespace(core, "py-replace")
    core.create_namespaced_config_map(ns, cm("r"))
    got = core.read_namespaced_config_map("r", ns)
    got.data = {"k": "v2"}
    replaced = core.replace_namespaced_config_map("r", ns, got)
    assert replaced.data == {"k": "v2"}
    assert replaced.metadata.creation_timestamp == got.metadata.creation_timestamp


def test_list_pagination(core: kclient.CoreV1Api) -> None:
    ns = make_namespace(core, "py-pages")
    for i in range(7):
        core.create_namespaced_config_map(ns, cm(f"p{i}"))
    names: list[str] = []
    token = None
    pages = 0
    while True:
        page = core.list_namespaced_config_map(ns, limit=3, _continue=token)
        pages += 1
        names += [i.metadata.name for i in page.items]
        token = page.metadata._continue
        if not token:
            assert page.metadata.remaining_item_count in (None, 0)
            break
        if page.metadata.remaining_item_count is not None:  # optional upstream; exact when present
            assert page.metadata.remaining_item_count == 7 - len(names)
    assert pages == 3
    assert names == [f"p{i}" for i in range(7)]


def test_watch_and_resume(core: kclient.CoreV1Api) -> None:
    ns = make_namespace(core, "py-watch")
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, cm("w1"))
    core.delete_namespaced_config_map("w1", ns)

    w = kwatch.Watch()
    events = []
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=2):
        events.append((event["type"], event["object"].metadata.name, event["object"].metadata.resource_version))
        if len(events) == 2:
            w.stop()
    assert [(t, n) for t, n, _ in events] == [("ADDED", "w1"), ("DELETED", "w1")]

    # resume after the first event: only the second is replayed
    resumed = []
    w2 = kwatch.Watch()
    for event in w2.stream(core.list_namespaced_config_map, ns, resource_version=events[0][2], timeout_seconds=2):
        resumed.append(event["type"])
        w2.stop()
    assert resumed == ["DELETED"]


def test_watch_too_old_resource_version_is_410(core: kclient.CoreV1Api) -> None:
    ns = make_namespace(core, "py-gone")
    first = core.create_namespaced_config_map(ns, cm("g0"))
    for i in range(1, WINDOW * 3):
        core.create_namespaced_config_map(ns, cm(f"g{i}"))
    def drain() -> None:
        for _ in kwatch.Watch().stream(core.list_namespaced_config_map, ns,
                                       resource_version=first.metadata.resource_version, timeout_seconds=2):
            pass

    with pytest.raises(ApiException) as gone:
        drain()
    assert gone.value.status == 410
    assert "too old resource version" in str(gone.value.reason)


def test_deployments_with_apps_api(server: APIServerHandle) -> None:
    api_client = kconfig.new_client_from_config(config_file=str(server.kubeconfig))
    try:
        apps = kclient.AppsV1Api(api_client)
        labels = {"app": "py"}
        dep = kclient.V1Deployment(
            metadata=kclient.V1ObjectMeta(name="py"),
            spec=kclient.V1DeploymentSpec(
                replicas=2, selector=kclient.V1LabelSelector(match_labels=labels),
                template=kclient.V1PodTemplateSpec(
                    metadata=kclient.V1ObjectMeta(labels=labels),
                    spec=kclient.V1PodSpec(containers=[kclient.V1Container(name="c", image="nginx")]))))
        created = apps.create_namespaced_deployment("default", dep)
        assert created.spec.strategy.type == "RollingUpdate"  # server-side defaults came back
        assert created.metadata.generation == 1
        listed = apps.list_deployment_for_all_namespaces()
        assert "py" in [d.metadata.name for d in listed.items]
        apps.delete_namespaced_deployment("py", "default")
    finally:
        api_client.close()


async def test_kubernetes_asyncio_crud_pages_and_watch(server: APIServerHandle, tmp_path: Path) -> None:
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig
    from kubernetes_asyncio import watch as awatch
    from kubernetes_asyncio.client.rest import ApiException as AsyncApiException

    api_client = await aconfig.new_client_from_config(config_file=str(server.kubeconfig))
    async with api_client:
        core = aclient.CoreV1Api(api_client)
        await core.create_namespace(aclient.V1Namespace(metadata=aclient.V1ObjectMeta(name="py-async")))
        for i in range(4):
            await core.create_namespaced_config_map(
                "py-async", aclient.V1ConfigMap(metadata=aclient.V1ObjectMeta(name=f"a{i}"), data={"i": str(i)}))
        first = await core.list_namespaced_config_map("py-async", limit=3)
        assert len(first.items) == 3
        rest = await core.list_namespaced_config_map("py-async", limit=3, _continue=first.metadata._continue)
        assert [i.metadata.name for i in rest.items] == ["a3"]
        with pytest.raises(AsyncApiException) as missing:
            await core.read_namespaced_config_map("nope", "py-async")
        assert missing.value.status == 404

        rv = first.metadata.resource_version
        await core.delete_namespaced_config_map("a0", "py-async")
        seen = []
        # kubernetes_asyncio sends watch=True (capitalised) on the query string
        async with awatch.Watch().stream(core.list_namespaced_config_map, "py-async", resource_version=rv,
                                         timeout_seconds=2) as stream:
            async for event in stream:
                seen.append((event["type"], event["object"].metadata.name))
                if event["type"] == "DELETED":
                    break
        assert seen == [("DELETED", "a0")]

        async def drain_from_too_old() -> None:
            async with awatch.Watch().stream(core.list_namespaced_config_map, "py-async", resource_version="1",
                                             timeout_seconds=2) as stream:
                async for _ in stream:
                    pass

        with pytest.raises(AsyncApiException) as gone:
            await drain_from_too_old()
        assert gone.value.status == 410
