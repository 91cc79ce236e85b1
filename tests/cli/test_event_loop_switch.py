"""The `sampan` command applies SAMPAN_EVENT_LOOP before running a command (sampan._lib.eventloop)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_a_bad_event_loop_is_a_one_line_error_before_the_command_runs() -> None:
    env = {**os.environ, "SAMPAN_EVENT_LOOP": "tokio"}
    done = subprocess.run([sys.executable, "-m", "sampan.cli.main", "scheduler", "--kubeconfig", "/nonexistent"],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("sampan scheduler: SAMPAN_EVENT_LOOP='tokio': expected one of asyncio, uvloop")
