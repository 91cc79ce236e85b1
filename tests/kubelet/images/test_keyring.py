"""Pull secrets to registry credentials, matched as upstream's credential keyring does."""

from __future__ import annotations

import base64
import json
from typing import Any

from sampan.kubelet.images.keyring import DockerKeyring, keyring_from_secrets, secret_docker_config
from sampan.kubelet.images.reference import parse_normalized


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dockerconfigjson(auths: dict[str, Any], name: str = "regcred") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns"}, "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": b64(json.dumps({"auths": auths}))}}


def users(keyring: DockerKeyring, image: str) -> list[str]:
    return [a.username for a in keyring.lookup(parse_normalized(image))]


def test_dockerconfigjson_with_auth_field_decodes_user_and_password() -> None:
    ring = keyring_from_secrets([dockerconfigjson({"127.0.0.1:5000": {"auth": b64("alice:s3cret")}})])
    [auth] = ring.lookup(parse_normalized("127.0.0.1:5000/web:1"))
    assert (auth.username, auth.password, auth.server_address, auth.auth) == ("alice", "s3cret", "", "")


def test_dockercfg_secret() -> None:
    secret = {"type": "kubernetes.io/dockercfg",
              "data": {".dockercfg": b64(json.dumps({"https://registry.example.com": {"username": "bob",
                                                                                         "password": "pw"}}))}}
    assert users(keyring_from_secrets([secret]), "registry.example.com/team/app:1") == ["bob"]


def test_host_and_port_must_match() -> None:
    ring = DockerKeyring()
    ring.add({"127.0.0.1:5000": {"username": "a", "password": "x"}})
    assert users(ring, "127.0.0.1:5000/web") == ["a"]
    assert users(ring, "127.0.0.1:5001/web") == []
    assert users(ring, "127.0.0.1/web") == []
    assert users(ring, "busybox") == []


def test_path_prefix_and_specificity_order() -> None:
    ring = DockerKeyring()
    ring.add({"registry.example.com": {"username": "any", "password": "x"},
              "registry.example.com/team": {"username": "team", "password": "x"},
              "registry.example.com/team/app": {"username": "app", "password": "x"}})
    assert users(ring, "registry.example.com/team/app:1") == ["app", "team", "any"]
    assert users(ring, "registry.example.com/team/other") == ["team", "any"]
    assert users(ring, "registry.example.com/teams/app") == ["any"]


def test_wildcard_host_matches_one_label() -> None:
    ring = DockerKeyring()
    ring.add({"*.example.com": {"username": "wild", "password": "x"}})
    assert users(ring, "eu.example.com/app") == ["wild"]
    assert users(ring, "a.b.example.com/app") == []
    assert users(ring, "example.com/app") == []


def test_docker_hub_keys_mean_docker_io() -> None:
    ring = DockerKeyring()
    ring.add({"https://index.docker.io/v1/": {"username": "hub", "password": "x"}})
    assert users(ring, "busybox") == ["hub"]
    assert users(ring, "docker.io/team/app") == ["hub"]
    assert users(ring, "quay.io/team/app") == []


def test_unreadable_secrets_and_entries_are_skipped() -> None:
    bad_type = {"type": "Opaque", "data": {".dockerconfigjson": b64("{}")}}
    bad_json = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": b64("not json")}}
    bad_b64 = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "!!!"}}
    assert secret_docker_config(bad_type) is None
    assert secret_docker_config(bad_json) is None
    assert secret_docker_config(bad_b64) is None
    good = dockerconfigjson({"127.0.0.1:5000": {"auth": "not-base64!"},
                             "127.0.0.1:5001": {"auth": b64("no-colon")},
                             "127.0.0.1:5002": "not an entry",
                             "127.0.0.1:5003": {"username": "ok", "password": "pw"}})
    ring = keyring_from_secrets([bad_type, bad_json, bad_b64, good])
    assert len(ring) == 1
    assert users(ring, "127.0.0.1:5003/x") == ["ok"]


def test_identical_credentials_from_two_secrets_are_tried_once() -> None:
    entry = {"127.0.0.1:5000": {"username": "a", "password": "x"}}
    ring = keyring_from_secrets([dockerconfigjson(entry, "one"), dockerconfigjson(entry, "two")])
    assert users(ring, "127.0.0.1:5000/web") == ["a"]
