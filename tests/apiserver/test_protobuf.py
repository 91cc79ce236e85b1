"""Protobuf over real HTTP: request bodies, object/list/Status responses, content negotiation and errors.

Every protobuf body is checked against the codec (``sampan.api.protobuf``), which is itself checked
against Go (kubectl) in ``tests/api/protobuf``. Watches are in ``test_protobuf_watch``; the real
kubectl 1.32/1.33 generator commands in ``test_protobuf_kubectl``.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yarl

from sampan.api import protobuf
from sampan.api.errors import NotAcceptable
from sampan.apiserver import negotiation, protobuf_bodies
from tests.api.protobuf.objects import DEPLOYMENT
from tests.apiserver.conftest import API

PB = "application/vnd.kubernetes.protobuf"
KUBECTL_ACCEPT = "application/vnd.kubernetes.protobuf,application/json"
CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


class PBReply:
    def __init__(self, status: int, content_type: str, raw: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.raw = raw

    @property
    def obj(self) -> dict[str, Any]:
        """The body decoded by its Content-Type (protobuf or JSON)."""
        if self.content_type == PB:
            return protobuf.decode(self.raw)
        import json

        body: dict[str, Any] = json.loads(self.raw)
        return body


async def pb_request(api: API, method: str, path: str, *, body: dict[str, Any] | bytes | None = None,
                     accept: str = KUBECTL_ACCEPT, **params: str) -> PBReply:
    """A request as kubectl's typed commands send it: protobuf body, protobuf-first Accept."""
    headers = {"Accept": accept}
    data: bytes | None = None
    if body is not None:
        data = body if isinstance(body, bytes) else protobuf.encode(body)
        headers["Content-Type"] = PB
    url = yarl.URL(api.url + path, encoded=True)
    if params:
        url = url.update_query(params)
    async with api.session.request(method, url, data=data, headers=headers) as r:
        return PBReply(r.status, r.headers.get("Content-Type", ""), await r.read())


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"app": name}},
            "data": data}


def full_deployment(name: str) -> dict[str, Any]:
    """The codec tests' full Deployment (every PodSpec field family), made creatable."""
    dep = copy.deepcopy(DEPLOYMENT)
    dep["metadata"] = {"name": name, "labels": {"app": "web"}}
    dep.pop("status", None)
    return dep


def comparable(obj: dict[str, Any]) -> dict[str, Any]:
    """An object without what differs between two creations (identity, times, versions, managers)."""
    out = copy.deepcopy(obj)
    md = out["metadata"]
    for key in ("name", "uid", "creationTimestamp", "resourceVersion", "managedFields"):
        md.pop(key, None)
    return out


async def test_protobuf_create_gives_protobuf_and_stores_what_json_would(api: API) -> None:
    r = await pb_request(api, "POST", CMS, body=configmap("pb", a="b"), fieldManager="kubectl-create",
                         fieldValidation="Strict")
    assert r.status == 201, r.raw
    assert r.content_type == PB
    created = r.obj
    assert created["kind"] == "ConfigMap"
    assert created["data"] == {"a": "b"}
    assert created["metadata"]["managedFields"][0]["manager"] == "kubectl-create"
    via_json = await api.post(CMS, configmap("js", a="b"), fieldManager="kubectl-create")
    assert via_json.status == 201
    stored = await api.get(f"{CMS}/pb")
    assert stored.headers["Content-Type"] == "application/json"
    assert comparable(stored.body) == comparable(via_json.body) | {"metadata": comparable(stored.body)["metadata"]}
    assert stored.body["metadata"]["labels"] == {"app": "pb"}
    assert comparable(created) == comparable(stored.body)


async def test_full_deployment_through_protobuf_equals_json(api: API) -> None:
    """The full PodSpec survives protobuf request -> store -> protobuf response exactly as JSON does. The
    JSON body is what Go writes for the same object (kubectl 1.31 sends that): ``status: {}``,
    ``creationTimestamp: null`` and so on, which the protobuf decoder produces too."""
    go_json = protobuf.decode(protobuf.encode(full_deployment("via-json")))
    js = await api.post(DEPLOYS, go_json)
    assert js.status == 201, js.body
    pb = await pb_request(api, "POST", DEPLOYS, body=full_deployment("via-pb"))
    assert pb.status == 201, pb.raw
    from_json = (await api.get(f"{DEPLOYS}/via-json")).body
    from_pb = (await api.get(f"{DEPLOYS}/via-pb")).body
    assert comparable(from_pb) == comparable(from_json)
    got = await pb_request(api, "GET", f"{DEPLOYS}/via-pb")
    assert got.content_type == PB
    assert got.obj == from_pb
    assert got.raw == protobuf.encode(from_pb)  # the bytes Go's marshaller writes


async def test_dry_run_server_with_a_protobuf_body_stores_nothing(api: API) -> None:
    before = await api.snapshot()
    r = await pb_request(api, "POST", DEPLOYS, body=full_deployment("dry"), dryRun="All")
    assert r.status == 201, r.raw
    assert r.content_type == PB
    assert r.obj["metadata"]["name"] == "dry"
    assert r.obj["spec"]["template"]["spec"]["containers"][0]["name"] == "web"
    assert await api.snapshot() == before


async def test_protobuf_update(api: API) -> None:
    await api.create_cm("upd")
    cur = (await api.get(f"{CMS}/upd")).body
    cur["data"] = {"k": "new"}
    r = await pb_request(api, "PUT", f"{CMS}/upd", body=cur)
    assert r.status == 200, r.raw
    assert r.obj["data"] == {"k": "new"}
    assert (await api.get(f"{CMS}/upd")).body["data"] == {"k": "new"}


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (b"", 400, "BadRequest"),
        (b"not protobuf", 400, "BadRequest"),
        (b"k8s\x00\n\x0c\n\x02v1", 400, "BadRequest"),  # truncated
        (b"k8s\x00\n\x0f\n\x02v1\x12\x09ConfigMap\x12\x05\n\xff\xff\xff\xff", 400, "BadRequest"),  # bad length
        (protobuf_bodies.wrap("example.com/v1", "Widget", b""), 415, "UnsupportedMediaType"),  # custom resource
    ],
)
async def test_bad_protobuf_bodies_are_clean_errors(api: API, body: bytes, code: int, reason: str) -> None:
    before = await api.snapshot()
    for accept in ("application/json", KUBECTL_ACCEPT):
        r = await pb_request(api, "POST", CMS, body=body, accept=accept)
        assert r.status == code, r.raw
        assert r.content_type == (PB if accept == KUBECTL_ACCEPT else "application/json")
        status = r.obj
        assert status["kind"] == "Status"
        assert status["reason"] == reason
        assert status["code"] == code
    assert await api.snapshot() == before


async def test_protobuf_body_of_another_kind_is_rejected_like_json(api: API) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}}
    r = await pb_request(api, "POST", CMS, body=secret)
    js = await api.post(CMS, secret)
    assert r.status == js.status == 400
    assert r.obj["message"] == js.body["message"]


@pytest.mark.parametrize(
    ("accept", "protobuf_answer"),
    [
        (KUBECTL_ACCEPT, True),
        (PB, True),
        ("application/vnd.kubernetes.protobuf, */*", True),
        ("application/json", False),
        ("application/json, */*", False),
        ("*/*", False),
        ("application/*", False),
        (None, False),
        ("application/json;q=0.9, application/vnd.kubernetes.protobuf", True),
        ("application/vnd.kubernetes.protobuf;q=0.5, application/json", False),
        # Tables stay JSON: a protobuf Table clause is skipped
        ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io, application/json", False),
    ],
)
async def test_get_negotiates_protobuf(api: API, accept: str | None, protobuf_answer: bool) -> None:
    await api.create_cm("neg")
    headers = {"Accept": accept} if accept is not None else {}
    async with api.session.get(api.url + f"{CMS}/neg", headers=headers) as r:
        raw = await r.read()
        assert r.status == 200
        assert r.headers["Content-Type"] == (PB if protobuf_answer else "application/json")
    if protobuf_answer:
        assert protobuf.decode(raw)["metadata"]["name"] == "neg"


async def test_table_requests_stay_json(api: API) -> None:
    await api.create_cm("tbl")
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    async with api.session.get(api.url + CMS, headers={"Accept": accept}) as r:
        assert r.headers["Content-Type"] == "application/json"
        assert (await r.json())["kind"] == "Table"


async def test_protobuf_list_is_assembled_from_item_messages(api: API) -> None:
    for i in range(3):
        await api.create_cm(f"l{i}", data={"i": str(i)})
    r = await pb_request(api, "GET", CMS, labelSelector="")
    assert r.status == 200
    assert r.content_type == PB
    listed = r.obj
    as_json = (await api.get(CMS)).body
    assert listed["kind"] == "ConfigMapList"
    assert listed["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in listed["items"]] == ["l0", "l1", "l2"]
    assert listed == protobuf.decode(protobuf.encode(as_json))  # the JSON list, as Go would see it
    # the same bytes the codec writes for the whole list in one go
    assert r.raw == protobuf.encode({**as_json, "items": as_json["items"]})
    paged = await pb_request(api, "GET", CMS, limit="2")
    page = paged.obj
    assert len(page["items"]) == 2
    assert page["metadata"]["continue"]


async def test_empty_protobuf_list(api: API) -> None:
    r = await pb_request(api, "GET", "/api/v1/namespaces/empty-ns/configmaps")
    assert r.status == 200
    assert r.content_type == PB
    assert r.obj["items"] is None or r.obj["items"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{CMS}/missing"),
        ("POST", "/apis/resource.k8s.io/v1beta1/namespaces/default/resourceclaims"),
        ("POST", "/apis/autoscaling/v2beta2/namespaces/default/horizontalpodautoscalers"),  # v2 and v1 only
    ],
)
async def test_unserved_resources_are_protobuf_404s(api: API, method: str, path: str) -> None:
    body = configmap("x") if method == "POST" else None
    r = await pb_request(api, method, path, body=body)
    assert r.status == 404
    assert r.content_type == PB
    status = r.obj
    assert status["kind"] == "Status"
    assert status["reason"] == "NotFound"
    assert status["code"] == 404


async def test_conflict_status_in_protobuf(api: API) -> None:
    await api.create_cm("dup")
    r = await pb_request(api, "POST", CMS, body=configmap("dup"))
    assert r.status == 409
    assert r.content_type == PB
    assert r.obj["reason"] == "AlreadyExists"
    assert r.obj["details"] == {"name": "dup", "kind": "configmaps"}


async def test_unencodable_stored_object_falls_back_to_json(api: API) -> None:
    """A stored value that does not fit the protobuf schema is still served (as JSON), never a 500."""
    store = api.server.context.store
    await store.create("/registry/configmaps/default/odd",
                       b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd","namespace":"default"},'
                       b'"data":{"k":12}}')
    for query in ("", "?resourceVersion=0"):
        for _ in range(50):  # the watch cache catches up with the direct store write
            r = await pb_request(api, "GET", f"{CMS}/odd{query}")
            if r.status == 200:
                break
        assert r.status == 200
        assert r.content_type == "application/json"
        assert r.obj["data"] == {"k": 12}
    listed = await pb_request(api, "GET", CMS)
    assert listed.status == 200
    assert listed.content_type == "application/json"


async def test_discovery_answers_protobuf_first_clients_in_json(api: API) -> None:
    """Discovery documents are JSON: client-go's protobuf clients list JSON second and read it."""
    for path in ("/api/v1", "/apis/apps/v1", "/api", "/apis"):
        async with api.session.get(api.url + path, headers={"Accept": KUBECTL_ACCEPT}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/json")


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (KUBECTL_ACCEPT, PB),
        ("application/vnd.kubernetes.protobuf;stream=watch", PB),
        ("*/*", "application/json"),
        ("application/*", "application/json"),
        ("application/yaml, application/vnd.kubernetes.protobuf", "application/yaml"),
        ("application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json",
         "application/json"),
    ],
)
def test_negotiate_with_protobuf(accept: str, media_type: str) -> None:
    rep = negotiation.negotiate(accept, allow_protobuf=True)
    assert rep.media_type == media_type
    assert rep.target is negotiation.Target.OBJECT
    rep.require_compatible(is_list=True, is_watch=rep.media_type != "application/yaml")


def test_protobuf_is_only_negotiated_where_allowed() -> None:
    assert negotiation.negotiate(KUBECTL_ACCEPT) == negotiation.Representation()
    with pytest.raises(NotAcceptable) as exc:
        negotiation.negotiate(PB)
    assert PB in exc.value.message  # advertised, as upstream's 406 does
