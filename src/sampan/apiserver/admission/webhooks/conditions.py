"""``matchConditions``: CEL expressions over ``object``, ``oldObject`` and ``request`` (upstream's
admission CEL environment, without ``authorizer``), evaluated with cel-python.

A webhook is called only when every condition is true. A condition that is false skips the webhook
(even when another one errs); an evaluation error with no false condition is an error the caller
handles with the webhook's ``failurePolicy``. Programs are compiled once per expression text.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import celpy


@functools.cache
def _env() -> celpy.Environment:
    import celpy

    return celpy.Environment()


@functools.lru_cache(maxsize=1024)
def _program(expr: str) -> Any:
    env = _env()
    return env.program(env.compile(expr))


def compile_error(expr: str) -> str | None:
    """None when ``expr`` compiles, else the compiler's message on one line."""
    try:
        _program(expr)
    except Exception as err:
        return " ".join(str(err).split())
    return None


class ConditionError(Exception):
    """A condition that could not be evaluated to a bool (message names it)."""


def evaluate(conditions: list[Any], variables: dict[str, Any]) -> bool:
    """True when every condition holds; False as soon as one is false; ConditionError when none is
    false but one erred."""
    if not conditions:
        return True
    import celpy

    activation = {k: celpy.json_to_cel(v) for k, v in variables.items()}
    error: str | None = None
    for cond in conditions:
        if not isinstance(cond, dict):
            continue
        name, expr = str(cond.get("name", "")), str(cond.get("expression", ""))
        try:
            result = _program(expr).evaluate(activation)
        except Exception as err:
            error = error or f"failed to evaluate match condition {name!r}: {' '.join(str(err).split())}"
            continue
        if not isinstance(result, celpy.celtypes.BoolType):
            error = error or f"match condition {name!r} did not evaluate to a bool"
            continue
        if not bool(result):
            return False
    if error is not None:
        raise ConditionError(error)
    return True
