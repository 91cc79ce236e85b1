"""The client library (client-go for Python, asyncio): REST client and discovery (``rest``,
``discovery``, ``dynamic``), configuration (``config``, ``kubeconfig``), informers (``cache``,
``informers``), work queues (``workqueue``), leader election (``leaderelection``) and the event recorder
(``record``). Works against any conformant cluster, not only sampan's: it uses only the standard API."""

from sampan.client.cache import (
    DeletedFinalStateUnknown,
    EventHandlerFuncs,
    Lister,
    SharedIndexInformer,
    meta_namespace_key,
    split_meta_namespace_key,
    wait_for_cache_sync,
)
from sampan.client.config import ConfigError, RESTConfig
from sampan.client.dynamic import Client, PatchType, ResourceClient
from sampan.client.informers import SharedInformerFactory
from sampan.client.kubeconfig import in_cluster_config, load_config, load_kubeconfig

__all__ = [
    "Client",
    "ConfigError",
    "DeletedFinalStateUnknown",
    "EventHandlerFuncs",
    "Lister",
    "PatchType",
    "RESTConfig",
    "ResourceClient",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "in_cluster_config",
    "load_config",
    "load_kubeconfig",
    "meta_namespace_key",
    "split_meta_namespace_key",
    "wait_for_cache_sync",
]
