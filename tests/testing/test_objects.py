"""Pure parts of the test helpers: manifest loading, ``wait_for`` conditions, namespace names."""

from __future__ import annotations

from pathlib import Path

import pytest

from sampan.testing.objects import load_manifests, parse_condition
from sampan.testing.plugin import namespace_name

READY = {"status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Stalled", "status": "False"}],
                    "readyReplicas": 3, "paused": False}}


def test_conditions_read_like_kubectl_wait() -> None:
    assert parse_condition("condition=Ready")(READY)
    assert parse_condition("Ready")(READY)
    assert parse_condition("condition=Stalled=False")(READY)
    assert not parse_condition("condition=Stalled")(READY)
    assert not parse_condition("condition=Ready")(None)
    assert parse_condition("jsonpath={.status.readyReplicas}=3")(READY)
    assert parse_condition("jsonpath='{.status.paused}'=false")(READY)
    assert not parse_condition("jsonpath={.status.readyReplicas}=2")(READY)
    assert not parse_condition("jsonpath={.status.missing}=x")(READY)
    assert parse_condition("delete")(None)
    assert not parse_condition("delete")(READY)
    assert parse_condition("exists")(READY)
    assert parse_condition(lambda obj: obj is None)(None)


@pytest.mark.parametrize("bad", ["jsonpath={.a}", "condition=", "jsonpath=nope=1"])
def test_unreadable_conditions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_condition(bad)


def test_manifests_from_text_files_directories_and_lists(tmp_path: Path) -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: List\nitems:\n" \
           "- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n"
    assert [o["kind"] for o in load_manifests(text)] == ["ConfigMap", "Secret"]
    (tmp_path / "2.yaml").write_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n")
    (tmp_path / "1.json").write_text('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}')
    (tmp_path / "notes.txt").write_text("not a manifest")
    assert [o["metadata"]["name"] for o in load_manifests(tmp_path)] == ["c", "s"]
    assert [o["metadata"]["name"] for o in load_manifests(str(tmp_path / "2.yaml"))] == ["s"]
    assert load_manifests({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})[0]["kind"] == "Pod"
    with pytest.raises(ValueError, match="apiVersion and kind"):
        load_manifests("just: a map\n")


def test_namespace_names_are_dns_labels() -> None:
    name = namespace_name("test_thing[Param/With Spaces-" + "x" * 80 + "]")
    assert len(name) <= 63
    assert name.startswith("test-thing-param-with-spaces-")
    assert all(c.isalnum() or c == "-" for c in name)
    assert name == name.lower()
    assert namespace_name("t") != namespace_name("t")
    assert namespace_name("___").startswith("test-")
