"""CEL validation rules (``x-kubernetes-validations``), evaluated with the cel-python library (celpy).

A rule is ``{rule, message?, messageExpression?, reason?, fieldPath?, optionalOldSelf?}`` on any schema
node. ``self`` is the node's value; a rule that mentions ``oldSelf`` is a *transition rule*: it runs only
on updates, and only where the old object has a value correlated with the new one (same property path;
``x-kubernetes-list-type: map`` items by their keys; map entries by key), as upstream does.

A failed rule yields a cause at the node's path (plus ``fieldPath``) with the rule's ``reason``
(``FieldValueInvalid`` by default): ``message`` if given, else the string ``messageExpression``
evaluates to, else ``failed rule: <rule>``. An evaluation error fails the rule with cel-go's wording,
``<error> evaluating rule: <rule>`` (e.g. ``no such key: min evaluating rule: self.min <= self.max``).

Limits against upstream: celpy implements the CEL standard library; the Kubernetes extension libraries
(``quantity()``, ``url()``, ``isSorted()``, ``indexOf()``, ``format()`` …) are absent and rules that
use them fail to compile, so the CRD is rejected instead of silently not validating. There is no cost
budget. Compiled programs are cached per rule text.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import celpy

from sampan.api.errors import Cause, forbidden, invalid, not_supported, required

log = logging.getLogger(__name__)

REASONS = ["FieldValueDuplicate", "FieldValueForbidden", "FieldValueInvalid", "FieldValueRequired"]
_OLD_SELF = re.compile(r"\boldSelf\b")
_MISSING = object()
_FIELD_PATH = re.compile(r"(\.[A-Za-z_][\w-]*|\['[^']*'\]|\[\d+\])+")


@functools.lru_cache(maxsize=1024)
def _compile(expr: str) -> Any:
    """The runnable program of ``expr``; raises ``celpy.CELParseError`` on bad syntax."""
    env = _env()
    return env.program(env.compile(expr))


@functools.cache
def _env() -> celpy.Environment:
    """The one CEL environment, built on first use: importing celpy and building its parser takes about
    0.15 s, which every process importing the API machinery (``sampan apiserver`` start-up) would pay."""
    import celpy

    return celpy.Environment()


def program(expr: str) -> Any:
    """The compiled (cached) program of ``expr``, for other CEL users (admission policies); raises on bad syntax."""
    return _compile(expr)


def compile_error(expr: str) -> str | None:
    """None when ``expr`` compiles, else the compiler's message (one line)."""
    try:
        _compile(expr)
    except Exception as err:
        return " ".join(str(err).split())
    return None


def is_transition(rule: dict[str, Any]) -> bool:
    return bool(_OLD_SELF.search(str(rule.get("rule", ""))))


def check_rules(s: dict[str, Any], path: str, *, correlatable: bool = True) -> list[Cause]:
    """The CRD-time checks of one node's ``x-kubernetes-validations``. ``correlatable`` is False below
    the items of a list that is not ``x-kubernetes-list-type: map``: there ``oldSelf`` has no meaning."""
    rules = s.get("x-kubernetes-validations")
    if rules is None:
        return []
    base = f"{path}.x-kubernetes-validations"
    if not isinstance(rules, list):
        return [invalid(base, str(rules), "must be a list of validation rules")]
    causes: list[Cause] = []
    for i, rule in enumerate(rules):
        at = f"{base}[{i}]"
        if not isinstance(rule, dict):
            causes.append(invalid(at, str(rule), "must be an object"))
            continue
        expr = rule.get("rule")
        if not isinstance(expr, str) or not expr.strip():
            causes.append(required(f"{at}.rule"))
        elif (err := compile_error(expr)) is not None:
            causes.append(invalid(f"{at}.rule", expr, f"compilation failed: {err}"))
        elif not correlatable and is_transition(rule):
            causes.append(invalid(f"{at}.rule", expr,
                                  "oldSelf cannot be used on the uncorrelatable portion of the schema"))
        msg_expr = rule.get("messageExpression")
        if isinstance(msg_expr, str) and msg_expr and (err := compile_error(msg_expr)) is not None:
            causes.append(invalid(f"{at}.messageExpression", msg_expr, f"messageExpression compilation failed: {err}"))
        message = rule.get("message")
        if isinstance(message, str) and (not message.strip() or "\n" in message):
            causes.append(invalid(f"{at}.message", message, "message must be non-empty and contain no line breaks"))
        reason = rule.get("reason")
        if reason is not None and reason not in REASONS:
            causes.append(not_supported(f"{at}.reason", reason, REASONS))
        fp = rule.get("fieldPath")
        if fp is not None and not (isinstance(fp, str) and _FIELD_PATH.fullmatch(fp)):
            causes.append(invalid(f"{at}.fieldPath", fp, "fieldPath must be a valid path"))
    return causes


def evaluate(value: Any, schema: Any, old: Any = _MISSING, path: str = "") -> list[Cause]:
    """Run every rule of ``schema`` against ``value`` (and ``old`` for transition rules)."""
    causes: list[Cause] = []
    if isinstance(schema, dict):
        _walk(value, schema, old, path, causes)
    return causes


def has_rules(schema: Any) -> bool:
    """Whether any node of ``schema`` carries ``x-kubernetes-validations`` (cheap pre-check)."""
    if not isinstance(schema, dict):
        return False
    if schema.get("x-kubernetes-validations"):
        return True
    subs = list((schema.get("properties") or {}).values()) if isinstance(schema.get("properties"), dict) else []
    subs += [schema.get("items"), schema.get("additionalProperties")]
    return any(has_rules(sub) for sub in subs)


def _walk(value: Any, s: dict[str, Any], old: Any, path: str, out: list[Cause]) -> None:
    if value is None:
        return
    for rule in s.get("x-kubernetes-validations") or []:
        if isinstance(rule, dict):
            _run(rule, value, old, s, path, out)
    if isinstance(value, dict):
        props = s["properties"] if isinstance(s.get("properties"), dict) else {}
        additional = s.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key)
            if not isinstance(sub, dict):
                sub = additional if isinstance(additional, dict) else None
            if sub is not None:
                prev = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                _walk(item, sub, prev, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list) and isinstance(s.get("items"), dict):
        olds = _correlate(value, old, s)
        for i, item in enumerate(value):
            _walk(item, s["items"], olds[i], f"{path}[{i}]", out)


def _correlate(value: list[Any], old: Any, s: dict[str, Any]) -> list[Any]:
    """The old item matching each new item: by map keys for list-type map, else none."""
    keys = s.get("x-kubernetes-list-map-keys") or []
    if s.get("x-kubernetes-list-type") != "map" or not isinstance(old, list) or not keys:
        return [_MISSING] * len(value)
    by_key = {_key(o, keys): o for o in old if isinstance(o, dict)}
    return [by_key.get(_key(v, keys), _MISSING) if isinstance(v, dict) else _MISSING for v in value]


def _key(item: dict[str, Any], keys: list[Any]) -> str:
    return repr([item.get(k) for k in keys if isinstance(k, str)])


def _run(rule: dict[str, Any], value: Any, old: Any, s: dict[str, Any], path: str, out: list[Cause]) -> None:
    expr = rule.get("rule")
    if not isinstance(expr, str):
        return
    transition = is_transition(rule)
    if transition and old is _MISSING and rule.get("optionalOldSelf") is not True:
        return
    import celpy

    activation: dict[str, Any] = {"self": celpy.json_to_cel(value)}
    if transition:
        activation["oldSelf"] = celpy.json_to_cel(None if old is _MISSING else old)
    try:
        result = _compile(expr).evaluate(activation)
    except Exception as err:
        out.append(_cause(rule, s, path, f"{evaluation_error(err)} evaluating rule: {' '.join(expr.split())}"))
        return
    if isinstance(result, celpy.celtypes.BoolType) and bool(result):
        return
    if not isinstance(result, celpy.celtypes.BoolType):
        out.append(_cause(rule, s, path, f"{_default_message(expr)}: rule did not evaluate to a bool"))
        return
    out.append(_cause(rule, s, path, _message(rule, activation, expr)))


_MISSING_MEMBER = re.compile(r"no such member in mapping: '(.*)'")


def evaluation_error(err: Exception) -> str:
    """cel-go's wording for a runtime error (``no such key: min``, ``division by zero``...), from celpy's
    ``CELEvalError(message, exception type, exception args)``: never a Python tuple or class repr."""
    args = err.args
    message = str(args[0]) if args else type(err).__name__
    kind = args[1] if len(args) > 1 else None
    detail = args[2] if len(args) > 2 and isinstance(args[2], tuple) else ()
    if kind is KeyError:
        missing = _MISSING_MEMBER.fullmatch(message)
        key = missing.group(1) if missing else (str(detail[0]) if detail else "")
        return f"no such key: {key}" if key else "no such key"
    if kind is ZeroDivisionError:
        return "division by zero"  # celpy does not tell ``/`` from ``%`` (cel-go: "modulus by zero")
    if kind is IndexError:
        return "index out of range"
    if detail == ("overflow",):
        return "integer overflow"
    extra = "; ".join(str(d) for d in detail)
    return " ".join(f"{message}: {extra}".split()) if extra else " ".join(message.split())


def _default_message(expr: str) -> str:
    return f"failed rule: {' '.join(expr.split())}"


def _message(rule: dict[str, Any], activation: dict[str, Any], expr: str) -> str:
    message = rule.get("message")
    msg_expr = rule.get("messageExpression")
    if isinstance(msg_expr, str) and msg_expr:
        try:
            text = _compile(msg_expr).evaluate(activation)
        except Exception:
            log.debug("messageExpression failed expr=%s", msg_expr)
        else:
            if isinstance(text, str) and text.strip() and "\n" not in text:
                return str(text)
    if isinstance(message, str) and message:
        return message
    return _default_message(expr)


def _cause(rule: dict[str, Any], s: dict[str, Any], path: str, message: str) -> Cause:
    field = path
    fp = rule.get("fieldPath")
    if isinstance(fp, str) and fp:
        field = f"{path}{fp}" if path else fp.lstrip(".")
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason == "FieldValueForbidden":
        return forbidden(field, message)
    if reason == "FieldValueRequired":
        return Cause("FieldValueRequired", field, f"Required value: {message}")
    if reason == "FieldValueDuplicate":
        return Cause("FieldValueDuplicate", field, f"Duplicate value: {message}")
    kind = s.get("type") or ("integer or string" if s.get("x-kubernetes-int-or-string") else "object")
    return invalid(field, str(kind), message)
