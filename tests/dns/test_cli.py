"""``sampan dns`` flags, the real command as a subprocess, and how ``sampan up`` runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from sampan.cli.main import build_parser, main
from sampan.cli.up import UpOptions, component_specs
from tests.support.apiserver import APIServerHandle, free_port


def parse(*argv: str):  # type: ignore[no-untyped-def]
    from sampan.cli.dns import options_from_args

    return options_from_args(build_parser("dns").parse_args(["dns", *argv]))


@pytest.mark.parametrize(("argv", "message"), [
    (["--listen", "localhost"], "--listen: 'localhost' is not HOST:PORT"),
    (["--listen", "example:53"], "is not IPv4-ADDRESS:PORT"),
    (["--listen", "127.0.0.1:70000"], "port 70000 out of range"),
    (["--cluster-domain", "a..b"], "--cluster-domain: invalid domain"),
    (["--ttl", "-1"], "--ttl must be in [0, 3600]"),
    (["--forward-timeout", "soon"], "invalid duration"),
    (["--publish-service", "kube-dns"], "is not NAMESPACE/NAME"),
    (["--upstream", "1.2.3.4:x"], "invalid port"),
])
def test_bad_flags_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str],
                                tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "current-context: x\n")
    assert main(["dns", "--kubeconfig", str(kubeconfig), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sampan dns:")
    assert message in err
    assert "\n" not in err


def test_flags_become_options(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "current-context: x\n")
    opts = parse("--kubeconfig", str(kubeconfig), "--listen", "100.126.0.10:53", "--upstream", "127.0.0.1:5353",
                 "--cluster-domain", "corp.local.", "--publish-service", "kube-system/kube-dns", "--identity", "N_1",
                 "--metrics", "100.126.0.10:9153", "--pods", "verified")
    assert opts.listen == (("100.126.0.10", 53),)
    assert opts.cluster_domain == "corp.local"
    assert [str(u) for u in opts.upstreams] == ["127.0.0.1:5353"]
    assert opts.pods == "verified"
    assert opts.publish is not None
    assert opts.publish.address == "100.126.0.10"
    assert (opts.publish.identity, opts.publish.metrics_port, opts.publish.cluster_ip) == ("n-1", 9153, "100.96.0.10")
    loopback = parse("--kubeconfig", str(kubeconfig), "--listen", "127.0.0.1:1053", "--publish-service", "a/b")
    assert loopback.publish is not None
    assert loopback.publish.address is None


def test_sampan_dns_process_answers(apiserver: APIServerHandle, tmp_path: Path) -> None:
    port = free_port()
    log = (tmp_path / "dns.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "sampan.cli.main", "dns", "--kubeconfig", str(apiserver.kubeconfig),
                             "--listen", f"127.0.0.1:{port}", "--health", "", "--metrics", "",
                             "--upstream", "127.0.0.1:9", "--forward-timeout", "200ms",
                             "--publish-service", "kube-system/kube-dns"], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        want = "kube-dns.kube-system.svc.cluster.local."
        while True:
            try:
                r = dns.query.udp(dns.message.make_query(want, "A"), "127.0.0.1", port=port, timeout=0.5)
                if r.answer:
                    break
            except (dns.exception.Timeout, OSError):
                pass
            assert proc.poll() is None, (tmp_path / "dns.log").read_text()
            assert time.monotonic() < deadline, "sampan dns never answered for the Service it publishes"
            time.sleep(0.1)
        assert [rd.to_text() for rd in r.answer[0]] == ["100.96.0.10"]
        r = dns.query.tcp(dns.message.make_query("missing.default.svc.cluster.local", "A"), "127.0.0.1", port=port,
                          timeout=5)
        assert r.rcode() == dns.rcode.NXDOMAIN
        # the upstream (discard port) never answers: SERVFAIL after --forward-timeout
        r = dns.query.udp(dns.message.make_query("example.org", "A"), "127.0.0.1", port=port, timeout=5)
        assert r.rcode() == dns.rcode.SERVFAIL
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
        log.close()


def test_sampan_up_runs_dns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from sampan.cli import up_dns

    options = UpOptions(data_dir=tmp_path, runtime="process")
    monkeypatch.setattr(up_dns, "dns_reachable_from_pods", lambda _options: True)
    specs, _ = component_specs(options, {"apiserver", "dns"})
    (spec,) = [s for s in specs if s.name == "dns"]
    argv = " ".join(spec.argv)
    assert "--listen 100.126.0.10:53 --setup-interface sampan-dns" in argv
    assert "--publish-service kube-system/kube-dns --cluster-ip 100.96.0.10" in argv
    monkeypatch.setattr(up_dns, "dns_reachable_from_pods", lambda _options: False)
    specs, _ = component_specs(options, {"apiserver", "dns"})
    (spec,) = [s for s in specs if s.name == "dns"]
    assert "--listen 127.0.0.1:" in " ".join(spec.argv)
    assert "--setup-interface" not in spec.argv
