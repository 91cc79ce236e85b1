"""The error an authenticator raises for credentials of its kind that do not verify."""

from __future__ import annotations

from sampan.api import errors


class CredentialsRejected(errors.Unauthorized):
    """A 401 whose body says only ``Unauthorized`` (as upstream: nothing for a prober to learn); ``why`` is
    for the log and for TokenReview's ``status.error``."""

    def __init__(self, why: str) -> None:
        super().__init__("Unauthorized")
        self.why = why
