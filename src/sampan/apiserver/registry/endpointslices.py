"""discovery.k8s.io/v1 endpointslices: an immutable ``addressType`` (IPv4, IPv6, FQDN), up to 1000
endpoints of 1 to 100 addresses each, named ports; table cells as upstream (``<unset>`` when empty)."""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported, required, too_long
from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import AGE_COLUMN, NAME_COLUMN, BaseStrategy, age_cell, as_dict, as_list
from sampan.apiserver.registry.netvalidation import IP_MSG, ip_family, is_ip, validate_protocol
from sampan.apiserver.registry.strategy import Object, TableColumn

ADDRESS_TYPES = ["IPv4", "IPv6", "FQDN"]
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_SHOWN = 3


class EndpointSliceStrategy(BaseStrategy):
    info = ResourceInfo(
        group="discovery.k8s.io", version="v1", resource="endpointslices", kind="EndpointSlice",
        singular="endpointslice", namespaced=True,
    )
    tracks_generation = True
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("AddressType", description="addressType specifies the type of address carried by this "
                    "EndpointSlice."),
        TableColumn("Ports", description="ports specifies the list of network ports exposed by each endpoint in "
                    "this slice."),
        TableColumn("Endpoints", description="endpoints is a list of unique endpoints in this slice."),
        AGE_COLUMN,
    )

    def default(self, obj: Object) -> None:
        for port in as_list(obj.get("ports")):
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")

    def validate_spec(self, obj: Object) -> list[Cause]:
        causes: list[Cause] = []
        atype = obj.get("addressType")
        if not atype:
            causes.append(required("addressType"))
        elif atype not in ADDRESS_TYPES:
            causes.append(not_supported("addressType", atype, ADDRESS_TYPES))
        endpoints = obj.get("endpoints")
        if endpoints is not None and not isinstance(endpoints, list):
            causes.append(invalid("endpoints", str(endpoints), "must be a list"))
        endpoints = as_list(endpoints)
        if len(endpoints) > MAX_ENDPOINTS:
            causes.append(too_long("endpoints", MAX_ENDPOINTS))
        for i, ep in enumerate(endpoints):
            addresses = as_list(as_dict(ep).get("addresses"))
            path = f"endpoints[{i}].addresses"
            if not addresses:
                causes.append(Cause("FieldValueRequired", path, "Required value: must contain at least 1 address"))
            elif len(addresses) > MAX_ADDRESSES:
                causes.append(too_long(path, MAX_ADDRESSES))
            for j, addr in enumerate(addresses):
                causes += _validate_address(addr, f"{path}[{j}]", str(atype))
        for i, port in enumerate(as_list(obj.get("ports"))):
            port = as_dict(port)
            path = f"ports[{i}]"
            if port.get("name"):
                causes += validation.validate_name(port["name"], f"{path}.name", validation.dns1123_label)
            number = port.get("port")
            if number is not None:
                causes += [invalid(f"{path}.port", number, m) for m in validation.port_number(number)]
            causes += validate_protocol(port.get("protocol"), f"{path}.protocol")
        return causes

    def validate_spec_update(self, obj: Object, old: Object) -> list[Cause]:
        return validation.validate_immutable(obj.get("addressType"), old.get("addressType"), "addressType")

    def spec_changed(self, obj: Object, old: Object) -> bool:
        return any(obj.get(k) != old.get(k) for k in ("addressType", "endpoints", "ports"))

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        return [str(obj.get("addressType") or ""), format_ports(obj), format_endpoint_addresses(obj),
                age_cell(obj, now)]


def _validate_address(addr: Any, path: str, atype: str) -> list[Cause]:
    if atype in ("IPv4", "IPv6"):
        if not is_ip(addr):
            return [invalid(path, str(addr), IP_MSG)]
        if ip_family(str(addr)) != atype:
            return [invalid(path, str(addr), f"must be an {atype} address")]
        return []
    if atype == "FQDN":
        return validation.validate_name(addr, path, validation.dns1123_subdomain)
    return []


def _with_more(items: list[str], count: int) -> str:
    text = ",".join(items)
    if count > MAX_SHOWN:
        return f"{text} + {count - MAX_SHOWN} more..."
    return text or "<unset>"


def format_ports(obj: Object) -> str:
    ports = [as_dict(p) for p in as_list(obj.get("ports"))]
    shown = [str(p["port"]) if p.get("port") is not None else str(p.get("name") or "*") for p in ports[:MAX_SHOWN]]
    return _with_more(shown, len(ports))


def format_endpoint_addresses(obj: Object) -> str:
    addresses = [str(a) for ep in as_list(obj.get("endpoints")) for a in as_list(as_dict(ep).get("addresses"))]
    return _with_more(addresses[:MAX_SHOWN], len(addresses))
