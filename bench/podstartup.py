"""Pod start-up latency, containerd (CRI) vs process runtime, side by side (issue 14).

    flock /tmp/sampan-net.lock .venv/bin/python bench/podstartup.py              # 100 pods at 5/s, then at 10/s
    flock /tmp/sampan-net.lock .venv/bin/python bench/podstartup.py --rate 10 --pods 30 --runtimes containerd

For each runtime: ``sampan up --detach --nodes 1 --runtime R`` on a fresh data dir; for containerd the
``busybox`` image (a locally built busybox-static image, tagged ``docker.io/library/busybox:latest``) is
imported into the node's containerd first, so no pull happens ("image already present"). Then
``--pods`` pods (``sleep 3600``) are POSTed at ``--rate``/s and each one's latency is POST sent -> the pod
seen ``Running`` through a watch (upstream's pod start-up SLI; the same measurement as bench/startup.py).
The driver's client is not rate-limited and prints the create rate it achieved. Each runtime's line also
gives the CPU seconds each component spent per pod (from /proc, own + reaped children): a figure that does
not depend on the machine's other load, for A/B comparisons.
Goal: p99 < 2 s on containerd (upstream SLO: 5 s). Needs root, containerd, runc, the CNI plugins.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tests.support.apiserver import free_port  # noqa: E402

from sampan.cli import containerd_node as cn  # noqa: E402
from sampan.testing import oci  # noqa: E402
from startup import StartupRun, down, percentile, pod_latencies, sampan  # noqa: E402


def up(data_dir: Path, runtime: str) -> None:
    done = sampan("up", "--detach", "--nodes", "1", "--runtime", runtime, "--data-dir", str(data_dir),
                  "--port", str(free_port()), "--no-merge-kubeconfig", timeout=180)
    if done.returncode != 0:
        down(data_dir)
        raise SystemExit(f"sampan up --runtime {runtime} failed:\n{done.stdout}\n{done.stderr}")
    if runtime == "containerd":
        archive = data_dir / "busybox.tar"
        oci.build_image(archive, name="docker.io/library/busybox:latest", cmd=("sh",))
        for node_dir in (data_dir / "containerd").iterdir():
            cn.import_archive(cn.ContainerdLayout(node_dir.absolute()), archive)


def cpu_by_component(data_dir: Path) -> dict[str, float]:
    """CPU seconds (own + reaped children: runc under its shim, CNI plugins under containerd) of every
    process whose command line names ``data_dir``, by component (``kubelet``, ``containerd``, ``shims``…)."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        if str(data_dir).encode() not in b" ".join(argv):
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if "sampan.cli.main" in words:
            name = words[words.index("sampan.cli.main") + 1]
        elif words and "containerd-shim" in words[0]:
            name = "shims (+runc)"
        else:
            name = os.path.basename(words[0]) if words else "?"
        fields = raw[raw.rfind(b")") + 2:].split()
        out[name] = out.get(name, 0.0) + sum(int(f) for f in fields[11:15]) / tick
    return out


def kubelet_counts(data_dir: Path) -> dict[str, float]:
    """The node's kubelet's cumulative counters through the API server's node proxy: CRI calls by method
    (``cri ListPodSandbox``…), API requests by HTTP method (``api PATCH``…), pod status writes."""
    kubectl = ["kubectl", "--kubeconfig", str(data_dir / "kubeconfig")]
    node = subprocess.run([*kubectl, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"],
                          capture_output=True, text=True, check=True).stdout.strip()
    text = subprocess.run([*kubectl, "get", "--raw", f"/api/v1/nodes/{node}/proxy/metrics"],
                          capture_output=True, text=True, check=True).stdout
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "kubelet_runtime_operations_total":
                key = f"cri {sample.labels['operation_type']}"
            elif sample.name == "rest_client_requests_total":
                key = f"api {sample.labels.get('method', '?')}"
            elif sample.name == "kubelet_pod_status_writes_total":
                key = "status writes"
            else:
                continue
            out[key] = out.get(key, 0.0) + sample.value
    return out


def busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def idle_rates(data_dir: Path, seconds: float) -> dict[str, float]:
    """CPU seconds per second each component spends with no pod to start (probes, heartbeats, relists)."""
    first, start = cpu_by_component(data_dir), time.perf_counter()
    time.sleep(seconds)
    last, wall = cpu_by_component(data_dir), time.perf_counter() - start
    return {name: max(0.0, (last[name] - first.get(name, 0.0)) / wall) for name in last}


def measure(tmp: Path, runtime: str, pods: int, rate: float, *, idle: float) -> StartupRun:
    data_dir = tmp / runtime
    up(data_dir, runtime)
    try:
        counts = kubelet_counts(data_dir)
        background = idle_rates(data_dir, idle)
        print(f"{runtime}: idle CPU by component before the creates (ms per s): " + ", ".join(
            f"{name} {rate * 1000:.1f}" for name, rate in sorted(background.items(), key=lambda kv: -kv[1])
            if rate > 0.0005), flush=True)
        load = os.getloadavg()[0]
        before, busy, wall = cpu_by_component(data_dir), busy_seconds(), time.perf_counter()
        end: list[tuple[dict[str, float], float, float]] = []

        def all_running() -> None:
            end.append((cpu_by_component(data_dir), busy_seconds(), time.perf_counter()))
            counts.update({k: v - counts.get(k, 0.0) for k, v in kubelet_counts(data_dir).items()})

        run = asyncio.run(pod_latencies(data_dir / "kubeconfig", pods, rate, on_running=all_running))
        after, busy, wall = end[0][0], end[0][1] - busy, end[0][2] - wall
        used = {name: after[name] - before.get(name, 0.0) for name in after}
        print(f"{runtime}: creates achieved {run.achieved_rate:.1f}/s (asked {rate:g}/s; all answered); "
              f"{wall:.1f} s from first create to all Running; machine busy {busy / wall:.2f} of "
              f"{os.cpu_count()} cores (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after); "
              "CPU per pod by component: " + ", ".join(
                  f"{name} {sec / pods * 1000:.0f} ms" for name, sec in sorted(used.items(), key=lambda kv: -kv[1])
                  if sec > 0.005 * pods), flush=True)
        net = {name: max(0.0, sec - background.get(name, 0.0) * wall) for name, sec in used.items()}
        print(f"  {runtime} CPU per pod net of the idle rate ({idle:g} s measured before; what a slower run adds in "
              f"background is not start-up work): total {sum(net.values()) / pods * 1000:.0f} ms; " + ", ".join(
                  f"{name} {sec / pods * 1000:.0f} ms" for name, sec in sorted(net.items(), key=lambda kv: -kv[1])
                  if sec > 0.002 * pods), flush=True)
        print(f"  {runtime} kubelet, per pod: " + ", ".join(
            f"{name} {n / pods:.1f}" for name, n in sorted(counts.items()) if n > 0), flush=True)
        return run
    finally:
        down(data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100, help="pods per runtime (default 100)")
    parser.add_argument("--rate", default="5,10",
                        help="pod creations per second, comma-separated for several runs (default 5,10)")
    parser.add_argument("--runtimes", default="containerd,process", help="comma-separated (default both)")
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds to measure each component's idle CPU rate before the creates (default 10)")
    args = parser.parse_args()
    for rate in (float(r) for r in args.rate.split(",")):
        report(args.pods, rate, args.runtimes.split(","), idle=args.idle)


def report(pods: int, rate: float, runtimes: list[str], *, idle: float) -> None:
    results: dict[str, StartupRun] = {}
    with tempfile.TemporaryDirectory(prefix="sampan-bench-", dir="/tmp") as tmp:
        for runtime in runtimes:
            results[runtime] = measure(Path(tmp), runtime, pods, rate, idle=idle)
    print(f"pod start-up, {pods} pods at {rate:g}/s on one node, create -> Running (watch), image present:")
    for runtime, run in results.items():
        lat = run.latencies
        ms = {q: percentile(lat, q) * 1000 for q in (0.5, 0.9, 0.99)}
        print(f"  {runtime:<10} p50 {ms[0.5]:6.0f} ms  p90 {ms[0.9]:6.0f} ms  p99 {ms[0.99]:6.0f} ms  "
              f"max {max(lat) * 1000:6.0f} ms  (creates achieved {run.achieved_rate:.1f}/s)")
    if {"containerd", "process"} <= results.keys():
        ratio = (percentile(results["containerd"].latencies, 0.99)
                 / percentile(results["process"].latencies, 0.99))
        print(f"  containerd p99 / process p99 = {ratio:.1f}x (goal: containerd p99 < 2000 ms; upstream SLO 5 s)")


if __name__ == "__main__":
    main()
