"""The kubelet's image flags reach its options with upstream's defaults; bad values are one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from sampan.cli.kubelet import options_from_args, register


def parse(tmp_path: Path, *flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["kubelet", "--root-dir", str(tmp_path), "--runtime", "simulated", *flags])


def test_defaults_are_upstreams(tmp_path: Path) -> None:
    options = options_from_args(parse(tmp_path))
    assert options.image_manager.serialize_pulls is True
    assert (options.image_manager.backoff_initial, options.image_manager.backoff_max) == (10.0, 300.0)
    gc = options.image_gc
    assert (gc.high_threshold, gc.low_threshold, gc.min_age, gc.gc_period, gc.max_images) == (85, 80, 120.0, 300.0, 50)


def test_flags_reach_the_options(tmp_path: Path) -> None:
    options = options_from_args(parse(
        tmp_path, "--serialize-image-pulls=false", "--image-gc-high-threshold", "70", "--image-gc-low-threshold", "50",
        "--minimum-image-ttl-duration", "30s", "--image-gc-period", "1m", "--node-status-max-images", "-1",
        "--image-pull-backoff", "200ms", "--image-pull-backoff-max", "2s"))
    assert options.image_manager.serialize_pulls is False
    assert (options.image_manager.backoff_initial, options.image_manager.backoff_max) == (0.2, 2.0)
    gc = options.image_gc
    assert (gc.high_threshold, gc.low_threshold, gc.min_age, gc.gc_period, gc.max_images) == (70, 50, 30.0, 60.0, -1)
    assert options_from_args(parse(tmp_path, "--serialize-image-pulls")).image_manager.serialize_pulls is True


@pytest.mark.parametrize(("args", "message"), [
    (["--image-gc-high-threshold", "101"], "image-gc-high-threshold must be in [0, 100], got 101"),
    (["--image-gc-low-threshold", "90"], "image-gc-low-threshold (90) must be less than image-gc-high-threshold (85)"),
    (["--serialize-image-pulls=maybe"], "invalid boolean 'maybe'"),
    (["--image-pull-backoff", "soon"], "soon"),
    (["--image-pull-backoff", "1m", "--image-pull-backoff-max", "10s"], "want 0 < initial <= maximum"),
])
def test_bad_image_flags_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sampan.cli.main", "kubelet", "--root-dir", str(tmp_path), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr.strip().splitlines()[-1]  # argparse prints its usage above the error line
    assert "Traceback" not in done.stderr
