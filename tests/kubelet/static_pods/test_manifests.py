"""Reading static pod manifests: upstream's defaults, stable uids, and one-line errors for bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sampan.kubelet.static_pods.manifests import (
    CONFIG_HASH,
    CONFIG_SOURCE,
    ManifestError,
    apply_defaults,
    decode,
    full_name,
    is_mirror,
    is_static,
    read_directory,
)

POD_YAML = """apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: main
    image: python
    command: [python3, -m, http.server]
"""


def test_defaults_name_namespace_node_uid_annotations_and_toleration() -> None:
    pod = apply_defaults(decode(POD_YAML, source="/m/web.yaml"), node_name="Node-A", source="/m/web.yaml")
    md = pod["metadata"]
    assert md["name"] == "web-node-a"
    assert md["namespace"] == "default"
    assert len(md["uid"]) == 32
    assert md["annotations"] == {CONFIG_HASH: md["uid"], CONFIG_SOURCE: "file"}
    assert md["labels"] == {"app": "web"}
    assert pod["spec"]["nodeName"] == "Node-A"
    assert pod["spec"]["tolerations"] == [{"operator": "Exists", "effect": "NoExecute"}]
    assert is_static(pod)
    assert not is_mirror(pod)
    assert full_name(pod) == "default/web-node-a"


def test_uid_is_stable_for_the_same_file_and_changes_with_content_node_or_path() -> None:
    def uid(text: str, node: str = "n1", source: str = "/m/web.yaml") -> str:
        return str(apply_defaults(decode(text, source=source), node_name=node, source=source)["metadata"]["uid"])

    assert uid(POD_YAML) == uid(POD_YAML)
    assert uid(POD_YAML) != uid(POD_YAML.replace("http.server", "json.tool"))
    assert uid(POD_YAML) != uid(POD_YAML, node="n2")
    assert uid(POD_YAML) != uid(POD_YAML, source="/m/other.yaml")
    # JSON and YAML of the same pod are the same pod
    import yaml

    assert uid(json.dumps(yaml.safe_load(POD_YAML))) == uid(POD_YAML)


def test_an_explicit_uid_and_existing_tolerations_are_kept() -> None:
    doc = decode(POD_YAML, source="f")
    doc["metadata"]["uid"] = "my-uid"
    doc["spec"]["tolerations"] = [{"operator": "Exists", "effect": "NoExecute"}, {"key": "k", "operator": "Exists"}]
    pod = apply_defaults(doc, node_name="n1", source="f")
    assert pod["metadata"]["uid"] == "my-uid"
    assert len(pod["spec"]["tolerations"]) == 2


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not YAML or JSON"),
    ("kind: Deployment\napiVersion: apps/v1\n", "not a v1 Pod"),
    ("kind: Pod\napiVersion: v1\nspec: {containers: [{name: a}]}\n", "metadata.name is required"),
    ("kind: Pod\napiVersion: v1\nmetadata: {name: a}\nspec: {containers: []}\n", "at least one container"),
    ("kind: Pod\napiVersion: v1\nmetadata: {name: a}\nspec: {containers: [{image: x}]}\n", "needs a name"),
    (POD_YAML + "---\n" + POD_YAML, "exactly one pod"),
    ("", "exactly one pod"),
])
def test_bad_manifests_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as err:
        decode(text, source="/m/bad.yaml")
    assert message in str(err.value)
    assert str(err.value).startswith("/m/bad.yaml: ")
    assert "\n" not in str(err.value)


def test_an_invalid_generated_name_is_refused() -> None:
    with pytest.raises(ManifestError, match="DNS-1123"):
        apply_defaults(decode(POD_YAML.replace("name: web", "name: Web_1"), source="f"), node_name="n1", source="f")


def test_read_directory_skips_hidden_files_subdirectories_and_bad_files(tmp_path: Path) -> None:
    (tmp_path / "web.yaml").write_text(POD_YAML)
    (tmp_path / "api.json").write_text(json.dumps({"apiVersion": "v1", "kind": "Pod",
                                                   "metadata": {"name": "api", "namespace": "kube-system"},
                                                   "spec": {"containers": [{"name": "c"}]}}))
    (tmp_path / ".web.yaml.swp").write_text("junk")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.yaml").write_text(POD_YAML)
    (tmp_path / "broken.yaml").write_text("kind: Pod\n")
    (tmp_path / "zz-duplicate.yaml").write_text(POD_YAML)
    read = read_directory(tmp_path, node_name="n1")
    assert sorted(full_name(p) for p in read.pods.values()) == ["default/web-n1", "kube-system/api-n1"]
    assert len(read.errors) == 2
    assert any("broken.yaml" in e for e in read.errors)
    assert any("zz-duplicate.yaml" in e and "already defines" in e for e in read.errors)
    assert all(uid == p["metadata"]["uid"] for uid, p in read.pods.items())


def test_a_missing_directory_holds_no_pods(tmp_path: Path) -> None:
    assert read_directory(tmp_path / "nope", node_name="n1").pods == {}


def test_an_unchanged_manifest_is_not_parsed_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The directory is re-read at every mirror pod change; parsing unchanged manifests with PyYAML each
    time was most of an idle kubelet's CPU. A changed text is parsed again, and results are never shared."""
    parses: list[str] = []
    real = yaml.safe_load_all
    monkeypatch.setattr(yaml, "safe_load_all", lambda text: (parses.append(text), real(text))[1])
    manifest = tmp_path / "cache-test.yaml"
    manifest.write_text(POD_YAML.replace("name: web", "name: cached"))
    first = read_directory(tmp_path, node_name="n1")
    second = read_directory(tmp_path, node_name="n1")
    assert len(parses) == 1
    assert first.pods == second.pods
    [pod] = second.pods.values()
    pod["spec"]["containers"][0]["image"] = "changed-by-a-caller"
    assert read_directory(tmp_path, node_name="n1").pods == first.pods
    manifest.write_text(POD_YAML.replace("name: web", "name: cached2"))
    assert [full_name(p) for p in read_directory(tmp_path, node_name="n1").pods.values()] == ["default/cached2-n1"]
    assert len(parses) == 2
