"""Validation of certificates.k8s.io/v1 CertificateSigningRequests, after upstream's
``pkg/apis/certificates/validation``: what a create needs and what each of the three write paths
(the object, ``/status``, ``/approval``) may change.

Invariants the rules keep:
* ``spec.request`` is a PEM ``CERTIFICATE REQUEST`` whose signature verifies; ``spec.signerName`` is
  ``<domain>/<path>``; ``spec.usages`` non-empty, known and unique; ``spec.expirationSeconds`` ≥ 600;
* ``Approved``, ``Denied`` and ``Failed`` conditions are ``True`` only, never removed once present,
  ``Approved`` and ``Denied`` exclude each other; only ``/approval`` adds or changes Approved/Denied;
* ``status.certificate`` holds only PEM ``CERTIFICATE`` blocks, is set only through ``/status`` and,
  once set, never changes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from sampan.api import validation
from sampan.api.errors import Cause, duplicate, forbidden, invalid, not_supported, too_long
from sampan.apiserver.registry.base import as_dict, as_list

APPROVED, DENIED, FAILED = "Approved", "Denied", "Failed"
TRUE_ONLY = (APPROVED, DENIED, FAILED)
ALL_STATUSES = ["False", "True", "Unknown"]
LEGACY_UNKNOWN = "kubernetes.io/legacy-unknown"
VALID_USAGES = sorted([
    "signing", "digital signature", "content commitment", "key encipherment", "key agreement",
    "data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth",
    "client auth", "code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel",
    "ipsec user", "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc",
])
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


@dataclass(frozen=True)
class Options:
    """Which write path is validating (upstream's ``certificateValidationOptions``, the parts v1 uses)."""

    allow_setting_approval: bool = False
    allow_setting_certificate: bool = False
    allow_both_approved_and_denied: bool = False


def decode_bytes(value: Any) -> bytes | None:
    """A ``[]byte`` field as JSON carries it (base64), or None when absent or not base64."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return None


def parse_request(obj: dict[str, Any]) -> x509.CertificateSigningRequest:
    """The CSR's PKCS#10 request; ValueError with upstream's wording when it is not one."""
    raw = decode_bytes(as_dict(obj.get("spec")).get("request")) or b""
    m = _PEM_BLOCK.search(raw)
    if m is None or m.group(1) != b"CERTIFICATE REQUEST":
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        csr = x509.load_pem_x509_csr(m.group(0))
    except ValueError as exc:
        raise ValueError(f"asn1: structure error: {exc}") from None
    if not csr.is_signature_valid:
        raise ValueError("x509: ECDSA verification failure")
    return csr


def _certificate_error(raw: bytes) -> str:
    if not raw:
        return ""
    blocks = list(_PEM_BLOCK.finditer(raw))
    if not blocks:
        return "must contain at least one CERTIFICATE PEM block"
    for m in blocks:
        if m.group(1) != b"CERTIFICATE":
            return f'only CERTIFICATE PEM blocks are allowed, found "{m.group(1).decode()}"'
        if b":" in m.group(2).split(b"\n", 1)[0]:
            return "no PEM block headers are permitted"
        try:
            x509.load_pem_x509_certificate(m.group(0))
        except ValueError as exc:
            return f"x509: malformed certificate: {exc}"
    return ""


def signer_name(path: str, name: Any) -> list[Cause]:
    """``ValidateCertificateSigningRequestSignerName``."""
    if not name:
        return [Cause("FieldValueRequired", path, "Required value: signerName must be provided")]
    if not isinstance(name, str):
        return [invalid(path, name, "must be a string")]
    segments = name.split("/")
    if len(segments) != 2:
        return [invalid(path, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")]
    domain, rest = segments
    causes: list[Cause] = []
    if len(domain) > 253:
        causes.append(too_long(path, 253))
    labels = domain.split(".")
    for label in labels:
        errs = validation.dns1123_label(label)
        if errs:
            causes += [invalid(path, domain, f'validating label "{label}": {e}') for e in errs]
            break
    if len(labels) < 2:
        causes.append(invalid(path, domain, "should be a domain with at least two segments separated by dots"))
    for label in rest.split("."):
        errs = validation.dns1123_subdomain(label)
        if errs:
            causes += [invalid(path, rest, f'validating label "{label}": {e}') for e in errs]
            break
    if len(name) > 253 + 253 + 63 + 2:
        causes.append(too_long(path, 571))
    return causes


def conditions(obj: dict[str, Any], opts: Options) -> list[Cause]:
    causes: list[Cause] = []
    seen: set[str] = set()
    has_approved = has_denied = False
    for i, c in enumerate(as_list(as_dict(obj.get("status")).get("conditions"))):
        at = f"status.conditions[{i}]"
        c = as_dict(c)
        ctype, status = c.get("type") or "", c.get("status") or ""
        if not ctype:
            causes.append(Cause("FieldValueRequired", f"{at}.type", "Required value"))
        allowed = ["True"] if ctype in TRUE_ONLY else ALL_STATUSES
        if not status:
            causes.append(Cause("FieldValueRequired", f"{at}.status", "Required value"))
        elif status not in allowed:
            causes.append(not_supported(f"{at}.status", status, allowed))
        if not opts.allow_both_approved_and_denied:
            if ctype == APPROVED:
                has_approved = True
                if has_denied:
                    causes.append(invalid(f"{at}.type", ctype, "Approved and Denied conditions are mutually exclusive"))
            elif ctype == DENIED:
                has_denied = True
                if has_approved:
                    causes.append(invalid(f"{at}.type", ctype, "Approved and Denied conditions are mutually exclusive"))
        if ctype in seen:
            causes.append(duplicate(f"{at}.type", ctype))
        seen.add(ctype)
    return causes


def validate_csr(obj: dict[str, Any], opts: Options) -> list[Cause]:
    """``validateCertificateSigningRequest`` without the metadata part (the strategy adds it)."""
    spec = as_dict(obj.get("spec"))
    causes: list[Cause] = []
    try:
        parse_request(obj)
    except ValueError as exc:
        causes.append(invalid("spec.request", "<request data>", str(exc)))
    usages = as_list(spec.get("usages"))
    if not usages:
        causes.append(Cause("FieldValueRequired", "spec.usages", "Required value: usages must be provided"))
    seen: set[Any] = set()
    for i, usage in enumerate(usages):
        if usage not in VALID_USAGES:
            causes.append(not_supported(f"spec.usages[{i}]", usage, VALID_USAGES))
        if usage in seen:
            causes.append(duplicate(f"spec.usages[{i}]", usage))
        seen.add(usage)
    name = spec.get("signerName")
    if name == LEGACY_UNKNOWN:
        causes.append(invalid("spec.signerName", name, "the legacy signerName is not allowed via this API version"))
    else:
        causes += signer_name("spec.signerName", name)
    seconds = spec.get("expirationSeconds")
    if seconds is not None and (not isinstance(seconds, int) or isinstance(seconds, bool) or seconds < 600):
        causes.append(invalid("spec.expirationSeconds", seconds,
                              "may not specify a duration less than 600 seconds (10 minutes)"))
    causes += conditions(obj, opts)
    err = _certificate_error(decode_bytes(as_dict(obj.get("status")).get("certificate")) or b"")
    if err:
        causes.append(invalid("status.certificate", "<certificate data>", err))
    return causes


def find_conditions(obj: dict[str, Any], ctype: str) -> list[dict[str, Any]]:
    return [as_dict(c) for c in as_list(as_dict(obj.get("status")).get("conditions"))
            if as_dict(c).get("type") == ctype]


def validate_update(new: dict[str, Any], old: dict[str, Any], opts: Options) -> list[Cause]:
    """``validateCertificateSigningRequestUpdate`` (without the metadata part)."""
    both = bool(find_conditions(old, APPROVED)) and bool(find_conditions(old, DENIED))
    opts = Options(opts.allow_setting_approval, opts.allow_setting_certificate, both)
    causes = validate_csr(new, opts)
    for ctype in TRUE_ONLY:
        if len(find_conditions(new, ctype)) < len(find_conditions(old, ctype)):
            causes.append(forbidden("status.conditions", f'updates may not remove a condition of type "{ctype}"'))
    if not opts.allow_setting_approval:
        for ctype in (APPROVED, DENIED):
            before, after = find_conditions(old, ctype), find_conditions(new, ctype)
            if len(after) > len(before):
                causes.append(forbidden("status.conditions", f'updates may not add a condition of type "{ctype}"'))
            elif len(after) == len(before) and after != before:
                causes.append(forbidden("status.conditions", f'updates may not modify a condition of type "{ctype}"'))
    new_cert = as_dict(new.get("status")).get("certificate") or ""
    old_cert = as_dict(old.get("status")).get("certificate") or ""
    if new_cert != old_cert:
        if not opts.allow_setting_certificate:
            causes.append(forbidden("status.certificate", "updates may not set certificate content"))
        elif old_cert:
            causes.append(forbidden("status.certificate", "updates may not modify existing certificate content"))
    return causes
