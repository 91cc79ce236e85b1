"""Pod start-up latency, containerd (CRI) vs process runtime, side by side (issue 14).

    flock /tmp/sampan-net.lock .venv/bin/python bench/podstartup.py              # 100 pods at 10/s each
    flock /tmp/sampan-net.lock .venv/bin/python bench/podstartup.py --pods 30    # quicker

For each runtime: ``sampan up --detach --nodes 1 --runtime R`` on a fresh data dir; for containerd the
``busybox`` image (a locally built busybox-static image, tagged ``docker.io/library/busybox:latest``) is
imported into the node's containerd first, so no pull happens ("image already present"). Then
``--pods`` pods (``sleep 3600``) are POSTed at ``--rate``/s and each one's latency is POST sent -> the pod
seen ``Running`` through a watch (upstream's pod start-up SLI; the same measurement as bench/startup.py).
Goal: p99 < 2 s on containerd (upstream SLO: 5 s). Needs root, containerd, runc, the CNI plugins.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.support.apiserver import free_port  # noqa: E402

from sampan.cli import containerd_node as cn  # noqa: E402
from sampan.testing import oci  # noqa: E402
from startup import down, percentile, pod_latencies, sampan  # noqa: E402


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


def measure(tmp: Path, runtime: str, pods: int, rate: float) -> list[float]:
    data_dir = tmp / runtime
    up(data_dir, runtime)
    try:
        return asyncio.run(pod_latencies(data_dir / "kubeconfig", pods, rate))
    finally:
        down(data_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100, help="pods per runtime (default 100)")
    parser.add_argument("--rate", type=float, default=10.0, help="pod creations per second (default 10)")
    parser.add_argument("--runtimes", default="containerd,process", help="comma-separated (default both)")
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="sampan-bench-", dir="/tmp") as tmp:
        for runtime in args.runtimes.split(","):
            results[runtime] = measure(Path(tmp), runtime, args.pods, args.rate)
    print(f"pod start-up, {args.pods} pods at {args.rate:g}/s on one node, create -> Running (watch), image present:")
    for runtime, lat in results.items():
        ms = {q: percentile(lat, q) * 1000 for q in (0.5, 0.9, 0.99)}
        print(f"  {runtime:<10} p50 {ms[0.5]:6.0f} ms  p90 {ms[0.9]:6.0f} ms  p99 {ms[0.99]:6.0f} ms  "
              f"max {max(lat) * 1000:6.0f} ms")
    if {"containerd", "process"} <= results.keys():
        ratio = percentile(results["containerd"], 0.99) / percentile(results["process"], 0.99)
        print(f"  containerd p99 / process p99 = {ratio:.1f}x (goal: containerd p99 < 2000 ms; upstream SLO 5 s)")


if __name__ == "__main__":
    main()
