"""The files and variables the kubelet gives every container of a pod for name resolution and service
discovery: ``/etc/resolv.conf`` and ``/etc/hosts`` (written into the pod's directory and bind-mounted
into each container's private mount namespace by the process runtime) and the service environment.

``PodNetworkFiles.mounts(pod, pod_ip)`` (re)writes ``<pods_dir>/<uid>/etc-hosts`` and ``resolv.conf``
atomically and returns the two mounts (skipping a path the container mounts itself, as upstream);
``env(pod)`` is the service environment from the kubelet's Service cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sampan.kubelet.network.dns import hosts_file, parse_resolv_conf, pod_dns_config, render_resolv_conf
from sampan.kubelet.network.service_env import service_env
from sampan.kubelet.runtime.interface import ContainerConfigError, Mount

HOSTS_PATH = "/etc/hosts"
RESOLV_PATH = "/etc/resolv.conf"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class PodNetworkFiles:
    pods_dir: Path
    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"
    """The node's resolv.conf: the ``Default`` policy's content and the host search paths (``--resolv-conf``)."""
    services: Callable[[str], Iterable[Mapping[str, Any]]] = field(default=lambda _namespace: ())
    """The cached Services of one namespace."""
    host_hosts: str = "/etc/hosts"

    def resolv_conf_text(self, pod: Mapping[str, Any]) -> str:
        host = parse_resolv_conf(_read(self.resolv_conf))
        return render_resolv_conf(pod_dns_config(pod, cluster_dns=self.cluster_dns,
                                                 cluster_domain=self.cluster_domain, host=host))

    def hosts_text(self, pod: Mapping[str, Any], pod_ip: str) -> str:
        return hosts_file(pod, pod_ips=[pod_ip] if pod_ip else [], cluster_domain=self.cluster_domain,
                          host_hosts=_read(self.host_hosts))

    def mounts(self, pod: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str) -> tuple[Mount, ...]:
        uid = (pod.get("metadata") or {}).get("uid") or ""
        if not uid:
            return ()
        own = {m.get("mountPath") for m in container.get("volumeMounts") or [] if isinstance(m, Mapping)}
        pod_dir = self.pods_dir / uid
        out: list[Mount] = []
        try:
            if HOSTS_PATH not in own:
                hosts = pod_dir / "etc-hosts"
                _write(hosts, self.hosts_text(pod, pod_ip))
                out.append(Mount(HOSTS_PATH, str(hosts)))
            if RESOLV_PATH not in own:
                resolv = pod_dir / "resolv.conf"
                _write(resolv, self.resolv_conf_text(pod))
                out.append(Mount(RESOLV_PATH, str(resolv)))
        except OSError as err:
            raise ContainerConfigError(f"writing the pod's hosts and resolv.conf files: {err}") from None
        return tuple(out)

    def env(self, pod: Mapping[str, Any]) -> dict[str, str]:
        namespace = (pod.get("metadata") or {}).get("namespace") or "default"
        services = list(self.services(namespace))
        if namespace != "default":
            services += list(self.services("default"))  # the kubernetes Service
        return service_env(pod, services)
