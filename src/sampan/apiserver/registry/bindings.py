"""core/v1 ``bindings``: the create-only, never-stored collection form of ``pods/<name>/binding``.

``POST /api/v1/namespaces/<ns>/bindings`` binds the pod named by the Binding's ``metadata.name`` (upstream
keeps it for old schedulers); :mod:`sampan.apiserver.handlers.binding` answers it. This strategy exists so
discovery and OpenAPI list it, as upstream's ``/api/v1`` does (verbs ``[create]``, namespaced).
"""

from __future__ import annotations

from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import BaseStrategy


class BindingStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="bindings", kind="Binding", singular="binding", namespaced=True,
        verbs=("create",),
    )
