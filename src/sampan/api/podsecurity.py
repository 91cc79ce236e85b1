"""The Pod Security Standards checks (upstream's ``k8s.io/pod-security-admission/policy``): a pod spec
evaluated against ``baseline`` or ``restricted`` gives the list of (reason, detail) violations, in
upstream's order (baseline checks by ID, then restricted checks by ID; a restricted check replaces the
baseline check it overrides) and with upstream's wording, e.g. ``privileged`` /
``container "c" must not set securityContext.privileged=true``.

Versions (``v1.x``) are accepted and evaluated with the latest checks. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)

Violation = tuple[str, str]
Check = Callable[[dict[str, Any], dict[str, Any]], Violation | None]
"""(pod metadata, pod spec) -> a violation or None."""

BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                                   "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                          "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start",
                          "net.ipv4.ip_local_reserved_ports", "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                          "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"})
RESTRICTED_VOLUME_TYPES_ALLOWED = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                             "persistentVolumeClaim", "projected", "secret"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers, containers, ephemeral containers (upstream's visiting order)."""
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                yield c


def _sc(obj: dict[str, Any]) -> dict[str, Any]:
    return _d(obj.get("securityContext"))


def quoted(values: list[str]) -> str:
    return ", ".join(f'"{v}"' for v in values)


def _containers_phrase(names: list[str]) -> str:
    return f'container {quoted(names)}' if len(names) == 1 else f'containers {quoted(names)}'


def _verb(names: list[str], one: str, many: str) -> str:
    return one if len(names) == 1 else many


def _uniq(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


# ---- baseline ----------------------------------------------------------------------------------------

def app_armor(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    bad: list[str] = []
    if _d(_sc(spec).get("appArmorProfile")).get("type") == "Unconfined":
        bad.append('pod must not set securityContext.appArmorProfile.type to "Unconfined"')
    names = [c.get("name", "") for c in _containers(spec)
             if _d(_sc(c).get("appArmorProfile")).get("type") == "Unconfined"]
    if names:
        bad.append(f'{_containers_phrase(names)} must not set securityContext.appArmorProfile.type to "Unconfined"')
    for key, value in sorted(_d(meta.get("annotations")).items()):
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value in ("runtime/default", "") or str(value).startswith("localhost/")):
            bad.append(f'{key}="{value}"')
    return ("forbidden AppArmor profile", ", ".join(bad)) if bad else None


def capabilities_baseline(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names: list[str] = []
    caps: list[str] = []
    for c in _containers(spec):
        extra = [str(a) for a in _d(_sc(c).get("capabilities")).get("add") or [] if a not in BASELINE_CAPABILITIES]
        if extra:
            names.append(c.get("name", ""))
            caps += extra
    if not names:
        return None
    return ("non-default capabilities",
            f"{_containers_phrase(names)} must not include {quoted(_uniq(caps))} in securityContext.capabilities.add")


def host_namespaces(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    bad = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return ("host namespaces", ", ".join(bad)) if bad else None


def _volumes(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in spec.get("volumes") or [] if isinstance(v, dict)]


def host_path_volumes(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names = [v.get("name", "") for v in _volumes(spec) if "hostPath" in v]
    if not names:
        return None
    return ("hostPath volumes", f"{_verb(names, 'volume', 'volumes')} {quoted(names)}")


def host_ports(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names: list[str] = []
    ports: list[str] = []
    for c in _containers(spec):
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if isinstance(p, dict) and p.get("hostPort")]
        if used:
            names.append(c.get("name", ""))
            ports += used
    if not names:
        return None
    ports = _uniq(ports)
    return ("hostPort", f"{_containers_phrase(names)} {_verb(names, 'uses', 'use')} "
                        f"{_verb(ports, 'hostPort', 'hostPorts')} {', '.join(ports)}")


def privileged(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if not names:
        return None
    return ("privileged", f"{_containers_phrase(names)} must not set securityContext.privileged=true")


def proc_mount(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names: list[str] = []
    values: list[str] = []
    for c in _containers(spec):
        mount = _sc(c).get("procMount")
        if mount not in (None, "Default"):
            names.append(c.get("name", ""))
            values.append(str(mount))
    if not names:
        return None
    return ("procMount", f"{_containers_phrase(names)} must not set securityContext.procMount to "
                         f"{quoted(_uniq(values))}")


def se_linux_options(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    problems: list[str] = []
    subjects: list[str] = []

    def bad(opts: dict[str, Any]) -> list[str]:
        out = []
        if opts.get("type", "") not in SELINUX_TYPES:
            out.append(f'type "{opts["type"]}"')
        if opts.get("user"):
            out.append(f'user "{opts["user"]}"')
        if opts.get("role"):
            out.append(f'role "{opts["role"]}"')
        return out

    found = bad(_d(_sc(spec).get("seLinuxOptions")))
    pod_bad = bool(found)
    problems += found
    for c in _containers(spec):
        found = bad(_d(_sc(c).get("seLinuxOptions")))
        if found:
            subjects.append(c.get("name", ""))
            problems += found
    if not problems:
        return None
    who = "pod" if pod_bad else ""
    if subjects:
        who = f"{who} and {_containers_phrase(subjects)}" if who else _containers_phrase(subjects)
    return ("seLinuxOptions", f"{who} set forbidden securityContext.seLinuxOptions: {'; '.join(_uniq(problems))}")


def seccomp_baseline(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    bad: list[str] = []
    if _d(_sc(spec).get("seccompProfile")).get("type") == "Unconfined":
        bad.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    names = [c.get("name", "") for c in _containers(spec)
             if _d(_sc(c).get("seccompProfile")).get("type") == "Unconfined"]
    if names:
        bad.append(f'{_containers_phrase(names)} must not set securityContext.seccompProfile.type to "Unconfined"')
    return ("seccompProfile", "; ".join(bad)) if bad else None


def sysctls(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    bad = [str(s.get("name", "")) for s in _sc(spec).get("sysctls") or []
           if isinstance(s, dict) and s.get("name") not in SAFE_SYSCTLS]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def windows_host_process(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    bad: list[str] = []
    if _d(_sc(spec).get("windowsOptions")).get("hostProcess") is True:
        bad.append("pod must not set securityContext.windowsOptions.hostProcess=true")
    names = [c.get("name", "") for c in _containers(spec)
             if _d(_sc(c).get("windowsOptions")).get("hostProcess") is True]
    if names:
        bad.append(f"{_containers_phrase(names)} must not set securityContext.windowsOptions.hostProcess=true")
    return ("hostProcess", "; ".join(bad)) if bad else None


# ---- restricted --------------------------------------------------------------------------------------

def allow_privilege_escalation(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names = [c.get("name", "") for c in _containers(spec) if _sc(c).get("allowPrivilegeEscalation") is not False]
    if not names:
        return None
    return ("allowPrivilegeEscalation != false",
            f"{_containers_phrase(names)} must set securityContext.allowPrivilegeEscalation=false")


def capabilities_restricted(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    no_drop: list[str] = []
    adds: list[str] = []
    caps: list[str] = []
    for c in _containers(spec):
        capabilities = _d(_sc(c).get("capabilities"))
        if "ALL" not in (capabilities.get("drop") or []):
            no_drop.append(c.get("name", ""))
        extra = [str(a) for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            adds.append(c.get("name", ""))
            caps += extra
    parts: list[str] = []
    if no_drop:
        parts.append(f'{_containers_phrase(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adds:
        parts.append(f"{_containers_phrase(adds)} must not include {quoted(_uniq(caps))} in "
                     "securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(parts)) if parts else None


def restricted_volumes(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    names: list[str] = []
    kinds: list[str] = []
    for v in _volumes(spec):
        bad = [k for k in v if k != "name" and k not in RESTRICTED_VOLUME_TYPES_ALLOWED]
        if bad:
            names.append(v.get("name", ""))
            kinds += bad
    if not names:
        return None
    kinds = _uniq(kinds)
    return ("restricted volume types", f"{_verb(names, 'volume', 'volumes')} {quoted(names)} "
            f"{_verb(names, 'uses', 'use')} {_verb(kinds, 'restricted volume type', 'restricted volume types')} "
            f"{quoted(kinds)}")


def run_as_non_root(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    pod_value = _sc(spec).get("runAsNonRoot")
    explicit_bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsNonRoot") is False]
    implicit_bad = [c.get("name", "") for c in _containers(spec)
                    if _sc(c).get("runAsNonRoot") is None and pod_value is not True]
    parts: list[str] = []
    if pod_value is False:
        parts.append("pod must not set securityContext.runAsNonRoot=false")
    if explicit_bad:
        parts.append(f"{_containers_phrase(explicit_bad)} must not set securityContext.runAsNonRoot=false")
    if implicit_bad and pod_value is not False:
        parts.append(f"pod or {_containers_phrase(implicit_bad)} must set securityContext.runAsNonRoot=true")
    return ("runAsNonRoot != true", "; ".join(parts)) if parts else None


def run_as_user(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    parts: list[str] = []
    if _sc(spec).get("runAsUser") == 0:
        parts.append("pod must not set runAsUser=0")
    names = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    if names:
        parts.append(f"{_containers_phrase(names)} must not set runAsUser=0")
    return ("runAsUser=0", "; ".join(parts)) if parts else None


def seccomp_restricted(meta: dict[str, Any], spec: dict[str, Any]) -> Violation | None:
    ok = ("RuntimeDefault", "Localhost")
    pod_type = _d(_sc(spec).get("seccompProfile")).get("type")
    parts: list[str] = []
    if pod_type is not None and pod_type not in ok:
        parts.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
    explicit: list[str] = []
    implicit: list[str] = []
    values: list[str] = []
    for c in _containers(spec):
        t = _d(_sc(c).get("seccompProfile")).get("type")
        if t is not None and t not in ok:
            explicit.append(c.get("name", ""))
            values.append(str(t))
        elif t is None and pod_type is None:
            implicit.append(c.get("name", ""))
    if explicit:
        parts.append(f"{_containers_phrase(explicit)} must not set securityContext.seccompProfile.type to "
                     f"{quoted(_uniq(values))}")
    if implicit:
        parts.append(f'pod or {_containers_phrase(implicit)} must set securityContext.seccompProfile.type to '
                     '"RuntimeDefault" or "Localhost"')
    return ("seccompProfile", "; ".join(parts)) if parts else None


BASELINE_CHECKS: dict[str, Check] = {
    "appArmorProfile": app_armor, "capabilities_baseline": capabilities_baseline,
    "hostNamespaces": host_namespaces, "hostPathVolumes": host_path_volumes, "hostPorts": host_ports,
    "privileged": privileged, "procMount": proc_mount, "seLinuxOptions": se_linux_options,
    "seccompProfile_baseline": seccomp_baseline, "sysctls": sysctls, "windowsHostProcess": windows_host_process,
}
RESTRICTED_CHECKS: dict[str, Check] = {
    "allowPrivilegeEscalation": allow_privilege_escalation, "capabilities_restricted": capabilities_restricted,
    "restrictedVolumes": restricted_volumes, "runAsNonRoot": run_as_non_root, "runAsUser": run_as_user,
    "seccompProfile_restricted": seccomp_restricted,
}
_OVERRIDES = {"capabilities_baseline", "seccompProfile_baseline"}


def checks_for(level: str) -> list[Check]:
    if level == BASELINE:
        return list(BASELINE_CHECKS.values())
    if level == RESTRICTED:
        base = [c for name, c in BASELINE_CHECKS.items() if name not in _OVERRIDES]
        return base + list(RESTRICTED_CHECKS.values())
    return []


def evaluate(level: str, metadata: dict[str, Any], spec: dict[str, Any]) -> list[Violation]:
    """Every violation of ``level`` by a pod with this metadata and spec, in upstream's order."""
    out: list[Violation] = []
    for check in checks_for(level):
        found = check(_d(metadata), _d(spec))
        if found is not None:
            out.append(found)
    return out


def describe(violations: list[Violation]) -> str:
    """``reason (detail), reason (detail)`` as upstream joins them."""
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in violations)
