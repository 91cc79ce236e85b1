"""Pure parts of authorization: RequestInfo parsing, rule matching, coverage and its upstream text."""

from __future__ import annotations

import pytest

from sampan.apiserver.authz.attributes import Attributes, RequestInfo, request_info
from sampan.apiserver.authz.coverage import compact, compact_string, covers
from sampan.apiserver.authz.rules import rule_allows
from sampan.apiserver.userinfo import UserInfo


@pytest.mark.parametrize(("method", "path", "query", "expected"), [
    ("GET", "/api/v1/namespaces/default/pods", {}, RequestInfo(True, "list", "/api/v1/namespaces/default/pods",
                                                                "", "v1", "default", "pods")),
    ("GET", "/api/v1/namespaces/default/pods", {"watch": "1"},
     RequestInfo(True, "watch", "/api/v1/namespaces/default/pods", "", "v1", "default", "pods")),
    ("GET", "/api/v1/watch/namespaces/default/pods/p", {},
     RequestInfo(True, "watch", "/api/v1/watch/namespaces/default/pods/p", "", "v1", "default", "pods", "", "p")),
    ("GET", "/api/v1/namespaces/ns/secrets", {"fieldSelector": "metadata.name=s1"},
     RequestInfo(True, "list", "/api/v1/namespaces/ns/secrets", "", "v1", "ns", "secrets", "", "s1")),
    ("DELETE", "/apis/apps/v1/namespaces/x/deployments", {},
     RequestInfo(True, "deletecollection", "/apis/apps/v1/namespaces/x/deployments", "apps", "v1", "x",
                 "deployments")),
    ("PATCH", "/apis/apps/v1/namespaces/x/deployments/d/scale", {},
     RequestInfo(True, "patch", "/apis/apps/v1/namespaces/x/deployments/d/scale", "apps", "v1", "x", "deployments",
                 "scale", "d")),
    ("GET", "/api/v1/namespaces/kube-system", {},
     RequestInfo(True, "get", "/api/v1/namespaces/kube-system", "", "v1", "kube-system", "namespaces", "",
                 "kube-system")),
    ("PUT", "/api/v1/namespaces/ns1/finalize", {},
     RequestInfo(True, "update", "/api/v1/namespaces/ns1/finalize", "", "v1", "ns1", "namespaces", "finalize",
                 "ns1")),
    ("GET", "/api/v1/proxy/namespaces/d/pods/p/x/y", {},
     RequestInfo(True, "proxy", "/api/v1/proxy/namespaces/d/pods/p/x/y", "", "v1", "d", "pods", "", "p")),
    ("GET", "/apis/apps/v1", {}, RequestInfo(False, "get", "/apis/apps/v1")),
    ("POST", "/api", {}, RequestInfo(False, "post", "/api")),
    ("GET", "/healthz/etcd", {}, RequestInfo(False, "get", "/healthz/etcd")),
])
def test_request_info(method: str, path: str, query: dict[str, str], expected: RequestInfo) -> None:
    assert request_info(method, path, query) == expected


def _attrs(verb: str, resource: str = "", *, sub: str = "", name: str = "", group: str = "",
           path: str = "") -> Attributes:
    return Attributes(user=UserInfo("u"), verb=verb, is_resource_request=not path, api_group=group,
                      resource=resource, subresource=sub, name=name, path=path)


def test_rule_matching() -> None:
    pods = {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}
    assert rule_allows(pods, _attrs("get", "pods"))
    assert not rule_allows(pods, _attrs("get", "pods", sub="log"))
    assert rule_allows({**pods, "resources": ["*/log"]}, _attrs("get", "pods", sub="log"))
    assert rule_allows({**pods, "resources": ["pods/log"]}, _attrs("get", "pods", sub="log"))
    assert not rule_allows({**pods, "resourceNames": ["a"]}, _attrs("get", "pods"))
    assert rule_allows({**pods, "resourceNames": ["a"]}, _attrs("get", "pods", name="a"))
    assert rule_allows({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}, _attrs("x", "y", group="z"))
    urls = {"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}
    assert rule_allows(urls, _attrs("get", path="/healthz"))
    assert not rule_allows(urls, _attrs("get", path="/healthz/etcd"))
    assert rule_allows(urls, _attrs("get", path="/apis/apps"))
    assert not rule_allows(urls, _attrs("post", path="/healthz"))


def test_coverage_and_message_text() -> None:
    owner = [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/status"]}]
    assert covers(owner, [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "nodes/status"]}])[0]
    ok, missing = covers(owner, [{"verbs": ["get", "delete"], "apiGroups": [""], "resources": ["*"]}])
    assert not ok
    assert [compact_string(r) for r in compact(missing)] == [
        '{APIGroups:[""], Resources:["*"], Verbs:["get" "delete"]}']
    named = [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"], "resourceNames": ["a"]}]
    assert covers(named, named)[0]
    assert not covers(named, [{"verbs": ["get"], "apiGroups": [""], "resources": ["secrets"]}])[0]
    wildcard_urls = [{"verbs": ["*"], "nonResourceURLs": ["/api/*"]}]
    assert covers(wildcard_urls, [{"verbs": ["get"], "nonResourceURLs": ["/api/v1"]}])[0]
