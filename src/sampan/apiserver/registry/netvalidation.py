"""Address and port checks shared by services, endpoints and endpoint slices (upstream wording)."""

from __future__ import annotations

import ipaddress
from typing import Any

from sampan.api import validation
from sampan.api.errors import Cause, invalid, not_supported, required
from sampan.apiserver.registry.pod_validation import PROTOCOLS, port_name

IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"


def is_ip(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ip_family(value: str) -> str:
    return "IPv6" if ipaddress.ip_address(value).version == 6 else "IPv4"


def validate_ip(value: Any, path: str) -> list[Cause]:
    if value in (None, ""):
        return [required(path)]
    return [] if is_ip(value) else [invalid(path, str(value), IP_MSG)]


def validate_port(port: Any, path: str) -> list[Cause]:
    if port is None or port == 0:
        return [required(path)]
    return [invalid(path, port, m) for m in validation.port_number(port)]


def validate_protocol(value: Any, path: str) -> list[Cause]:
    if not value:
        return [required(path)]
    return [] if value in PROTOCOLS else [not_supported(path, value, PROTOCOLS)]


def validate_target_port(value: Any, path: str) -> list[Cause]:
    """An int port or an IANA port name."""
    if isinstance(value, str) and not value.isdigit():
        return [invalid(path, value, m) for m in port_name(value)]
    number = int(value) if isinstance(value, str) else value
    return [invalid(path, value, m) for m in validation.port_number(number)]
