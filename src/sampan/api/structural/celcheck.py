"""A static type checker for CEL expressions over OpenAPI schemas, as upstream's ValidatingAdmissionPolicy
type checking (``status.typeChecking``) uses cel-go's checker.

celpy (cel-python) parses but does not type-check, so this module walks celpy's parse tree with the types
of the declared variables: ``object``/``oldObject`` typed by a resource's OpenAPI schema (``$ref`` and
``allOf`` resolved lazily, so recursive schemas are fine), ``params`` by the param kind's schema (else
``dyn``), ``variables`` by the policy's variables, everything else ``dyn``. It reports what cel-go's
checker reports for the same cases, with cel-go's message and caret rendering::

    ERROR: <input>:1:7: undefined field 'replicas'
     | object.replicas > 1
     | ......^

* a field selection on an object type whose schema has no such property (``undefined field``), also
  inside ``has()``;
* an identifier that is not declared (``undeclared reference to 'x' (in container '')``);
* an operator whose operand types are known and have no overload (``found no matching overload for
  '_>_' applied to '(string, int)'``), for the relational, arithmetic and logical operators;
* a field selection on a primitive (``type 'string' does not support field selection``).

Anything it cannot type precisely is ``dyn``, which matches everything: the checker may miss an error
cel-go would find (a function's argument types, the Kubernetes CEL libraries) but never reports one cel-go
would not. Schema rules follow upstream's ``SchemaDeclType``: ``x-kubernetes-int-or-string`` and
``x-kubernetes-preserve-unknown-fields`` without properties are ``dyn``; ``additionalProperties`` is a
map; ``format: date-time`` a timestamp, ``duration`` a duration, ``byte`` bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Resolver = Callable[[str], "dict[str, Any] | None"]
"""``$ref`` (``#/components/schemas/<name>``) -> the schema it names (None when unknown)."""

NUMERIC = frozenset({"int", "uint", "double"})
_RELATIONS = {"relation_lt": "_<_", "relation_le": "_<=_", "relation_gt": "_>_", "relation_ge": "_>=_",
              "relation_eq": "_==_", "relation_ne": "_!=_", "relation_in": "@in"}
_ARITH = {"addition_add": "_+_", "addition_sub": "_-_", "multiplication_mul": "_*_",
          "multiplication_div": "_/_", "multiplication_mod": "_%_"}
_ADDABLE = {("int", "int"), ("uint", "uint"), ("double", "double"), ("string", "string"), ("bytes", "bytes"),
            ("timestamp", "duration"), ("duration", "timestamp"), ("duration", "duration")}
_SUBTRACTABLE = {("int", "int"), ("uint", "uint"), ("double", "double"), ("timestamp", "timestamp"),
                 ("timestamp", "duration"), ("duration", "duration")}
_COMPARABLE = {"int", "uint", "double", "string", "bytes", "bool", "timestamp", "duration"}
_RESULTS = {"size": "int", "int": "int", "uint": "uint", "double": "double", "string": "string",
            "bytes": "bytes", "bool": "bool", "timestamp": "timestamp", "duration": "duration",
            "matches": "bool", "startsWith": "bool", "endsWith": "bool", "contains": "bool",
            "all": "bool", "exists": "bool", "exists_one": "bool", "has": "bool"}
_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})


@dataclass(frozen=True, eq=False)
class CelType:
    """A CEL type: ``kind`` is ``dyn``, a primitive (``int``, ``string`` …), ``list``, ``map`` or
    ``object`` (fields from ``schema``, resolved on demand)."""

    kind: str
    elem: CelType | None = None
    schema: Mapping[str, Any] | None = None
    resolver: Resolver | None = field(default=None, repr=False)
    name: str = ""
    fields: Mapping[str, CelType] | None = None
    """Explicit fields of an object type not built from a schema (``variables``)."""

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list({self.elem or DYN})"
        if self.kind == "map":
            return f"map(string, {self.elem or DYN})"
        if self.kind == "object":
            return self.name or "object"
        return self.kind

    def field_type(self, name: str) -> CelType | None:
        """The type of field ``name`` of this object type; None when it has no such field."""
        if self.fields is not None:
            return self.fields.get(name)
        props = (self.schema or {}).get("properties")
        if not isinstance(props, dict) or name not in props:
            return None
        return from_schema(props[name], self.resolver, name=f"{self.name}.{name}")


DYN = CelType("dyn")


def _resolve(schema: Any, resolver: Resolver | None, depth: int = 0) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and resolver is not None and depth < 32:
        return _resolve(resolver(ref), resolver, depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and not schema.get("properties"):
        merged = {**_resolve(all_of[0], resolver, depth + 1), **{k: v for k, v in schema.items() if k != "allOf"}}
        return merged
    return schema


def from_schema(schema: Any, resolver: Resolver | None = None, *, name: str = "object") -> CelType:
    """The CEL type of an OpenAPI (v3, or CRD structural) schema node."""
    s = _resolve(schema, resolver)
    if not s or s.get("x-kubernetes-int-or-string"):
        return DYN
    kind = s.get("type")
    if kind == "object" or (kind is None and "properties" in s):
        if isinstance(s.get("properties"), dict) and s["properties"]:
            return CelType("object", schema=s, resolver=resolver, name=name)
        extra = s.get("additionalProperties")
        if isinstance(extra, dict):
            return CelType("map", elem=from_schema(extra, resolver, name=f"{name}.@elem"))
        return DYN
    if kind == "array":
        return CelType("list", elem=from_schema(s.get("items"), resolver, name=f"{name}.@idx"))
    if kind == "string":
        fmt = s.get("format")
        return CelType({"date-time": "timestamp", "duration": "duration", "byte": "bytes"}.get(str(fmt), "string"))
    if kind == "integer":
        return CelType("int")
    if kind == "number":
        return CelType("double")
    if kind == "boolean":
        return CelType("bool")
    return DYN


class CheckError(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def _render(expr: str, pos: int, message: str) -> str:
    """cel-go's issue format: location, the source line, a caret under the column."""
    line_no = expr.count("\n", 0, pos) + 1
    start = expr.rfind("\n", 0, pos) + 1
    end = expr.find("\n", pos)
    line = expr[start:] if end < 0 else expr[start:end]
    col = pos - start
    return f"ERROR: <input>:{line_no}:{col + 1}: {message}\n | {line}\n | {'.' * col}^"


def check(expr: str, variables: Mapping[str, CelType]) -> str | None:
    """None when ``expr`` type-checks against ``variables``; else cel-go's issue text (parse errors too)."""
    try:
        tree = _parser().parse(expr)
    except Exception as err:  # a syntax error: cel-go reports it as an issue as well
        return f"ERROR: <input>: {' '.join(str(err).split())}"
    try:
        _Checker(expr, variables).type_of(tree)
    except CheckError as err:
        return _render(expr, err.pos, err.message)
    return None


def infer(expr: str, variables: Mapping[str, CelType]) -> CelType | None:
    """The type of ``expr`` over ``variables``; None when it does not parse or check."""
    try:
        return _Checker(expr, variables).type_of(_parser().parse(expr))
    except Exception:
        return None


@functools.cache
def _parser() -> Any:
    """celpy's parser (with positions), built on first use (building it takes a noticeable moment)."""
    from celpy.celparser import CELParser

    return CELParser()


class _Checker:
    def __init__(self, expr: str, variables: Mapping[str, CelType]) -> None:
        self.expr = expr
        self.scopes: list[Mapping[str, CelType]] = [variables]

    def lookup(self, name: str) -> CelType | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def after(self, node: Any) -> int:
        """The offset of the first non-blank character after ``node`` (an operator's position)."""
        pos = _end(node)
        while pos < len(self.expr) and self.expr[pos].isspace():
            pos += 1
        return pos

    def type_of(self, node: Any) -> CelType:
        from lark import Token, Tree

        if isinstance(node, Token):
            return DYN
        assert isinstance(node, Tree)
        rule, kids = str(node.data), [k for k in node.children if k is not None]
        if rule == "expr":
            types = [self.type_of(k) for k in kids]
            return types[1] if len(types) == 3 else types[0]
        if rule in ("conditionalor", "conditionaland"):
            if len(kids) == 1:
                return self.type_of(kids[0])
            left, right = self.type_of(kids[0]), self.type_of(kids[1])
            op = "_||_" if rule == "conditionalor" else "_&&_"
            if any(t.kind not in ("bool", "dyn") for t in (left, right)):
                raise CheckError(self.after(kids[0]), _no_overload(op, left, right))
            return CelType("bool")
        if rule in ("relation", "addition", "multiplication"):
            if len(kids) == 1:
                return self.type_of(kids[0])
            op_node, right_node = kids
            left_node = op_node.children[0]
            left, right = self.type_of(left_node), self.type_of(right_node)
            return self.binary(str(op_node.data), left, right, self.after(left_node))
        if rule == "unary":
            if len(kids) == 1:
                return self.type_of(kids[0])
            operand = self.type_of(kids[1])
            op, wanted = ("!_", {"bool"}) if kids[0].data == "unary_not" else ("-_", {"int", "double", "duration"})
            if operand.kind != "dyn" and operand.kind not in wanted:
                raise CheckError(_start(kids[0]), f"found no matching overload for '{op}' applied to '({operand})'")
            return operand
        if rule in ("member", "primary"):
            return self.type_of(kids[0])
        if rule == "member_dot":
            target = self.type_of(kids[0])
            return self.select(target, str(kids[1]), _start(kids[1]) - 1)
        if rule == "member_index":
            target, index = self.type_of(kids[0]), self.type_of(kids[1])
            del index
            return target.elem or DYN if target.kind in ("list", "map") else DYN
        if rule == "member_dot_arg":
            return self.method(kids)
        if rule == "ident":
            name = str(kids[0])
            found = self.lookup(name)
            if found is None:
                raise CheckError(_start(node), f"undeclared reference to '{name}' (in container '')")
            return found
        if rule == "ident_arg":
            return self.function(str(kids[0]), kids[1] if len(kids) > 1 else None)
        if rule == "paren_expr":
            return self.type_of(kids[0])
        if rule == "literal":
            return _literal(kids[0])
        if rule == "list_lit":
            elems = [self.type_of(k) for k in (kids[0].children if kids else [])]
            same = {str(t) for t in elems}
            return CelType("list", elem=elems[0] if len(same) == 1 else DYN)
        for kid in kids:  # map literals, object construction, dot_ident…: check inside, type unknown
            self.type_of(kid)
        return DYN

    def binary(self, op_rule: str, left: CelType, right: CelType, pos: int) -> CelType:
        if op_rule in _RELATIONS:
            op = _RELATIONS[op_rule]
            if op_rule == "relation_in":
                return CelType("bool")
            if "dyn" in (left.kind, right.kind):
                return CelType("bool")
            if op in ("_==_", "_!=_"):
                ok = left.kind == right.kind or "null_type" in (left.kind, right.kind)
            else:
                ok = (left.kind in NUMERIC and right.kind in NUMERIC) or (
                    left.kind == right.kind and left.kind in _COMPARABLE)
            if not ok:
                raise CheckError(pos, _no_overload(op, left, right))
            return CelType("bool")
        op = _ARITH[op_rule]
        if "dyn" in (left.kind, right.kind):
            return DYN
        pair = (left.kind, right.kind)
        if op == "_+_":
            ok = pair in _ADDABLE or (left.kind == right.kind == "list")
        elif op == "_-_":
            ok = pair in _SUBTRACTABLE
        elif op == "_%_":
            ok = pair in {("int", "int"), ("uint", "uint")}
        else:
            ok = left.kind == right.kind and left.kind in NUMERIC
        if not ok:
            raise CheckError(pos, _no_overload(op, left, right))
        if pair in (("timestamp", "timestamp"),):
            return CelType("duration")
        return left if left.kind != "duration" or right.kind == "duration" else right

    def select(self, target: CelType, name: str, pos: int) -> CelType:
        if target.kind == "object":
            found = target.field_type(name)
            if found is None:
                raise CheckError(pos, f"undefined field '{name}'")
            return found
        if target.kind == "map":
            return target.elem or DYN
        if target.kind == "dyn":
            return DYN
        raise CheckError(pos, f"type '{target}' does not support field selection")

    def function(self, name: str, args: Any) -> CelType:
        arg_nodes = list(args.children) if args is not None else []
        if name == "has" and len(arg_nodes) == 1:
            self.type_of(arg_nodes[0])  # the selection must name a declared field
            return CelType("bool")
        for arg in arg_nodes:
            self.type_of(arg)
        return CelType(_RESULTS[name]) if name in _RESULTS else DYN

    def method(self, kids: list[Any]) -> CelType:
        target = self.type_of(kids[0])
        name = str(kids[1])
        args = list(kids[2].children) if len(kids) > 2 and kids[2] is not None else []
        if name in _MACROS and len(args) in (2, 3):
            var = _bound_name(args[0])
            elem = target.elem if target.kind == "list" else (CelType("string") if target.kind == "map" else DYN)
            self.scopes.append({var: elem or DYN} if var else {})
            try:
                body = [self.type_of(a) for a in args[1:]]
            finally:
                self.scopes.pop()
            if name == "filter":
                return target if target.kind == "list" else CelType("list", elem=DYN)
            if name == "map":
                return CelType("list", elem=body[-1])
            return CelType("bool")
        for arg in args:
            self.type_of(arg)
        return CelType(_RESULTS[name]) if name in _RESULTS else DYN


def _bound_name(node: Any) -> str:
    """The identifier a comprehension binds (its first argument), or "" when it is not a plain name."""
    from lark import Token, Tree

    while isinstance(node, Tree) and len([c for c in node.children if c is not None]) == 1:
        node = next(c for c in node.children if c is not None)
    return str(node) if isinstance(node, Token) and node.type == "IDENT" else ""


def _literal(token: Any) -> CelType:
    kind = {"INT_LIT": "int", "UINT_LIT": "uint", "FLOAT_LIT": "double", "STRING_LIT": "string",
            "MLSTRING_LIT": "string", "BYTES_LIT": "bytes", "BOOL_LIT": "bool", "NULL_LIT": "null_type"}
    return CelType(kind.get(getattr(token, "type", ""), "dyn"))


def _no_overload(op: str, left: CelType, right: CelType) -> str:
    return f"found no matching overload for '{op}' applied to '({left}, {right})'"


def _start(node: Any) -> int:
    from lark import Token

    if isinstance(node, Token):
        return int(node.start_pos or 0)
    meta = node.meta
    return 0 if meta.empty else int(meta.start_pos)


def _end(node: Any) -> int:
    from lark import Token

    if isinstance(node, Token):
        return int(node.end_pos or 0)
    meta = node.meta
    return 0 if meta.empty else int(meta.end_pos)
