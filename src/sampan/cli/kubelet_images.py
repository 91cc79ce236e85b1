"""The kubelet's image flags (used only when the runtime has images, e.g. containerd over CRI).

Upstream's: ``--serialize-image-pulls`` (default true; ``--serialize-image-pulls=false`` pulls in
parallel), ``--image-gc-high-threshold`` (85) / ``--image-gc-low-threshold`` (80) percent of the image
filesystem, ``--minimum-image-ttl-duration`` (2m), ``--node-status-max-images`` (50). sampan's:
``--image-pull-backoff`` / ``--image-pull-backoff-max`` (10s / 5m: the ErrImagePull → ImagePullBackOff
delays, shrunk by tests) and ``--image-gc-period`` (5m).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING, Any

from sampan._lib.durations import parse_duration

if TYPE_CHECKING:
    from sampan.kubelet.images.gc import ImageGCOptions
    from sampan.kubelet.images.manager import ImageManagerOptions

_TRUE, _FALSE = ("true", "1", "t", "yes"), ("false", "0", "f", "no")


def _go_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean {text!r}")


def add_image_flags(p: argparse.ArgumentParser) -> None:
    """Add the image flags (``--serialize-image-pulls`` only if the parser does not have it yet)."""
    with contextlib.suppress(argparse.ArgumentError):
        p.add_argument("--serialize-image-pulls", type=_go_bool, nargs="?", const=True, default=True,
                       metavar="BOOL", help="pull one image at a time (default true)")
    p.add_argument("--image-gc-high-threshold", type=int, default=85,
                   help="image filesystem usage percent that starts image garbage collection (default 85; 100 = off)")
    p.add_argument("--image-gc-low-threshold", type=int, default=80,
                   help="image garbage collection frees space down to this percent (default 80)")
    p.add_argument("--minimum-image-ttl-duration", default="2m",
                   help="minimum age of an unused image before it can be collected (default 2m)")
    p.add_argument("--image-gc-period", default="5m", help="how often image garbage collection runs (default 5m)")
    p.add_argument("--node-status-max-images", type=int, default=50,
                   help="images reported in node.status.images (default 50; -1 = all)")
    p.add_argument("--image-pull-backoff", default="10s",
                   help="first delay after a failed pull (ImagePullBackOff), doubling (default 10s)")
    p.add_argument("--image-pull-backoff-max", default="5m", help="longest pull back-off (default 5m)")


def image_options(args: argparse.Namespace) -> dict[str, Any]:
    """``image_manager``/``image_gc`` keyword arguments of KubeletOptions; ValueError (one line) when bad."""
    from sampan.kubelet.images.gc import ImageGCOptions
    from sampan.kubelet.images.manager import ImageManagerOptions

    serialize = args.serialize_image_pulls
    if isinstance(serialize, str):  # registered elsewhere as a plain string flag
        try:
            serialize = _go_bool(serialize)
        except argparse.ArgumentTypeError as err:
            raise ValueError(f"--serialize-image-pulls: {err}") from None
    manager: ImageManagerOptions = ImageManagerOptions(
        serialize_pulls=serialize, backoff_initial=parse_duration(args.image_pull_backoff),
        backoff_max=parse_duration(args.image_pull_backoff_max))
    gc: ImageGCOptions = ImageGCOptions(
        high_threshold=args.image_gc_high_threshold, low_threshold=args.image_gc_low_threshold,
        min_age=parse_duration(args.minimum_image_ttl_duration), gc_period=parse_duration(args.image_gc_period),
        max_images=args.node_status_max_images)
    return {"image_manager": manager, "image_gc": gc}
