"""``RESTClient._url`` (a plain path appended to the base URL parsed once) against what aiohttp parses from
``base + path`` (differential: random paths over an alphabet with characters yarl quotes or normalises, and
servers with upper-case hosts, default ports, IPv6, path prefixes, credentials)."""

from __future__ import annotations

import asyncio
import random

import pytest
from yarl import URL

from sampan.client.config import RESTConfig
from sampan.client.rest import RESTClient

BASES = ["http://127.0.0.1:6443", "https://127.0.0.1:6443/", "https://Kube.Example.COM", "https://kube.example:443",
         "http://[::1]:8080", "https://h:6443/prefix", "https://h:6443/pre/fix/", "https://h/a b", "https://h/%41",
         "https://user:pw@h:6443", "https://h:6443/p/../q", "https://bücher.example:6443", "http://h:80/.x"]
ALPHABET = ["a", "Z", "0", "-", ".", "_", "~", ":", "@", "/", "//", "%", "%2F", "%41", " ", "?", "#", "ü", "+",
            "=", "&", "..", "/./", "/../", "!", "'", "(", "*", ",", ";", "$", "\\"]


def urls(base: str, paths: list[str]) -> list[tuple[str, object, URL]]:
    async def run() -> list[tuple[str, object, URL]]:
        async with RESTClient(RESTConfig(host=base)) as client:
            return [(path, client._url(path), URL(client._base + path)) for path in paths]
    return asyncio.run(run())


def random_path(rng: random.Random) -> str:
    if rng.random() < 0.5:  # object paths as the client library makes them
        name = "".join(rng.choice("abcz019-.") for _ in range(rng.randrange(1, 12)))
        return rng.choice(["/api/v1/namespaces/default/pods/", "/apis/coordination.k8s.io/v1/namespaces/"
                           "kube-node-lease/leases/", "/api/v1/nodes/"]) + name + rng.choice(["", "/status"])
    return "/" + "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 10)))


@pytest.mark.parametrize("base", BASES)
def test_same_url_as_aiohttp_parses(base: str) -> None:
    rng = random.Random(base)
    paths = ["", "/", "/api", "/api/v1/nodes/hollow-1", "/api/v1/nodes/.hidden", "/api/v1/nodes/a..b"]
    paths += [random_path(rng) for _ in range(2_000)]
    fast = 0
    for path, ours, theirs in urls(base, paths):
        parsed = URL(ours) if isinstance(ours, str) else ours
        assert parsed == theirs, (base, path)
        assert str(parsed) == str(theirs), (base, path)
        assert (parsed.raw_path, parsed.host, parsed.port) == (theirs.raw_path, theirs.host, theirs.port)
        fast += isinstance(ours, URL)
    if not any(c in base for c in ("@", " ", "/.", "%")):
        assert fast > 800, base  # most object paths (~1,000 of them) take the parsed-once path


def test_object_paths_of_hollow_nodes_are_prebuilt() -> None:
    [(_, lease, _), (_, status, _)] = urls("http://127.0.0.1:6443", [
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/hollow-4999", "/api/v1/nodes/hollow-1/status"])
    assert isinstance(lease, URL)
    assert isinstance(status, URL)
