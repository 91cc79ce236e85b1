"""The one mapping from storage errors to API errors (and so to HTTP codes).

KeyExists -> 409 AlreadyExists · KeyNotFound -> 404 NotFound · Conflict -> 409 Conflict ("the object has
been modified") · Compacted -> 410 Expired · ValueTooLarge -> 413 RequestEntityTooLarge · InvalidKey ->
400 BadRequest · Unavailable / WatchClosed -> 503 ServiceUnavailable. Anything else is a 500.
"""

from __future__ import annotations

from sampan.api import errors
from sampan.storage import errors as serr

MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def to_api_error(err: serr.StorageError, *, resource: str, group: str, name: str) -> errors.APIError:
    """The API error a storage error means for an operation on ``resource``/``name``."""
    if isinstance(err, serr.KeyExists):
        return errors.already_exists(resource, name, group)
    if isinstance(err, serr.KeyNotFound):
        return errors.not_found(resource, name, group)
    if isinstance(err, serr.Conflict):
        if err.actual == 0:
            return errors.not_found(resource, name, group)
        return errors.conflict(resource, name, MODIFIED, group)
    if isinstance(err, serr.Compacted):
        return errors.too_old_resource_version(err.requested, err.compacted)
    if isinstance(err, serr.ValueTooLarge):
        return errors.RequestEntityTooLarge(f"Request entity too large: limit is {err.limit}")
    if isinstance(err, serr.InvalidKey):
        return errors.BadRequest(f"invalid name {name!r}")
    if isinstance(err, serr.Unavailable | serr.WatchClosed):
        return errors.ServiceUnavailable(f"storage unavailable: {err}")
    return errors.InternalError(f"storage error: {err}")
