"""Properties of server-side apply over generated Deployment configurations."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sampan.api.apply import (
    apply,
    decode_managed_fields,
    from_fields_v1,
    to_field_set,
    to_fields_v1,
    update_managed_fields,
)
from sampan.api.apply.fieldmanager import STRIPPED
from sampan.api.apply.path import FIELD, KEY, VALUE, Path, element_values
from sampan.api.apply.shapes import root
from tests.api.apply.objects import DEPLOYMENT, stored

T = root(DEPLOYMENT)
MISSING = object()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.sampled_from(["a", "b", "c", "d"])
text = st.text(alphabet="xyz019", min_size=1, max_size=4)


@st.composite
def containers(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for name in draw(st.lists(names, unique=True, max_size=3)):
        c: dict[str, Any] = {"name": name}
        if draw(st.booleans()):
            c["image"] = draw(text)
        if draw(st.booleans()):
            c["args"] = draw(st.lists(text, max_size=2))
        ports = draw(st.lists(st.sampled_from([80, 443, 8080]), unique=True, max_size=2))
        if ports:
            c["ports"] = [{"containerPort": p, **({"name": draw(text)} if draw(st.booleans()) else {})} for p in ports]
        env = draw(st.lists(names, unique=True, max_size=2))
        if env:
            c["env"] = [{"name": e.upper(), "value": draw(text)} for e in env]
        out.append(c)
    return out


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    labels = draw(st.dictionaries(names, text, max_size=3))
    if labels:
        meta["labels"] = labels
    finalizers = draw(st.lists(st.sampled_from(["x.io/a", "x.io/b", "y.io/c"]), unique=True, max_size=2))
    if finalizers:
        meta["finalizers"] = finalizers
    spec: dict[str, Any] = {}
    if draw(st.booleans()):
        spec["replicas"] = draw(st.integers(0, 5))
    if draw(st.booleans()):
        spec["paused"] = draw(st.booleans())
    cs = draw(containers())
    if cs:
        spec["template"] = {"spec": {"containers": cs}}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def value_at(obj: Any, path: Path) -> Any:
    """The value at ``path`` in a Deployment (port keys default their protocol to TCP)."""
    for pe in path:
        if pe.rank == FIELD:
            if not isinstance(obj, dict) or pe.order[0] not in obj:
                return MISSING
            obj = obj[pe.order[0]]
        elif pe.rank == KEY:
            wanted = element_values(pe)
            found = [i for i in obj
                     if all(i.get(k, "TCP" if k == "protocol" else None) == v for k, v in wanted.items())]
            if not found:
                return MISSING
            obj = found[0]
        elif pe.rank == VALUE:
            if element_values(pe) not in obj:
                return MISSING
            obj = element_values(pe)
    return obj


def owned(obj: dict[str, Any], manager: str) -> frozenset[Path]:
    managed = decode_managed_fields(obj["metadata"].get("managedFields"))
    return next((ms.fields for m, ms in managed.fields.items() if m.manager == manager), frozenset())


def leaves(obj: Any, paths: frozenset[Path]) -> list[Path]:
    return [p for p in paths if not isinstance(value_at(obj, p), dict | list) or p[-1].order[0] == "args"]


@SETTINGS
@given(configs(), configs())
def test_applying_the_same_config_twice_is_idempotent(c1: dict[str, Any], c2: dict[str, Any]) -> None:
    first = stored(apply(None, c1, manager="one", force=False, type_node=DEPLOYMENT, now=1))
    assert apply(first, c1, manager="one", force=False, type_node=DEPLOYMENT, now=2) == first
    second = apply(first, c2, manager="two", force=True, type_node=DEPLOYMENT, now=3)
    assert apply(second, c2, manager="two", force=False, type_node=DEPLOYMENT, now=4) == second


@SETTINGS
@given(configs(), configs())
def test_after_a_forced_apply_owners_only_share_agreed_values(c1: dict[str, Any], c2: dict[str, Any]) -> None:
    first = stored(apply(None, c1, manager="one", force=False, type_node=DEPLOYMENT, now=1))
    result = apply(first, c2, manager="two", force=True, type_node=DEPLOYMENT, now=3)
    s1, s2 = owned(result, "one"), owned(result, "two")
    # Every applier's owned leaves still hold what it applied; so any shared leaf is one both agree on.
    for manager_set, config in ((s1, c1), (s2, c2)):
        for p in leaves(result, manager_set):
            assert value_at(result, p) == value_at(config, p), p
    for p in leaves(result, s1 & s2):
        assert value_at(c1, p) == value_at(c2, p)
    # And the forced applier's configuration is fully in effect.
    for p in leaves(c2, to_field_set(c2, T)):
        assert value_at(result, p) == value_at(c2, p)


@SETTINGS
@given(configs(), configs())
def test_a_dropped_field_is_gone_unless_someone_else_owns_it(c1: dict[str, Any], c2: dict[str, Any]) -> None:
    first = stored(apply(None, c1, manager="one", force=False, type_node=DEPLOYMENT, now=1))
    result = apply(first, c2, manager="one", force=False, type_node=DEPLOYMENT, now=2)
    assert owned(result, "one") == to_field_set(c2, T) - STRIPPED
    for p in leaves(first, to_field_set(c1, T) - to_field_set(c2, T)):
        assert value_at(result, p) is MISSING, p


@SETTINGS
@given(configs())
def test_fields_v1_round_trips(config: dict[str, Any]) -> None:
    s = to_field_set(config, T)
    assert from_fields_v1(to_fields_v1(s)) == s


@SETTINGS
@given(configs(), configs())
def test_an_update_owns_exactly_what_it_changed(c1: dict[str, Any], c2: dict[str, Any]) -> None:
    old = stored(apply(None, c1, manager="one", force=False, type_node=DEPLOYMENT, now=1))
    new = stored(c2)
    new["metadata"]["managedFields"] = old["metadata"]["managedFields"]
    out = update_managed_fields(old, new, manager="writer", now=2, type_node=DEPLOYMENT)
    mine, theirs = owned(out, "writer"), owned(out, "one")
    for p in leaves(out, to_field_set(out, T) - STRIPPED):
        if value_at(old, p) != value_at(out, p):
            assert p in mine, p
            assert p not in theirs, p
    for p in leaves(out, theirs):
        assert value_at(out, p) == value_at(c1, p), p
