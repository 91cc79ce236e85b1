"""``sampan apiserver`` flags of flow control."""

from __future__ import annotations

import pytest

from sampan.apiserver.config import APIServerConfig
from sampan.cli.apiserver import config_from_args
from sampan.cli.main import build_parser


def test_flow_control_flags_become_config() -> None:
    base = ["apiserver", "--storage", "memory"]
    default = config_from_args(build_parser().parse_args(base))
    assert default.enable_priority_and_fairness is True
    assert (default.max_requests_inflight, default.max_mutating_requests_inflight) == (400, 200)
    cfg = config_from_args(build_parser().parse_args([
        *base, "--enable-priority-and-fairness=false", "--max-requests-inflight", "10",
        "--max-mutating-requests-inflight", "5"]))
    assert cfg.enable_priority_and_fairness is False
    assert (cfg.max_requests_inflight, cfg.max_mutating_requests_inflight) == (10, 5)
    assert config_from_args(build_parser().parse_args([*base, "--enable-priority-and-fairness"])) \
        .enable_priority_and_fairness is True


def test_bad_flow_control_values_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["apiserver", "--enable-priority-and-fairness=maybe"])
    assert exc.value.code == 2
    assert "invalid boolean value 'maybe'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="may not be negative"):
        APIServerConfig(max_requests_inflight=-1)
    with pytest.raises(ValueError, match=">= 1"):
        APIServerConfig(max_requests_inflight=0, max_mutating_requests_inflight=0)
    APIServerConfig(max_requests_inflight=0, max_mutating_requests_inflight=0, enable_priority_and_fairness=False)
