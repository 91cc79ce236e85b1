"""What a backend needs to program one Service: its ports and their endpoints (immutable views)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sampan.proxy.model import Endpoint, ServicePort, ServicePortName


@dataclass(frozen=True)
class ServiceState:
    ports: Mapping[ServicePortName, ServicePort]
    endpoints: Mapping[ServicePortName, tuple[Endpoint, ...]]
