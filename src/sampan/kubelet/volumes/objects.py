"""Where volumes and env read configmaps, secrets, claims and persistent volumes from: a seam the
informers fill."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sampan.kubelet.runtime.interface import ContainerConfigError


class ObjectGetter(Protocol):
    """Configmaps, secrets, claims and volumes as wire-format dicts; None when the object does not exist."""

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def get_claim(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def get_volume(self, name: str) -> Mapping[str, Any] | None: ...


class StaticObjects:
    """An :class:`ObjectGetter` over fixed dicts (tests, and a kubelet without an API server)."""

    def __init__(
        self, configmaps: Iterable[Mapping[str, Any]] = (), secrets: Iterable[Mapping[str, Any]] = (),
        claims: Iterable[Mapping[str, Any]] = (), volumes: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        def index(objs: list[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
            out = {}
            for o in objs:
                md = o.get("metadata") or {}
                out[(md.get("namespace") or "default", md.get("name") or "")] = o
            return out

        self.configmaps = index(list(configmaps))
        self.secrets = index(list(secrets))
        self.claims = index(list(claims))
        self.volumes = {(v.get("metadata") or {}).get("name") or "": v for v in volumes}

    def get_configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.configmaps.get((namespace, name))

    def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.secrets.get((namespace, name))

    def get_claim(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.claims.get((namespace, name))

    def get_volume(self, name: str) -> Mapping[str, Any] | None:
        return self.volumes.get(name)


class VolumeError(ContainerConfigError):
    """A volume cannot be set up (missing object, missing key, bad hostPath); blocks the pod's containers."""

    reason = "CreateContainerConfigError"
