"""LIST ``continue`` tokens, in upstream's shape: base64url of ``{"v":"meta.k8s.io/v1","rv":R,"start":S}``.

``rv`` is the revision the first page was read at (every later page reads at the same revision, so the
whole list is one consistent snapshot); ``start`` is the key, relative to the collection's store prefix,
to start after, followed by a NUL (upstream's "next key" convention). ``rv`` -1 means "continue at the
latest revision" (handed out with a 410 when the snapshot was compacted away).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import orjson

from sampan.api import errors

_VERSION = "meta.k8s.io/v1"
_BAD_RV = "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)"


@dataclass(frozen=True, slots=True)
class ContinueToken:
    revision: int
    start_after: str
    """The full store key the next page starts after."""


def encode(*, revision: int, last_key: str, prefix: str) -> str:
    payload = {"v": _VERSION, "rv": revision, "start": last_key[len(prefix):] + "\x00"}
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode(token: str, *, prefix: str) -> ContinueToken:
    """Parse ``token`` for a collection under ``prefix``; 400 BadRequest when it is not one of ours."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError, orjson.JSONDecodeError):
        raise errors.BadRequest("continue key is not valid: illegal base64 data or not JSON") from None
    if not isinstance(data, dict) or data.get("v") != _VERSION:
        raise errors.BadRequest(_BAD_RV)
    rv, start = data.get("rv"), data.get("start")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv == 0 or rv < -1 or not isinstance(start, str):
        raise errors.BadRequest(_BAD_RV)
    if not start or "\x00" in start[:-1] or ".." in start.split("/") or start.startswith("/"):
        raise errors.BadRequest("continue key is not valid: invalid start key")
    start = start[:-1] if start.endswith("\x00") else start
    return ContinueToken(revision=rv, start_after=prefix + start)


class ExpiredContinue(errors.Expired):
    """410 for a continue token whose snapshot was compacted, carrying a fresh token in
    ``metadata.continue`` that continues at the latest revision (upstream behaviour)."""

    def __init__(self, fresh_token: str) -> None:
        super().__init__(
            "The provided continue parameter is too old to display a consistent list result. You can start a new "
            "list without the continue parameter, or use the continue token in this response to retrieve the "
            "remainder of the results. Continuing with the provided token results in an inconsistent list - "
            "objects that were created, modified, or deleted between the time the first chunk was returned and "
            "now may show up in the list."
        )
        self.fresh_token = fresh_token

    def to_status(self) -> dict[str, object]:
        status = super().to_status()
        status["metadata"] = {"continue": self.fresh_token}
        return status
