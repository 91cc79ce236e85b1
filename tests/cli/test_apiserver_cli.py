"""``sampan apiserver`` and ``sampan kubeconfig`` flags and errors."""

from __future__ import annotations

import pytest
import yaml

from sampan.cli.apiserver import config_from_args
from sampan.cli.main import build_parser, main


def test_kubeconfig_prints_a_usable_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kubeconfig", "--server", "http://127.0.0.1:7443"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["kind"] == "Config"
    assert cfg["clusters"][0]["cluster"]["server"] == "http://127.0.0.1:7443"
    assert cfg["current-context"] == cfg["contexts"][0]["name"]


def test_kubeconfig_rejects_a_non_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kubeconfig", "--server", "localhost:1"]) == 2
    assert "--server must be" in capsys.readouterr().err


def test_flags_become_config() -> None:
    args = build_parser().parse_args([
        "apiserver", "--port", "0", "--storage", "memory", "--default-watch-cache-size", "50",
        "--etcd-compaction-interval", "1m30s", "--watch-bookmark-interval", "2s", "--data-dir", "/tmp/x",
    ])
    cfg = config_from_args(args)
    assert cfg.port == 0
    assert cfg.storage.backend == "memory"
    assert cfg.default_watch_cache_size == 50
    assert cfg.compaction_interval == 90.0
    assert cfg.bookmark_interval == 2.0
    assert str(cfg.storage.data_dir) == "/tmp/x"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "0", "--bind-address", "0.0.0.0"], "non-loopback"),  # plain HTTP stays on loopback
        (["--secure-port", "0", "--insecure-port", "0", "--bind-address", "10.1.2.3"], "non-loopback"),
        (["--secure-port", "0"], "--insecure-port"),
        (["--tls-cert-file", "/nonexistent.crt"], "--tls-private-key-file"),
        (["--storage", "etcd"], "--etcd-servers"),
        (["--etcd-compaction-interval", "soon"], "invalid duration"),
        (["--default-watch-cache-size", "0"], "at least 1"),
    ],
)
def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(["apiserver", "--storage", "memory", *argv] if "--storage" not in argv else ["apiserver", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_an_unreachable_store_is_a_one_line_error(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """An etcd that never answers ends start-up with one line and exit code 1, not a traceback (the dial
    timeout is replaced by an immediate failure so the test does not wait 10 s)."""
    from sampan.storage.errors import Unavailable
    from sampan.storage.etcd.store import EtcdStorage

    async def unreachable(*_args: object, **_kwargs: object) -> EtcdStorage:
        raise Unavailable("no etcd member answered at http://127.0.0.1:1 within 10.0s: Deadline Exceeded")

    monkeypatch.setattr(EtcdStorage, "open", unreachable)
    code = main(["apiserver", "--insecure-port", "0", "--secure-port", "0", "--storage", "etcd",
                 "--etcd-servers", "http://127.0.0.1:1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == ("sampan apiserver: storage unavailable: no etcd member answered at http://127.0.0.1:1 "
                       "within 10.0s: Deadline Exceeded")
    assert not any("Traceback" in line for line in err)
