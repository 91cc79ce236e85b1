"""``sampan down`` removes the host's DNS device only when its own cluster's DNS set it up: a second
cluster on the machine (DNS on loopback) must leave the first one's device alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sampan.cli import up_dns
from sampan.cli.layout import ClusterLayout
from sampan.cli.main import main


@pytest.mark.parametrize(("state", "removes"), [
    ({"runtime": "simulated", "components": ["apiserver", "dns"], "dns_device": False}, False),
    ({"runtime": "process", "components": ["apiserver", "dns"], "dns_device": False}, False),
    ({"runtime": "process", "components": ["apiserver", "dns"], "dns_device": True}, True),
    ({"runtime": "process", "components": ["apiserver", "dns"]}, True),  # a state file from before the key
    ({"runtime": "simulated", "components": ["apiserver", "dns"]}, False),
])
def test_down_removes_the_dns_device_only_for_the_cluster_that_set_it_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state: dict[str, Any], removes: bool) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(up_dns, "remove_dns_device", lambda: calls.append(True) or False)
    layout = ClusterLayout(tmp_path)
    layout.write_state(state)
    assert main(["down", "--data-dir", str(tmp_path), "--keep-workloads"]) == 0
    assert bool(calls) is removes
