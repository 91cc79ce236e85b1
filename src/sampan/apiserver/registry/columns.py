"""Table columns whose descriptions upstream takes from the API's own field documentation.

kube-apiserver's printers describe most columns with ``SomeType{}.SwaggerDoc()["field"]``: the Go doc
comment of that field, which is also the field's ``description`` in the published OpenAPI definitions.
:func:`doc_column` reads it from the same 1.32 definitions sampan serves (``sampan.api.schema``), so
the text cannot drift from what ``/openapi/v3`` says.

The definitions load lazily (about 0.2 s, once per process): build such columns inside a cached
function, never at import time, so that starting an API server stays fast.
"""

from __future__ import annotations

from sampan.api.schema import raw_definitions
from sampan.apiserver.registry.strategy import TableColumn


def swagger_doc(definition: str, field: str) -> str:
    """The description of ``field`` in ``definition`` (``io.k8s.api.storage.v1.StorageClass``); "" if
    either is unknown."""
    props = raw_definitions().get(definition, {}).get("properties", {})
    prop = props.get(field) if isinstance(props, dict) else None
    text = prop.get("description", "") if isinstance(prop, dict) else ""
    return text if isinstance(text, str) else ""


def doc_column(name: str, definition: str, field: str, *, type: str = "string",
               priority: int = 0, format: str = "") -> TableColumn:
    """A column described by ``definition``'s ``field``, as upstream's ``SwaggerDoc()[field]``."""
    return TableColumn(name, type=type, format=format, description=swagger_doc(definition, field),
                       priority=priority)
