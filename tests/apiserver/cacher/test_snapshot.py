"""Pages at an earlier revision rebuilt from the window (``ResourceCache.page_at``): compared, page by
page, with the state recorded at that revision, over random creates, updates, deletes and re-creates."""

from __future__ import annotations

import random

from sampan.api.selectors import FieldSelector, LabelSelector
from sampan.apiserver.cacher.objects import encode_for_store
from sampan.apiserver.cacher.resource_cache import ResourceCache
from sampan.apiserver.cacher.watcher import Filter
from sampan.storage import Event, EventType

PREFIX = "/registry/configmaps/"


def fields(obj: dict) -> dict[str, str]:
    return {"metadata.name": obj["metadata"]["name"], "metadata.namespace": obj["metadata"].get("namespace", "")}


def value(name: str, ns: str, gen: int) -> bytes:
    return encode_for_store({"kind": "ConfigMap", "apiVersion": "v1",
                             "metadata": {"name": name, "namespace": ns, "labels": {"odd": str(gen % 2)}},
                             "data": {"gen": str(gen)}})


def walk(cache: ResourceCache, flt: Filter, *, prefix: str, revision: int, limit: int) -> list[tuple[str, int]]:
    """Every page at ``revision`` (the first one too), as (key, rv) pairs."""
    out: list[tuple[str, int]] = []
    start_after: str | None = None
    while True:
        page = cache.page_at(flt, prefix=prefix, start_after=start_after, limit=limit, revision=revision)
        assert page is not None
        items, last = page
        assert len(items) <= limit
        out += [(co.key, co.rv) for co in items]
        if last is None:
            return out
        start_after = last


def test_pages_at_every_past_revision_match_the_recorded_state() -> None:
    rnd = random.Random(21)
    cache = ResourceCache(PREFIX, kind="ConfigMap", api_version="v1", field_values_of=fields, window_size=400,
                          watcher_capacity=10)
    cache.reset([], 1)
    live: dict[str, tuple[int, int]] = {}  # key -> (rv, gen)
    states: dict[int, dict[str, tuple[int, int]]] = {1: {}}
    rev = 1
    for _ in range(300):
        rev += 1
        key = f"{PREFIX}{rnd.choice(['a', 'b', 'c'])}/n{rnd.randrange(25):02d}"
        ns, name = key[len(PREFIX):].split("/")
        gen = rnd.randrange(100)
        if key in live and rnd.random() < 0.3:
            cache.apply(Event(EventType.DELETED, key, rev, value(name, ns, live[key][1]), None))
            del live[key]
        else:
            kind = EventType.UPDATED if key in live else EventType.CREATED
            cache.apply(Event(kind, key, rev, value(name, ns, gen), None))
            live[key] = (rev, gen)
        states[rev] = dict(live)
    odd = Filter(None, LabelSelector.parse("odd=1"), FieldSelector.parse(""))
    for revision in [1, 2, 50, 150, 299, rev - 1, rev]:
        state = states[revision]
        for flt, prefix in [(Filter(), PREFIX), (Filter(namespace="b"), PREFIX + "b/"), (odd, PREFIX)]:
            want = sorted((k, v[0]) for k, v in state.items() if k.startswith(prefix)
                          and (flt.labels is None or flt.labels.empty or v[1] % 2 == 1))
            for limit in (1, 3, 7, 1000):
                assert walk(cache, flt, prefix=prefix, revision=revision, limit=limit) == want


def test_a_revision_the_window_no_longer_reaches_is_refused() -> None:
    cache = ResourceCache(PREFIX, kind="ConfigMap", api_version="v1", field_values_of=fields, window_size=3,
                          watcher_capacity=10)
    cache.reset([], 1)
    for rev in range(2, 8):
        cache.apply(Event(EventType.CREATED, f"{PREFIX}a/n{rev}", rev, value(f"n{rev}", "a", rev), None))
    assert cache.page_at(Filter(), prefix=PREFIX, start_after=None, limit=10, revision=3) is None
    page = cache.page_at(Filter(), prefix=PREFIX, start_after=None, limit=10, revision=4)
    assert page is not None
    assert [co.name for co in page[0]] == ["n2", "n3", "n4"]
