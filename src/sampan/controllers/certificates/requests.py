"""Reading CertificateSigningRequest objects: their conditions, their PKCS#10 request, and the state
machine every certificates controller follows::

    Pending ──approve──▶ Approved ──sign──▶ Issued
       │                    └──────────▶ Failed (the signer refused)
       └────deny────▶ Denied

A request is *finished* once Denied, Failed or Issued; nothing acts on it afterwards but the cleaner.
"""

from __future__ import annotations

import binascii
from typing import Any

from sampan._lib import csr

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
CSR_API = "certificates.k8s.io/v1"


def conditions(obj: dict[str, Any]) -> list[dict[str, Any]]:
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    items = status.get("conditions") if isinstance(status, dict) else None
    return [c for c in items if isinstance(c, dict)] if isinstance(items, list) else []


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in conditions(obj):
        if c.get("type") == ctype and c.get("status", "True") == "True":
            return c
    return None


def certificate(obj: dict[str, Any]) -> str:
    status = obj.get("status")
    return str(status.get("certificate") or "") if isinstance(status, dict) else ""


def spec(obj: dict[str, Any]) -> dict[str, Any]:
    value = obj.get("spec")
    return value if isinstance(value, dict) else {}


def signer_name(obj: dict[str, Any]) -> str:
    return str(spec(obj).get("signerName") or "")


def usages(obj: dict[str, Any]) -> list[str]:
    return [str(u) for u in spec(obj).get("usages") or []]


def parse(obj: dict[str, Any]) -> csr.Request:
    """The object's PKCS#10 request; ValueError when unreadable (validation makes that rare)."""
    try:
        return csr.request_from_b64(str(spec(obj).get("request") or ""))
    except (binascii.Error, TypeError) as exc:
        raise ValueError(str(exc)) from None
