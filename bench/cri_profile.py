"""Where a containerd pod start goes: each CRI call's latency and the machine's CPU per pod (issue 14).

    flock /tmp/sampan-net.lock nice -n 10 .venv/bin/python bench/cri_profile.py [--pods 20] [--concurrency 1,4,10]

Starts a private containerd (as ``sampan up`` configures it: CNI bridge + host-local, runc, cgroupfs), then
starts ``--pods`` pods straight through CRI — RunPodSandbox, PodSandboxStatus, CreateContainer,
StartContainer — ``--concurrency`` at a time, and prints each call's p50/p99 and the CPU the whole machine
spent per pod (``/proc/stat`` busy time over the run, divided by the pods: containerd, shims, runc, the CNI
plugins, this script). No kubelet and no API server: the runtime's own share of pod start-up.
Everything it creates is removed (sandboxes through CRI, the bridge, the directory).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sampan.cli import containerd_node as cn  # noqa: E402
from sampan.kubelet.runtime.cri.client import CRIClient  # noqa: E402
from sampan.kubelet.runtime.cri.protos import pb  # noqa: E402
from sampan.testing import oci  # noqa: E402

IMAGE = "sampan.bench/shell:1"
BRIDGE = "sampanprof0"
CIDR = "100.64.251.0/24"


def busy_seconds() -> float:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


async def start_pod(client: CRIClient, i: int, log_dir: Path, timings: dict[str, list[float]]) -> None:
    uid = str(uuid.uuid4())
    sandbox = pb.PodSandboxConfig(
        metadata=pb.PodSandboxMetadata(name=f"prof-{i}", uid=uid, namespace="default"), hostname=f"prof-{i}",
        log_directory=str(log_dir / uid), labels={"sampan.io/node": "prof"},
        linux=pb.LinuxPodSandboxConfig(cgroup_parent=f"/sampan-prof/pod{uid}"))
    (log_dir / uid).mkdir(parents=True)
    container = pb.ContainerConfig(metadata=pb.ContainerMetadata(name="c"), image=pb.ImageSpec(image=IMAGE),
                                   command=["sleep", "3600"], log_path="c/0.log", labels={"sampan.io/node": "prof"})
    t0 = time.perf_counter()
    sid = await client.run_pod_sandbox(sandbox)
    t1 = time.perf_counter()
    await client.pod_sandbox_status(sid)
    t2 = time.perf_counter()
    cid = await client.create_container(sid, container, sandbox)
    t3 = time.perf_counter()
    await client.start_container(cid)
    t4 = time.perf_counter()
    for name, seconds in (("RunPodSandbox", t1 - t0), ("PodSandboxStatus", t2 - t1), ("CreateContainer", t3 - t2),
                          ("StartContainer", t4 - t3), ("pod total", t4 - t0)):
        timings.setdefault(name, []).append(seconds)


async def run(endpoint: str, pods: int, concurrency: int, log_dir: Path) -> None:
    client = CRIClient(endpoint)
    try:
        await client.update_pod_cidr(CIDR)
        await measure(client, pods, concurrency, log_dir)
    finally:
        await client.close()


def runtime_cpu(directory: Path) -> float:
    """CPU seconds of containerd and its shims (with their reaped children: runc, the CNI plugins)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if str(directory).encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    raw = Path(f"/proc/{entry}/stat").read_bytes()
                    total += sum(int(f) for f in raw[raw.rfind(b")") + 2:].split()[11:15]) / tick
            except OSError:
                continue
    return total


async def measure(client: CRIClient, pods: int, concurrency: int, log_dir: Path) -> None:
    timings: dict[str, list[float]] = {}
    gate = asyncio.Semaphore(concurrency)
    directory = log_dir.parent

    async def one(i: int) -> None:
        async with gate:
            await start_pod(client, i, log_dir, timings)

    load = os.getloadavg()[0]
    cpu0, own0, wall0 = busy_seconds(), runtime_cpu(directory), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(pods)))
    cpu, wall = busy_seconds() - cpu0, time.perf_counter() - wall0
    own = runtime_cpu(directory) - own0
    print(f"{pods} pods through CRI, {concurrency} at a time: {wall:.2f} s wall, {pods / wall:.1f} pods/s; "
          f"containerd+shims+runc+CNI {own / pods * 1000:.0f} ms CPU per pod, machine {cpu / pods * 1000:.0f} ms "
          f"(load average {load:.1f} before)")
    for name, values in timings.items():
        print(f"  {name:<17} p50 {pct(values, 0.5) * 1000:6.0f} ms  p99 {pct(values, 0.99) * 1000:6.0f} ms")
    own0 = runtime_cpu(directory)
    for sb in await client.list_pod_sandboxes({"sampan.io/node": "prof"}):
        await client.stop_pod_sandbox(sb.id)
        await client.remove_pod_sandbox(sb.id)
    print(f"  teardown: containerd {(runtime_cpu(directory) - own0) / pods * 1000:.0f} ms CPU per pod", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=20)
    parser.add_argument("--concurrency", default="10", help="pods started at a time; a comma list is interleaved")
    parser.add_argument("--rounds", type=int, default=1, help="how many times each concurrency runs (default 1)")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="sampan-prof-", dir="/tmp"))
    layout = cn.ContainerdLayout(directory)
    cn.write_config(layout, bridge=BRIDGE)
    proc = cn.start(layout)
    try:
        cn.wait_ready(layout, proc)
        cn.load_pause_image(layout)
        archive = directory / "shell.tar"
        oci.build_image(archive, name=IMAGE, cmd=("sh",))
        cn.import_archive(layout, archive)
        for _ in range(args.rounds):  # interleaved: A B A B ...
            for concurrency in args.concurrency.split(","):
                asyncio.run(run(layout.endpoint, args.pods, int(concurrency), directory / "logs"))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        subprocess.run(["umount", "-R", str(directory / "root")], capture_output=True)
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            prof = hierarchy / "sampan-prof"
            if prof.is_dir():
                for d in sorted(prof.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                    if d.is_dir():
                        d.rmdir()
                prof.rmdir()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
