"""Image references: distribution's grammar, normalisation, default tag and pull policy."""

from __future__ import annotations

import pytest

from sampan.kubelet.images.reference import (
    ReferenceError,
    apply_default_tag,
    default_pull_policy,
    parse_normalized,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("image", "normalized", "familiar"), [
    ("busybox", "docker.io/library/busybox", "busybox"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox"),
    ("library/busybox", "docker.io/library/busybox", "busybox"),
    ("team/app:v2", "docker.io/team/app:v2", "team/app"),
    ("index.docker.io/team/app", "docker.io/team/app", "team/app"),
    ("127.0.0.1:5000/web:1", "127.0.0.1:5000/web:1", "127.0.0.1:5000/web"),
    ("localhost/x/y", "localhost/x/y", "localhost/x/y"),
    ("registry.example.com/a/b/c_d__e-f", "registry.example.com/a/b/c_d__e-f", "registry.example.com/a/b/c_d__e-f"),
    (f"busybox@{DIGEST}", f"docker.io/library/busybox@{DIGEST}", "busybox"),
])
def test_parse_normalized(image: str, normalized: str, familiar: str) -> None:
    ref = parse_normalized(image)
    assert (str(ref), ref.familiar()) == (normalized, familiar)


@pytest.mark.parametrize(("image", "message"), [
    ("", "invalid reference format"),
    ("Busybox", "invalid reference format: repository name must be lowercase"),
    ("example.com/Team/app", "invalid reference format: repository name must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("a:b:c", "invalid reference format"),
    ("bad image", "invalid reference format"),
    ("ab" * 32, f"invalid repository name ({'ab' * 32}), cannot specify 64-byte hexadecimal strings"),
    ("x/" + "a" * 260, "repository name must not be more than 255 characters"),
])
def test_invalid_references(image: str, message: str) -> None:
    with pytest.raises(ReferenceError) as info:
        parse_normalized(image)
    assert str(info.value) == message


def test_default_tag_keeps_the_name_unqualified() -> None:
    assert apply_default_tag("busybox") == "busybox:latest"
    assert apply_default_tag("127.0.0.1:5000/web") == "127.0.0.1:5000/web:latest"
    assert apply_default_tag("busybox:1") == "busybox:1"
    assert apply_default_tag(f"busybox@{DIGEST}") == f"busybox@{DIGEST}"
    with pytest.raises(ReferenceError) as info:
        apply_default_tag("Bad")
    assert str(info.value) == ('couldn\'t parse image reference "Bad": invalid reference format: repository name '
                               "must be lowercase")


@pytest.mark.parametrize(("image", "policy"), [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("127.0.0.1:5000/web", "Always"),
    ("busybox:1.36", "IfNotPresent"), ("127.0.0.1:5000/web:1", "IfNotPresent"),
    (f"busybox@{DIGEST}", "IfNotPresent"), (f"busybox:latest@{DIGEST}", "IfNotPresent"),
])
def test_default_pull_policy(image: str, policy: str) -> None:
    assert default_pull_policy(image) == policy
