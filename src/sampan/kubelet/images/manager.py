"""The kubelet's image manager (upstream ``pkg/kubelet/images``): makes sure a container's image is on
the node before the container is created.

``ensure_image(pod, container)``:

1. the image must parse (else ``InvalidImageName``, event ``InspectFailed``);
2. ``imagePullPolicy`` (the API defaults it; a container without one gets the same default here):
   ``Never`` uses the image if present, else ``ErrImageNeverPull``; ``IfNotPresent`` pulls only when
   absent; ``Always`` pulls every time a container starts;
3. a pull that failed puts the (pod uid, image) pair in back-off: while it lasts, no pull is tried and
   the container waits with ``ImagePullBackOff`` (first delay ``backoff_initial``, doubling up to
   ``backoff_max``; an entry idle for twice the maximum starts again from the first delay);
4. the pull uses the pod's ``imagePullSecrets`` (see :mod:`.keyring`): each matching credential in
   turn, anonymously when none matches; with ``serialize_pulls`` one pull runs at a time on the node.

Failures raise :class:`ImageError` (a :class:`RuntimeFailure` whose ``reason`` is the container's
waiting reason and ``message`` upstream's). Events are upstream's: ``Pulling``, ``Pulled`` (with the
pull time, the time including waiting for other pulls, and the size, or "already present on machine"),
``Failed`` (``Failed to pull image …`` then ``Error: <reason>``), ``BackOff``, ``ErrImageNeverPull``,
``InspectFailed``, ``FailedToRetrieveImagePullSecret``. Events of a pull attempt are recorded every
time; those of a standing condition that each sync meets again (back-off, ``Never``, a bad name,
"already present") at most every ``repeat_events_after`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sampan._lib.clock import Clock, RealClock
from sampan.kubelet.api_status import EventSink, container_field_path
from sampan.kubelet.images.keyring import keyring_from_secrets
from sampan.kubelet.images.reference import (
    ImageReference,
    ReferenceError,
    apply_default_tag,
    default_pull_policy,
    go_quote,
    parse_normalized,
)
from sampan.kubelet.runtime.images import ImageInfo, ImagePullError, ImageService
from sampan.kubelet.runtime.interface import RuntimeFailure
from sampan.kubelet.status_manager import pod_key

log = logging.getLogger(__name__)

SecretGetter = Callable[[str, str], Mapping[str, Any] | None]


class ImageError(RuntimeFailure):
    """The image is not usable yet. ``reason``: ``ErrImagePull``, ``ImagePullBackOff``,
    ``ErrImageNeverPull``, ``InvalidImageName`` or ``ImageInspectError``; ``retry_after``: seconds
    until a pull may be tried again (back-off), else 0."""

    def __init__(self, reason: str, message: str, *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class ImageManagerOptions:
    serialize_pulls: bool = True
    """``--serialize-image-pulls``: one pull at a time on the node (upstream's default)."""
    backoff_initial: float = 10.0
    backoff_max: float = 300.0
    repeat_events_after: float = 10.0
    """A standing condition's events (BackOff, ErrImageNeverPull, …) are recorded again after this long
    (upstream's pod workers retry a failing pod every 10 s; sampan's sync every second)."""

    def __post_init__(self) -> None:
        if not 0 < self.backoff_initial <= self.backoff_max:
            raise ValueError("image pull back-off: want 0 < initial <= maximum")


@dataclass(frozen=True, slots=True)
class PulledImage:
    """What ``containerStatuses[]`` reports: ``image`` (the resolved tag) and ``image_id`` (a repo
    digest when the runtime knows one, else the image id)."""

    image: str
    image_id: str


@dataclass(slots=True)
class _BackoffEntry:
    delay: float
    last: float
    error: str


def pulled_image(ref: ImageReference, info: ImageInfo, *, spec_image: str) -> PulledImage:
    """Pick the tag and digest of ``info`` that belong to ``ref`` (else the first ones, else the id)."""
    wanted = str(ref) if ref.tag or ref.digest else f"{ref}:latest"
    image = wanted if wanted in info.repo_tags else (info.repo_tags[0] if info.repo_tags else spec_image)
    digest = next((d for d in info.repo_digests if d.split("@", 1)[0] == ref.name),
                  info.repo_digests[0] if info.repo_digests else "")
    return PulledImage(image=image, image_id=digest or info.id)


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.Truncate(time.Millisecond).String()``: ``313ms``, ``1.661s``, ``1m2.5s``."""
    ms = max(0, int(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, frac = divmod(rest, 1000)
    sec = f"{s}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(s)
    return (f"{h}h" if h else "") + (f"{m}m" if h or m else "") + f"{sec}s"


class ImageManager:
    """Pull policy, pull secrets, back-off and events over one :class:`ImageService`.

    Invariant: a back-off entry exists for (pod uid, image) iff its last pull failed and the pod is
    still known; ``events`` may be set after construction (the recorder starts with the API)."""

    def __init__(self, service: ImageService, *, get_secret: SecretGetter, events: EventSink | None = None,
                 clock: Clock | None = None, options: ImageManagerOptions | None = None) -> None:
        self.service = service
        self.get_secret = get_secret
        self.events = events
        self.clock = clock or RealClock()
        self.options = options or ImageManagerOptions()
        self._backoff: dict[str, _BackoffEntry] = {}
        self._standing_at: dict[tuple[str, str, str], float] = {}
        self._pull_lock = asyncio.Lock() if self.options.serialize_pulls else None
        self.pulls = 0
        """How many pulls were tried (observability, tests)."""

    def _event(self, pod: Mapping[str, Any], type_: str, reason: str, message: str, *, container: str = "") -> None:
        if self.events is not None:
            path = container_field_path(pod, container) if container else ""
            self.events.event(dict(pod), type_, reason, message, field_path=path)

    def _fail(self, pod: Mapping[str, Any], reason: str, message: str, *, container: str = "") -> ImageError:
        self._event(pod, "Warning", "Failed", f"Error: {reason}", container=container)
        return ImageError(reason, message)

    def _standing(self, pod: Mapping[str, Any], events: list[tuple[str, str, str]], *, container: str = "") -> None:
        """Events of a condition that every sync finds again (back-off, Never, bad name, already present):
        recorded again only after ``repeat_events_after`` seconds, so the recorder's per-object spam
        filter (25, then one per 5 minutes, as upstream's) keeps room for the events that matter."""
        uid = str((pod.get("metadata") or {}).get("uid", ""))
        key = (uid, events[0][1], events[0][2])
        now = self.clock.monotonic()
        last = self._standing_at.get(key)
        if last is not None and now - last < self.options.repeat_events_after:
            return
        self._standing_at[key] = now
        for type_, reason, message in events:
            self._event(pod, type_, reason, message, container=container)

    async def ensure_image(self, pod: Mapping[str, Any], container: Mapping[str, Any]) -> PulledImage:
        """Make sure ``container``'s image is present per its pull policy. Raises :class:`ImageError`."""
        spec_image = str(container.get("image") or "")
        name = str(container.get("name") or "")
        quoted = go_quote(spec_image)
        try:
            image = apply_default_tag(spec_image)
            ref = parse_normalized(image)
        except ReferenceError as err:
            msg = f"Failed to apply default image tag {quoted}: {err}"
            self._standing(pod, [("Warning", "InspectFailed", msg), ("Warning", "Failed", "Error: InvalidImageName")],
                           container=name)
            raise ImageError("InvalidImageName", msg) from None
        try:
            info = await self.service.image_status(image)
        except (RuntimeFailure, OSError) as err:
            msg = f"Failed to inspect image {quoted}: {getattr(err, 'message', None) or err}"
            self._standing(pod, [("Warning", "InspectFailed", msg), ("Warning", "Failed", "Error: ImageInspectError")],
                           container=name)
            raise ImageError("ImageInspectError", msg) from None
        policy = str(container.get("imagePullPolicy") or default_pull_policy(spec_image))
        if policy == "Never" or (policy == "IfNotPresent" and info is not None):
            if info is not None:
                self._standing(pod, [("Normal", "Pulled", f"Container image {quoted} already present on machine")],
                               container=name)
                return pulled_image(ref, info, spec_image=spec_image)
            msg = f"Container image {quoted} is not present with pull policy of Never"
            self._standing(pod, [("Warning", "ErrImageNeverPull", msg),
                                 ("Warning", "Failed", "Error: ErrImageNeverPull")], container=name)
            raise ImageError("ErrImageNeverPull", msg)
        return await self._pull(pod, image=image, ref=ref, spec_image=spec_image, name=name)

    async def _pull(self, pod: Mapping[str, Any], *, image: str, ref: ImageReference, spec_image: str,
                    name: str = "") -> PulledImage:
        quoted = go_quote(spec_image)
        key = f"{(pod.get('metadata') or {}).get('uid', '')}_{spec_image}"
        entry = self._backoff.get(key)
        now = self.clock.monotonic()
        if entry is not None and now - entry.last < entry.delay:
            msg = f"Back-off pulling image {quoted}"
            self._standing(pod, [("Normal", "BackOff", msg), ("Warning", "Failed", "Error: ImagePullBackOff")],
                           container=name)
            raise ImageError("ImagePullBackOff", f"{msg}: ErrImagePull: {entry.error}",
                             retry_after=entry.last + entry.delay - now)
        self._event(pod, "Normal", "Pulling", f"Pulling image {quoted}", container=name)
        began = self.clock.monotonic()
        try:
            async with self._pull_lock if self._pull_lock is not None else contextlib.nullcontext():
                started = self.clock.monotonic()
                self.pulls += 1
                await self._pull_with_credentials(pod, image=image, ref=ref)
                pulled = self.clock.monotonic() - started
        except ImagePullError as err:
            self._event(pod, "Warning", "Failed", f"Failed to pull image {quoted}: {err.message}", container=name)
            self._record_failure(key, err.message)
            log.info("image pull failed pod=%s image=%s err=%s", pod_key(pod), spec_image, err.message)
            raise self._fail(pod, "ErrImagePull", err.message, container=name) from None
        self._backoff.pop(key, None)
        info = await self.service.image_status(image)
        size = info.size if info is not None else 0
        self._event(pod, "Normal", "Pulled",
                    f"Successfully pulled image {quoted} in {go_duration(pulled)} "
                    f"({go_duration(self.clock.monotonic() - began)} including waiting). Image size: {size} bytes.",
                    container=name)
        log.info("image pulled pod=%s image=%s seconds=%.3f", pod_key(pod), spec_image, pulled)
        if info is None:
            return PulledImage(image=spec_image, image_id="")
        return pulled_image(ref, info, spec_image=spec_image)

    async def _pull_with_credentials(self, pod: Mapping[str, Any], *, image: str, ref: ImageReference) -> str:
        credentials = keyring_from_secrets(self._pull_secrets(pod)).lookup(ref)
        if not credentials:
            return await self.service.pull_image(image)
        last: ImagePullError | None = None
        for auth in credentials:
            try:
                return await self.service.pull_image(image, auth=auth)
            except ImagePullError as err:
                last = err
        assert last is not None
        raise last

    def _pull_secrets(self, pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        md, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        namespace = md.get("namespace") or "default"
        found, missing = [], []
        for item in spec.get("imagePullSecrets") or []:
            name = str((item or {}).get("name") or "")
            if not name:
                continue
            secret = self.get_secret(namespace, name)
            if secret is None:
                missing.append(name)
            else:
                found.append(secret)
        if missing:
            self._standing(pod, [("Warning", "FailedToRetrieveImagePullSecret",
                                  f"Unable to retrieve some image pull secrets ({', '.join(missing)}); attempting to "
                                  "pull the image may not succeed.")])
        return found

    def _record_failure(self, key: str, error: str) -> None:
        now = self.clock.monotonic()
        entry = self._backoff.get(key)
        if entry is None or now - entry.last > 2 * self.options.backoff_max:
            self._backoff[key] = _BackoffEntry(delay=self.options.backoff_initial, last=now, error=error)
            return
        entry.delay = min(entry.delay * 2, self.options.backoff_max)
        entry.last, entry.error = now, error

    def backoff_delay(self, pod_uid: str, image: str) -> float:
        """The current back-off delay of (pod, image); 0 when not backing off."""
        entry = self._backoff.get(f"{pod_uid}_{image}")
        return entry.delay if entry is not None else 0.0

    def forget_pod(self, uid: str) -> None:
        """Drop the back-off entries of a pod that is gone."""
        for key in [k for k in self._backoff if k.startswith(uid + "_")]:
            del self._backoff[key]
        for standing in [k for k in self._standing_at if k[0] == uid]:
            del self._standing_at[standing]

    async def describe(self, spec_image: str) -> PulledImage | None:
        """``image``/``imageID`` of an image already on the node (a re-adopted container's), else None."""
        try:
            image = apply_default_tag(spec_image)
            info = await self.service.image_status(image)
        except (ReferenceError, RuntimeFailure, OSError):
            return None
        return pulled_image(parse_normalized(image), info, spec_image=spec_image) if info is not None else None
