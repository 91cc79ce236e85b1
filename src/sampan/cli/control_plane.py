"""The control plane of ``sampan up`` as static pods of the first node, the way kubeadm (and kind) run it.

``sampan up`` writes one manifest per control-plane component into ``<data-dir>/manifests`` and starts the
first kubelet with ``--pod-manifest-path`` pointing there; that kubelet runs them on the process runtime
(``hostNetwork``, so ports are the host's) before any API server exists, restarts one that dies (restart
count, CrashLoopBackOff), probes it, and mirrors it into the API, so ``kubectl get pods -n kube-system``
lists ``kube-apiserver-<node>``, ``kube-controller-manager-<node>``, ``kube-scheduler-<node>`` and ``kubectl
logs`` reads their output. The other components (the kubelets themselves, later kube-proxy and DNS) stay
with the supervisor.

With ``--storage etcd`` and no ``--etcd-servers``, etcd itself is a static pod too (``etcd-<node>``, kubeadm's
"stacked" etcd): one member on loopback, data in ``<data-dir>/etcd``, client port 2379 and peer port 2380
when free (else free ones), and the API server is pointed at it.

A kubelet leaves its containers running when it stops (so a restarted kubelet re-adopts them): stopping the
cluster therefore ends with :func:`stop_static_pods`, which stops the static pods left on the first node's
runtime — the scheduler and controller-manager first, the API server last.

Manifests follow kubeadm's: namespace ``kube-system``, labels ``component``/``tier: control-plane``,
``priorityClassName: system-node-critical``, kubeadm's probes (``/livez`` and ``/readyz`` for the API server,
``/healthz`` for the scheduler when it serves one) with kubeadm's liveness timings; the startup probes poll
every second instead of kubeadm's 10 s after 10 s (same 4-minute budget), since a sampan component is up in
about a second and the pod should not show 0/1 for ten seconds after ``sampan up``. No resource requests:
the process runtime turns requests into ``cpu.shares``, and the control plane must not get fewer shares than
a busy pod without any.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sampan.cli.supervisor import ComponentSpec

log = logging.getLogger(__name__)

#: supervisor component name -> static pod (and container) name, in start order.
STATIC_COMPONENTS: dict[str, str] = {
    "apiserver": "kube-apiserver",
    "controller-manager": "kube-controller-manager",
    "scheduler": "kube-scheduler",
}
#: The order static pods are stopped in; pods not named here (a user's own static pods) go first.
STOP_ORDER = ("kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd")
MANIFEST_PREFIX = "sampan-"
"""Manifest files ``sampan up`` owns (it rewrites or removes only these)."""
STOP_GRACE = 10.0


def _flag(argv: Sequence[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


def _flag_value(argv: Sequence[str], prefix: str) -> str:
    return next((a[len(prefix):] for a in argv if a.startswith(prefix)), "")


def _http_probe(path: str, port: int, *, period: int, failure: int, initial: int, timeout: int = 15,
                scheme: str = "HTTP") -> dict[str, Any]:
    return {"httpGet": {"host": "127.0.0.1", "path": path, "port": port, "scheme": scheme},
            "initialDelaySeconds": initial, "periodSeconds": period, "timeoutSeconds": timeout,
            "failureThreshold": failure}


def static_pod(name: str, argv: Sequence[str], *, probes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A kubeadm-style control-plane pod running ``argv`` on the host network."""
    container: dict[str, Any] = {"name": name, "image": f"sampan/{name}", "command": list(argv),
                                 "imagePullPolicy": "IfNotPresent", **(probes or {})}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system",
                     "labels": {"component": name, "tier": "control-plane"}},
        "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical", "restartPolicy": "Always",
                 "terminationGracePeriodSeconds": 30, "containers": [container]},
    }


def _probes(component: str, argv: Sequence[str]) -> dict[str, Any]:
    """kubeadm's probes, where the component serves the endpoint."""
    if component == "apiserver":  # HTTPS on --secure-port (anonymous may read the health paths), else --port
        secure = _flag(argv, "--secure-port")
        port, scheme = (int(secure), "HTTPS") if secure else (int(_flag(argv, "--port") or 6443), "HTTP")
        return {"livenessProbe": _http_probe("/livez", port, period=10, failure=8, initial=10, scheme=scheme),
                "readinessProbe": _http_probe("/readyz", port, period=1, failure=3, initial=0, scheme=scheme),
                "startupProbe": _http_probe("/livez", port, period=1, failure=240, initial=0, scheme=scheme)}
    if component == "scheduler":
        port = int(_flag(argv, "--secure-port") or 0)
        if port:
            return {"livenessProbe": _http_probe("/healthz", port, period=10, failure=8, initial=10),
                    "startupProbe": _http_probe("/healthz", port, period=1, failure=240, initial=0)}
    return {}


def etcd_pod(*, node: str, data_dir: Path, client_port: int, peer_port: int, etcd: str = "etcd") -> dict[str, Any]:
    """kubeadm's stacked etcd: one member named after the node, on loopback."""
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    argv = [etcd, f"--name={node}", f"--data-dir={data_dir}", f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}", f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={node}={peer}", "--initial-cluster-state=new", "--snapshot-count=10000"]
    return static_pod("etcd", argv, probes={
        "livenessProbe": _http_probe("/health", client_port, period=10, failure=8, initial=10),
        "startupProbe": _http_probe("/health", client_port, period=1, failure=240, initial=0)})


def split_control_plane(specs: Sequence[ComponentSpec], *, manifest_dir: Path, runtime: str,
                        etcd: Mapping[str, Any] | None = None) -> tuple[list[ComponentSpec], dict[str, dict[str, Any]]]:
    """Move the control-plane components out of the supervisor's ``specs`` into static pod manifests
    (file name -> pod) for the first kubelet, which gets ``--pod-manifest-path`` (and, on a simulated node,
    ``--static-pod-runtime process``, so the control plane still runs for real). Without a kubelet to run
    them the specs are returned unchanged. Paths in ``specs`` must be absolute (a container's cwd is /).
    ``etcd``: a stacked etcd pod (:func:`etcd_pod`) to run too, the API server's ``--etcd-servers`` pointing
    at its client URL."""
    from dataclasses import replace

    if not any(s.name == "kubelet" for s in specs):
        return list(specs), {}
    manifests: dict[str, dict[str, Any]] = {}
    kept: list[ComponentSpec] = []
    etcd_url = ""
    if etcd is not None:
        manifests[f"{MANIFEST_PREFIX}etcd.yaml"] = dict(etcd)
        etcd_url = str(_flag_value(etcd["spec"]["containers"][0]["command"], "--advertise-client-urls="))
    for spec in specs:
        pod_name = STATIC_COMPONENTS.get(spec.name)
        if pod_name is None:
            kept.append(spec)
            continue
        argv = (*spec.argv, "--etcd-servers", etcd_url) if spec.name == "apiserver" and etcd_url else spec.argv
        manifests[f"{MANIFEST_PREFIX}{pod_name}.yaml"] = static_pod(pod_name, argv, probes=_probes(spec.name, argv))
    extra = ["--pod-manifest-path", str(manifest_dir)]
    if runtime != "process":
        extra += ["--static-pod-runtime", "process"]
    kept = [replace(s, argv=(*s.argv, *extra)) if s.name == "kubelet" else s for s in kept]
    return kept, manifests


def write_manifests(manifest_dir: Path, manifests: Mapping[str, Mapping[str, Any]]) -> None:
    """Make ``manifest_dir`` hold exactly ``manifests`` among the files ``sampan up`` owns; unchanged files
    are not rewritten (same file, same static pod uid: a restarted cluster re-adopts nothing by mistake),
    each write is atomic (the kubelet never reads half a file)."""
    manifest_dir.mkdir(parents=True, exist_ok=True)
    for old in manifest_dir.glob(f"{MANIFEST_PREFIX}*.yaml"):
        if old.name not in manifests:
            old.unlink(missing_ok=True)
    for name, pod in manifests.items():
        text = json.dumps(pod, indent=2) + "\n"  # JSON is YAML; the kubelet reads both
        path = manifest_dir / name
        try:
            if path.read_text() == text:
                continue
        except OSError:
            pass
        tmp = manifest_dir / f".{name}.tmp"
        tmp.write_text(text)
        tmp.replace(path)


def _stop_rank(pod_name: str) -> int:
    for i, prefix in enumerate(STOP_ORDER):
        if pod_name.startswith(prefix + "-"):
            return i + 1
    return 0


def _is_dir(path: Path) -> bool:
    return path.is_dir()


async def stop_static_pods(runtime_root: Path, *, grace: float = STOP_GRACE) -> int:
    """Stop and remove every static pod sandbox under a (stopped) kubelet's process runtime root, control
    plane last; returns how many. Pods from the API are left alone (their kubelet re-adopts them)."""
    if not _is_dir(runtime_root):
        return 0
    from sampan.kubelet.runtime.interface import ContainerState, RuntimeFailure
    from sampan.kubelet.runtime.process import ProcessRuntime, ProcessRuntimeOptions
    from sampan.kubelet.static_pods.manifests import CONFIG_SOURCE, SOURCE_FILE

    runtime = ProcessRuntime(ProcessRuntimeOptions(root_dir=runtime_root))
    sandboxes = [sb for sb in await runtime.list_pod_sandboxes()
                 if sb.config.annotations.get(CONFIG_SOURCE) == SOURCE_FILE]
    try:
        for sb in sorted(sandboxes, key=lambda s: _stop_rank(s.config.name)):
            try:
                for c in await runtime.list_containers(sb.id):
                    if c.state is ContainerState.RUNNING:
                        await runtime.stop_container(c.id, grace)
                await runtime.stop_pod_sandbox(sb.id)
                await runtime.remove_pod_sandbox(sb.id)
            except RuntimeFailure as err:
                log.warning("static pod not stopped pod=%s err=%s", sb.config.name, err.message)
    finally:
        await runtime.aclose()  # its spawn helper, if a stop started one
    return len(sandboxes)


def static_pod_log(runtime_root: Path, pod_name: str) -> Path | None:
    """The newest CRI log file of the static pod ``pod_name`` (``kube-apiserver-<node>``), if any."""
    logs = sorted(runtime_root.glob(f"logs/kube-system_{pod_name}_*/*/*.log"), key=lambda p: p.stat().st_mtime)
    return logs[-1] if logs else None


class StaticControlPlane:
    """The control plane of one ``sampan up`` run as static pods of ``node`` (the first node)."""

    def __init__(self, *, data_dir: Path, node: str, components: Sequence[str]) -> None:
        self.manifest_dir = data_dir / "manifests"
        self.runtime_root = data_dir / "kubelet" / node / "runtime"
        self.node = node
        self.components = tuple(components)

    def log_path(self, component: str) -> Path | None:
        """Where ``component``'s (``apiserver``, …) current output goes, once it started."""
        pod = STATIC_COMPONENTS.get(component, "etcd" if component == "etcd" else None)
        return static_pod_log(self.runtime_root, f"{pod}-{self.node}") if pod else None

    async def stop(self) -> int:
        return await stop_static_pods(self.runtime_root)


def stacked_etcd(*, data_dir: Path, node: str) -> dict[str, Any]:
    """The etcd pod for a cluster in ``data_dir``; ValueError (one line) when etcd is not installed."""
    import shutil

    from sampan.cli.up import free_port, port_is_free

    etcd = shutil.which("etcd")
    if etcd is None:
        raise ValueError("--storage etcd without --etcd-servers runs etcd as a static pod, but `etcd` is not "
                         "on PATH (Debian: apt-get install etcd-server)")
    client = 2379 if port_is_free(2379) else free_port()
    peer = 2380 if port_is_free(2380) and client != 2380 else free_port()
    return etcd_pod(node=node, data_dir=data_dir / "etcd", client_port=client, peer_port=peer, etcd=etcd)


def prepare_control_plane(specs: Sequence[ComponentSpec], *, data_dir: Path, first_node: str, runtime: str,
                          stacked_etcd_store: bool = False) -> tuple[list[ComponentSpec], StaticControlPlane | None]:
    """Write the control plane's manifests and return the specs the supervisor keeps (see
    :func:`split_control_plane`) with the static control plane, or ``specs`` and None when no kubelet runs.
    ``stacked_etcd_store``: also run etcd as a static pod and point the API server at it."""
    names = [s.name for s in specs if s.name in STATIC_COMPONENTS]
    has_kubelet = any(s.name == "kubelet" for s in specs)
    etcd = stacked_etcd(data_dir=data_dir, node=first_node) if stacked_etcd_store and has_kubelet else None
    plane = StaticControlPlane(data_dir=data_dir, node=first_node, components=[*names, *(["etcd"] if etcd else [])])
    kept, manifests = split_control_plane(specs, manifest_dir=plane.manifest_dir, runtime=runtime, etcd=etcd)
    if not manifests:
        return kept, None
    write_manifests(plane.manifest_dir, manifests)
    return kept, plane
