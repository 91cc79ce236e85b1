"""core/v1 endpoints: subsets of addresses and ports (written by the endpoints controller); the
table's ENDPOINTS cell lists up to three ``ip:port`` pairs then ``+ N more...``."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, required
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.netvalidation import validate_ip, validate_port, validate_protocol
from sampan.apiserver.registry.strategy import Object, TableColumn

MAX_SHOWN = 3


class EndpointsStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="endpoints", kind="Endpoints", singular="endpoints", namespaced=True,
        short_names=("ep",),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Endpoints", description="The set of all endpoints is the union of all subsets. Addresses are "
                    "placed into subsets according to the IPs they share."),
        AGE_COLUMN,
    )

    def default(self, obj: Object) -> None:
        for subset in as_list(obj.get("subsets")):
            for port in as_list(as_dict(subset).get("ports")):
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        for i, subset in enumerate(as_list(obj.get("subsets"))):
            subset = as_dict(subset)
            path = f"subsets[{i}]"
            if not as_list(subset.get("addresses")) and not as_list(subset.get("notReadyAddresses")):
                causes.append(Cause("FieldValueRequired", path,
                                    "Required value: must specify `addresses` or `notReadyAddresses`"))
            for field in ("addresses", "notReadyAddresses"):
                for j, addr in enumerate(as_list(subset.get(field))):
                    causes += validate_ip(as_dict(addr).get("ip"), f"{path}.{field}[{j}].ip")
            ports = as_list(subset.get("ports"))
            for j, port in enumerate(ports):
                port = as_dict(port)
                ppath = f"{path}.ports[{j}]"
                if len(ports) > 1 and not port.get("name"):
                    causes.append(required(f"{ppath}.name"))
                elif port.get("name"):
                    causes += validation.validate_name(port["name"], f"{ppath}.name", validation.dns1123_label)
                causes += validate_port(port.get("port"), f"{ppath}.port")
                causes += validate_protocol(port.get("protocol"), f"{ppath}.protocol")
        return causes

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return False

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [format_endpoints(obj), age_cell(obj, now)]


def format_endpoints(obj: Object) -> str:
    """Upstream ``formatEndpoints`` with all ports."""
    subsets = as_list(obj.get("subsets"))
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count = 0
    for subset in subsets:
        subset = as_dict(subset)
        addresses = [str(as_dict(a).get("ip") or "") for a in as_list(subset.get("addresses"))]
        ports = as_list(subset.get("ports"))
        if not ports:
            count += len(addresses)
            shown += addresses[: max(0, MAX_SHOWN - len(shown))]
            continue
        for port in ports:
            number = as_dict(port).get("port")
            count += len(addresses)
            for ip in addresses:
                if len(shown) == MAX_SHOWN:
                    break
                shown.append(f"[{ip}]:{number}" if ":" in ip else f"{ip}:{number}")
    text = ",".join(shown)
    return f"{text} + {count - MAX_SHOWN} more..." if count > MAX_SHOWN else text
