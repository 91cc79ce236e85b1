"""core/v1 componentstatuses (deprecated since 1.19, still served): ``kubectl get componentstatuses``.

Never stored: :mod:`sampan.apiserver.handlers.componentstatuses` answers GET and LIST by probing the
components' health endpoints on each request. This strategy gives discovery, OpenAPI and the Table
(upstream's Name/Status/Message/Error columns) their shape.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sampan.api.resources import ResourceInfo
from sampan.apiserver.registry.base import NAME_COLUMN, BaseStrategy, as_dict
from sampan.apiserver.registry.strategy import Object, TableColumn


class ComponentStatusStrategy(BaseStrategy):
    info = ResourceInfo(
        group="", version="v1", resource="componentstatuses", kind="ComponentStatus", singular="componentstatus",
        namespaced=False, verbs=("get", "list"), short_names=("cs",),
    )
    columns: ClassVar[tuple[TableColumn, ...]] = (
        NAME_COLUMN,
        TableColumn("Status", description="Status of the component conditions"),
        TableColumn("Message", description="Message of the component conditions"),
        TableColumn("Error", description="Error of the component conditions"),
    )

    def row_cells(self, obj: Object, now: float) -> list[Any]:
        """Upstream's printer: the ``Healthy`` condition decides; no such condition is ``Unknown``."""
        for condition in obj.get("conditions") or []:
            c = as_dict(condition)
            if c.get("type") == "Healthy":
                status = "Healthy" if c.get("status") == "True" else "Unhealthy"
                return [status, str(c.get("message") or ""), str(c.get("error") or "")]
        return ["Unknown", "", ""]
