"""POST pods/<name>/binding: the scheduler's one write, as upstream."""

from __future__ import annotations

from tests.apiserver.conftest import API

PODS = "/api/v1/namespaces/default/pods"


def binding(node: str, name: str = "p") -> dict:
    return {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "annotations": {"why": "fit"}},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node}}


async def make_pod(api: API, name: str = "p") -> dict:
    r = await api.post(PODS, {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "i"}]}})
    assert r.status == 201, r.body
    return r.body


async def test_binding_assigns_the_node_once(api: API) -> None:
    await make_pod(api)
    w = await api.watch(PODS, fieldSelector="spec.nodeName=n1", resourceVersion="0", timeoutSeconds="30")
    r = await api.post(f"{PODS}/p/binding", binding("n1"))
    assert r.status == 201, r.body
    assert r.body["status"] == "Success"
    pod = (await api.get(f"{PODS}/p")).body
    assert pod["spec"]["nodeName"] == "n1"
    assert pod["metadata"]["annotations"]["why"] == "fit"
    assert {"type": "PodScheduled", "status": "True"}.items() <= pod["status"]["conditions"][-1].items()
    (ev,) = await w.take(1)  # the node's watch sees the pod arrive
    assert ev["type"] == "ADDED"
    w.resp.close()
    before = await api.snapshot()
    again = await api.post(f"{PODS}/p/binding", binding("n2"))
    assert again.status == 409
    assert 'is already assigned to node "n1"' in again.body["message"]
    assert await api.snapshot() == before


async def test_bad_bindings_change_nothing(api: API) -> None:
    await make_pod(api)
    before = await api.snapshot()
    r = await api.post(f"{PODS}/p/binding", {"kind": "Binding", "apiVersion": "v1", "metadata": {"name": "p"},
                                             "target": {}})
    assert r.status == 422
    r = await api.post(f"{PODS}/p/binding", binding("n1", name="other"))
    assert r.status == 400
    r = await api.post(f"{PODS}/missing/binding", binding("n1", name="missing"))
    assert r.status == 404
    r = await api.request("PUT", f"{PODS}/p/binding", binding("n1"))
    assert r.status == 405
    r = await api.post("/api/v1/namespaces/default/configmaps/x/binding", binding("n1"))
    assert r.status == 404
    assert await api.snapshot() == before


async def test_bindings_collection_binds_the_pod_its_body_names(api: API) -> None:
    listing = (await api.get("/api/v1")).body["resources"]
    (entry,) = [r for r in listing if r["name"] == "bindings"]
    assert (entry["kind"], entry["verbs"], entry["namespaced"], entry["singularName"]) == \
        ("Binding", ["create"], True, "binding")
    assert "pods/binding" in {r["name"] for r in listing}
    await make_pod(api, "q")
    before = await api.snapshot()
    no_name = binding("n1")
    del no_name["metadata"]["name"]
    r = await api.post("/api/v1/namespaces/default/bindings", no_name)
    assert r.status == 422, r.body
    assert "metadata.name: Required value" in r.body["message"]
    r = await api.post("/api/v1/namespaces/default/bindings", binding("n1", name="missing"))
    assert r.status == 404, r.body
    r = await api.get("/api/v1/namespaces/default/bindings")
    assert r.status == 405, r.body
    assert await api.snapshot() == before
    r = await api.post("/api/v1/namespaces/default/bindings", binding("n1", name="q"))
    assert (r.status, r.body["status"]) == (201, "Success"), r.body
    pod = (await api.get(f"{PODS}/q")).body
    assert pod["spec"]["nodeName"] == "n1"
    assert pod["metadata"]["annotations"]["why"] == "fit"
    again = await api.post("/api/v1/namespaces/default/bindings", binding("n2", name="q"))
    assert again.status == 409
    assert 'is already assigned to node "n1"' in again.body["message"]


async def test_binding_uid_and_resource_version_are_preconditions(api: API) -> None:
    """As upstream's assignPod: a Binding naming another pod's uid (the one it was scheduled as was deleted and
    re-created under its name) or an older resourceVersion binds nothing (409); matching ones bind."""
    old = await make_pod(api)
    r = await api.request("DELETE", f"{PODS}/p?gracePeriodSeconds=0")
    assert r.status == 200, r.body
    new = await make_pod(api)
    before = await api.snapshot()
    stale = binding("n1")
    stale["metadata"]["uid"] = old["metadata"]["uid"]
    r = await api.post(f"{PODS}/p/binding", stale)
    assert r.status == 409, r.body
    old_uid, new_uid = old["metadata"]["uid"], new["metadata"]["uid"]
    assert r.body["message"] == (f'Operation cannot be fulfilled on pods "p": Precondition failed: UID in '
                                 f"precondition: {old_uid}, UID in object meta: {new_uid}")
    older = binding("n1")
    older["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
    r = await api.post(f"{PODS}/p/binding", older)
    assert r.status == 409, r.body
    assert "Precondition failed: ResourceVersion in precondition" in r.body["message"]
    assert await api.snapshot() == before
    exact = binding("n1")
    exact["metadata"].update(uid=new["metadata"]["uid"], resourceVersion=new["metadata"]["resourceVersion"])
    r = await api.post(f"{PODS}/p/binding", exact)
    assert r.status == 201, r.body
    assert (await api.get(f"{PODS}/p")).body["spec"]["nodeName"] == "n1"
