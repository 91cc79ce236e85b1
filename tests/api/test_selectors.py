"""Label and field selector parsing and matching, with hypothesis round-trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sampan.api.selectors import (
    FieldRequirement,
    FieldSelector,
    LabelSelector,
    escape_field_value,
    format_label_selector,
    format_labels,
)

name_part = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,10}[a-z0-9])?", fullmatch=True)
prefix = st.from_regex(r"[a-z0-9]{1,5}(\.[a-z0-9]{1,5}){0,2}", fullmatch=True)
label_key = st.one_of(name_part, st.tuples(prefix, name_part).map("/".join))
label_value = st.one_of(st.just(""), name_part)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", {"a": "b"}, True),
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a!=b", {}, True),  # absent keys satisfy != as upstream
        ("a!=b", {"a": "b"}, False),
        ("a in (x, y)", {"a": "y"}, True),
        ("a in (x,y)", {}, False),
        ("a notin (x)", {}, True),
        ("a notin (x)", {"a": "x"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": ""}, False),
        ("!a", {}, True),
        ("a>3", {"a": "4"}, True),
        ("a<3", {"a": "4"}, False),
        ("a>3", {"a": "x"}, False),
        ("app=web, tier in (fe,be), !canary", {"app": "web", "tier": "be"}, True),
        ("app=web,tier in (fe,be),!canary", {"app": "web", "tier": "be", "canary": "1"}, False),
        ("example.com/x=1", {"example.com/x": "1"}, True),
        ("a=", {"a": ""}, True),
    ],
)
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    assert LabelSelector.parse(text).matches(labels) is expected


@pytest.mark.parametrize(
    "text",
    ["a b", "a=(", "=b", "a in (x", "a in x", "a=b,", ",a", "Bad Key=1", "a=b=c", "a in (x y)", "!", "a>x",
     "-a=b", "a=" + "x" * 64, "a/b/c=1", "a in ()x"],
)
def test_label_selector_rejects(text: str) -> None:
    with pytest.raises(ValueError) as err:
        LabelSelector.parse(text)
    assert str(err.value)


@pytest.mark.parametrize(("text", "message"), [
    ("a=b,", "found '', expected: identifier after ','"),
    (",a", "found ',', expected: !, identifier, or 'end of string'"),
    ("a=b c", "found 'c', expected: ',' or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("a>=5", "unable to parse requirement: found '=', expected: identifier"),
    ("a>x", "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value "
            "must be an integer"),
    ("a=b_", "unable to parse requirement: values[0][a]: Invalid value: \"b_\": a valid label must be an empty "
             "string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
             "alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is "
             "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"),
    ("A_", "unable to parse requirement: <nil>: Invalid value: \"A_\": name part must consist of alphanumeric "
           "characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or "
           "'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
])
def test_label_selector_messages_are_upstreams(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        LabelSelector.parse(text)
    assert str(err.value) == message


def test_label_selector_lexing_edges() -> None:
    assert str(LabelSelector.parse("x in (foo,,baz),y,z notin ()")) == "x in (,baz,foo),y,z notin ()"
    assert str(LabelSelector.parse("in in (in, notin)")) == "in in (in,notin)"
    assert str(LabelSelector.parse("a  =  b")) == "a=b"
    assert str(LabelSelector.parse("a=b\x00anything")) == "a=b"  # NUL ends the input, as Go's lexer


def test_label_selector_string_is_canonical() -> None:
    sel = LabelSelector.parse("z=1, a in (y,x), !b")
    assert str(sel) == "a in (x,y),!b,z=1"
    assert LabelSelector.parse(str(sel)) == sel
    assert LabelSelector.parse("").empty
    assert not sel.empty


@given(st.lists(st.tuples(label_key, st.sampled_from(["=", "!=", "in", "notin", "exists", "!"]),
                          st.lists(name_part, min_size=1, max_size=3)), max_size=4),
       st.dictionaries(label_key, label_value, max_size=4))
def test_label_selector_roundtrip(reqs: list[tuple[str, str, list[str]]], labels: dict[str, str]) -> None:
    parts = []
    for key, op, values in reqs:
        if op in ("=", "!="):
            parts.append(f"{key}{op}{values[0]}")
        elif op in ("in", "notin"):
            parts.append(f"{key} {op} ({','.join(values)})")
        elif op == "exists":
            parts.append(key)
        else:
            parts.append(f"!{key}")
    sel = LabelSelector.parse(",".join(parts))
    again = LabelSelector.parse(str(sel))
    assert again == sel
    assert again.matches(labels) == sel.matches(labels)


@given(st.text(max_size=40))
def test_label_selector_never_raises_other_errors(text: str) -> None:
    try:
        LabelSelector.parse(text)
    except ValueError:
        pass


@given(st.dictionaries(label_key, label_value, max_size=5))
def test_selector_from_labels_matches_them(labels: dict[str, str]) -> None:
    sel = LabelSelector.from_dict({"matchLabels": labels})
    assert sel.matches(labels)
    assert LabelSelector.parse(format_labels(labels) if labels else "").matches(labels)


def test_from_dict() -> None:
    sel = LabelSelector.from_dict(
        {"matchLabels": {"app": "web"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["fe", "be"]},
            {"key": "canary", "operator": "DoesNotExist"},
        ]}
    )
    assert sel.matches({"app": "web", "tier": "fe"})
    assert not sel.matches({"app": "web", "tier": "fe", "canary": "y"})
    assert LabelSelector.from_dict({}).matches({"x": "y"})
    assert not LabelSelector.from_dict(None).matches({})
    with pytest.raises(ValueError, match="not a valid label selector operator"):
        LabelSelector.from_dict({"matchExpressions": [{"key": "a", "operator": "Near"}]})
    with pytest.raises(ValueError):
        LabelSelector.from_dict({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})


def test_format_helpers() -> None:
    assert format_labels({}) == "<none>"
    assert format_labels({"b": "2", "a": "1"}) == "a=1,b=2"
    assert format_label_selector({"matchLabels": {"app": "x"}}) == "app=x"
    assert format_label_selector({}) == "<none>"
    assert format_label_selector({"matchExpressions": [{"key": "a", "operator": "Bad"}]}) == "<error>"


@pytest.mark.parametrize(
    ("text", "fields", "expected"),
    [
        ("", {}, True),
        ("spec.nodeName=n1", {"spec.nodeName": "n1"}, True),
        ("spec.nodeName==n1", {"spec.nodeName": "n2"}, False),
        ("spec.nodeName!=n1", {"spec.nodeName": "n2"}, True),
        ("spec.nodeName=", {"spec.nodeName": ""}, True),
        ("spec.nodeName=", {}, True),
        ("status.phase!=Running,status.phase!=Pending", {"status.phase": "Failed"}, True),
        ("status.phase!=Running,status.phase!=Pending", {"status.phase": "Pending"}, False),
        (r"a=x\,y", {"a": "x,y"}, True),
        (r"a=x\=y", {"a": "x=y"}, True),
    ],
)
def test_field_selector(text: str, fields: dict[str, str], expected: bool) -> None:
    assert FieldSelector.parse(text).matches(fields) is expected


def test_field_selector_requirements() -> None:
    sel = FieldSelector.parse("metadata.name==x,spec.nodeName!=")
    assert [(r.field, r.operator, r.value) for r in sel.requirements] == [
        ("metadata.name", "=", "x"), ("spec.nodeName", "!=", "")]
    assert not sel.empty
    assert FieldSelector.parse("metadata.name=x,").requirements == [FieldRequirement("metadata.name", "=", "x")]
    assert FieldSelector.parse(",,").empty
    assert FieldSelector.parse("=b").requirements == [FieldRequirement("", "=", "b")]  # the server: unsupported


@pytest.mark.parametrize(("text", "message"), [
    ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
    ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ("   ", "invalid selector: '   '; can't understand '   '"),
    (r"a=b\q", "invalid field selector: invalid escape sequence: \\q"),
    ("a=b=c", "invalid field selector: unescaped character in value: 61"),
    ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
])
def test_field_selector_rejects_as_upstream(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        FieldSelector.parse(text)
    assert str(err.value) == message


@pytest.mark.parametrize("text", ["abc", "a=b,c", r"a=b\q", "a=b=c"])
def test_field_selector_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        FieldSelector.parse(text)


@given(st.lists(st.tuples(st.from_regex(r"[a-z][a-zA-Z.]{0,12}", fullmatch=True), st.sampled_from(["=", "!="]),
                          st.text(max_size=8)), max_size=4))
def test_field_selector_roundtrip(reqs: list[tuple[str, str, str]]) -> None:
    text = ",".join(f"{f}{op}{escape_field_value(v)}" for f, op, v in reqs)
    sel = FieldSelector.parse(text)
    terms = [f"{f}{op}{escape_field_value(v)}" for f, op, v in reqs]
    assert [(r.field, r.operator, r.value) for r in sel.requirements] == [reqs[i] for i in sorted(
        range(len(reqs)), key=lambda i: terms[i])]  # upstream sorts the terms
    assert FieldSelector.parse(str(sel)) == sel


@given(st.text(max_size=40))
def test_field_selector_never_raises_other_errors(text: str) -> None:
    try:
        FieldSelector.parse(text)
    except ValueError:
        pass
