"""Image references as the kubelet reads them (the docker/distribution ``reference`` grammar).

``[domain/]path[:tag][@digest]``: the domain is the first ``/``-separated part when it contains ``.`` or
``:`` or is ``localhost`` (else the image is on ``docker.io``, and a one-part path gets ``library/``);
path components are lowercase alphanumerics joined by ``.``, ``_``, ``__`` or dashes; a tag is
``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``; a digest ``algorithm:hex``. Invalid references raise
:class:`ReferenceError` with distribution's messages (``invalid reference format`` and its variants),
which the kubelet wraps into upstream's ``InvalidImageName`` message.

Pure functions, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")
_ANCHORED_ID = re.compile(r"^[a-f0-9]{64}$")


class ReferenceError(ValueError):
    """An image reference that does not parse; ``str()`` is distribution's message."""


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A parsed, normalised reference: ``domain`` (``docker.io`` when none was written), ``path``
    (``library/busybox`` for ``busybox``), ``tag`` and ``digest`` ("" when absent)."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The fully qualified repository: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    def familiar(self) -> str:
        """The shortest spelling of the repository, as ``docker`` prints it (``busybox``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        return self.path.removeprefix(OFFICIAL_REPO_PREFIX) if self.path.count("/") == 1 else self.path

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def split_domain(name: str) -> tuple[str, str]:
    """(domain, remainder) of a repository name, docker.io and ``library/`` applied as distribution does."""
    first, sep, rest = name.partition("/")
    if not sep or ("." not in first and ":" not in first and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_REPO_PREFIX + remainder
    return domain, remainder


def parse_normalized(image: str) -> ImageReference:
    """Parse ``image`` as distribution's ``ParseNormalizedNamed`` does. Raises :class:`ReferenceError`."""
    if _ANCHORED_ID.match(image):
        raise ReferenceError(f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings")
    domain, remainder = split_domain(image)
    remote_name = remainder.split(":", 1)[0]
    if remote_name.lower() != remote_name:
        raise ReferenceError("invalid reference format: repository name must be lowercase")
    match = _REFERENCE.match(f"{domain}/{remainder}")
    if match is None:
        raise ReferenceError("invalid reference format")
    if len(match.group("name")) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    return ImageReference(domain=domain, path=match.group("name")[len(domain) + 1:], tag=match.group("tag") or "",
                          digest=match.group("digest") or "")


def apply_default_tag(image: str) -> str:
    """``image`` with ``:latest`` appended when it has neither tag nor digest (upstream's
    ``applyDefaultImageTag``: the name itself is left unqualified). Raises :class:`ReferenceError`
    with the message upstream wraps as ``couldn't parse image reference``."""
    try:
        ref = parse_normalized(image)
    except ReferenceError as err:
        raise ReferenceError(f"couldn't parse image reference {go_quote(image)}: {err}") from None
    return image if ref.tag or ref.digest else image + ":latest"


def default_pull_policy(image: str) -> str:
    """The API's default ``imagePullPolicy``: ``Always`` for ``:latest`` or untagged images (no digest),
    else ``IfNotPresent``."""
    try:
        ref = parse_normalized(image)
    except ReferenceError:
        return "IfNotPresent"
    if ref.digest:
        return "IfNotPresent"
    return "Always" if ref.tag in ("", "latest") else "IfNotPresent"


def go_quote(s: str) -> str:
    """Go's ``%q`` for the printable strings image names are."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


