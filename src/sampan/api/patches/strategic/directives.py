"""The vocabulary of strategic merge patch: directive names and upstream's error messages.

Malformed patches raise :class:`~sampan.api.errors.BadRequest` with the message upstream's ``mergepatch``
package uses (kube-apiserver answers 400 for these). Errors upstream surfaces as plain errors (a list
element without its merge key, mismatched element types) are 400 here too, with upstream's wording: they
are the client's fault, not the server's.
"""

from __future__ import annotations

from typing import Any

import orjson

from sampan.api.errors import BadRequest
from sampan.api.patches.document import type_name

DIRECTIVE = "$patch"
REPLACE = "replace"
DELETE = "delete"
MERGE = "merge"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"


def show(value: Any) -> str:
    """A value as compact JSON, for messages."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return repr(value)


def bad_json_doc() -> BadRequest:
    return BadRequest("invalid JSON document")


def no_list_of_lists() -> BadRequest:
    return BadRequest("lists of lists are not supported")


def bad_primitive_list() -> BadRequest:
    return BadRequest("invalid patch format of primitive list")


def bad_retain_keys() -> BadRequest:
    return BadRequest("invalid patch format of retainKeys")


def bad_set_element_order() -> BadRequest:
    return BadRequest("invalid patch format of setElementOrder list")


def bad_patch_type(directive: Any, patch: Any) -> BadRequest:
    return BadRequest(f"unknown patch type: {directive} in map: {show(patch)}")


def no_merge_key(element: Any, key: str) -> BadRequest:
    return BadRequest(f"map: {show(element)} does not contain declared merge key: {key}")


def bad_arg_kind(expected: str, value: Any) -> BadRequest:
    return BadRequest(f"expected a {expected}, but received a {type_name(value)}")


def mixed_list(values: Any) -> BadRequest:
    return BadRequest(f"list element types are not identical: {show(values)}")


def split_directive_key(key: str, prefix: str) -> str:
    """``$setElementOrder/containers`` -> ``containers``; raises upstream's format error otherwise."""
    head, sep, field = key.partition("/")
    if head == prefix and sep and field:
        return field
    if prefix == DELETE_FROM_PRIMITIVE_LIST:
        raise bad_primitive_list()
    raise bad_set_element_order()
