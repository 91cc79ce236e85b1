"""``NamespaceLifecycle`` (first in the chain, a mutating-phase plugin as upstream's, so its 404/403 come
before the strategy's validation): a create of namespaced content needs its namespace to exist (404
``namespaces "x" not found``) and not be terminating (403 ``unable to create new content in namespace x
because it is being terminated``); ``default``, ``kube-system`` and ``kube-public`` may not be deleted
(403). The checks themselves live in :mod:`sampan.apiserver.lifecycle`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sampan.apiserver.admission.interface import Attributes, PluginBase
from sampan.apiserver.lifecycle import check_can_create_in, check_deletable

if TYPE_CHECKING:
    from sampan.apiserver.context import ServerContext


class NamespaceLifecyclePlugin(PluginBase):
    name = "NamespaceLifecycle"

    def handles(self, attrs: Attributes) -> bool:
        if attrs.operation == "DELETE":
            return attrs.is_resource("", "namespaces")
        return attrs.operation == "CREATE" and bool(attrs.namespace) and attrs.subresource == ""

    async def admit(self, ctx: ServerContext, attrs: Attributes) -> None:
        if attrs.operation == "DELETE":
            check_deletable(attrs.name)
            return
        await check_can_create_in(ctx, attrs.namespace, resource=attrs.resource, group=attrs.group, name=attrs.name)
