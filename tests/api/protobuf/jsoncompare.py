"""Comparison of a JSON object with its protobuf round trip, allowing what Go adds: zero values."""

from __future__ import annotations

from typing import Any


def is_go_zero(value: Any, *, written: bool = False) -> bool:
    """True for what Go's JSON writer emits for an unset field: null, "", 0, false, {}, [] or an object of
    such values. ``written``: also the zero values of types with their own JSON form that Go writes for
    an unset non-pointer field (a zero Quantity is "0", a zero Duration "0s")."""
    if isinstance(value, dict):
        return all(is_go_zero(v, written=written) for v in value.values())
    if written and value in ("0", "0s"):
        return True
    return value in (None, "", 0, False, []) and not (isinstance(value, float) and value != 0)


def differences(original: Any, decoded: Any, path: str = "") -> list[str]:
    """Where ``decoded`` differs from ``original`` other than by added or dropped zero values."""
    if isinstance(original, dict) and isinstance(decoded, dict):
        out: list[str] = []
        for key in original.keys() | decoded.keys():
            sub = f"{path}.{key}"
            if key not in decoded:
                if not is_go_zero(original[key]):
                    out.append(f"{sub}: lost {original[key]!r}")
            elif key not in original:
                if not is_go_zero(decoded[key], written=True):
                    out.append(f"{sub}: appeared {decoded[key]!r}")
            else:
                out.extend(differences(original[key], decoded[key], sub))
        return out
    if isinstance(original, list) and isinstance(decoded, list):
        if len(original) != len(decoded):
            return [f"{path}: length {len(original)} became {len(decoded)}"]
        pairs = enumerate(zip(original, decoded, strict=True))
        return [d for i, (a, b) in pairs for d in differences(a, b, f"{path}[{i}]")]
    if (original is None and is_go_zero(decoded, written=True)) or (decoded is None and is_go_zero(original)):
        return []
    if original != decoded or type(original) is not type(decoded):
        return [f"{path}: {original!r} became {decoded!r}"]
    return []
