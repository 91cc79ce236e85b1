"""The informer machinery (client-go's ``tools/cache``), one concept a module: ``store`` and ``index``
(the local cache), ``delta_fifo`` (per-object change queue), ``listwatch`` (the LIST/WATCH seam),
``reflector`` (LIST then WATCH into the FIFO), ``handlers`` (per-handler bounded listeners),
``shared_informer`` (one reflector, one cache, many handlers) and ``listers`` (read views)."""

from sampan.client.cache.delta_fifo import Delta, DeltaFIFO, DeltaType
from sampan.client.cache.handlers import EventHandlerFuncs, ResourceEventHandler
from sampan.client.cache.index import NAMESPACE_INDEX, namespace_index
from sampan.client.cache.listers import Lister, NamespaceLister
from sampan.client.cache.listwatch import ListerWatcher, ListWatch
from sampan.client.cache.reflector import Reflector, ReflectorOptions
from sampan.client.cache.shared_informer import HandlerRegistration, SharedIndexInformer, wait_for_cache_sync
from sampan.client.cache.store import (
    DeletedFinalStateUnknown,
    IndexedStore,
    Indexer,
    Store,
    meta_namespace_key,
    split_meta_namespace_key,
)

__all__ = [
    "NAMESPACE_INDEX",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "EventHandlerFuncs",
    "HandlerRegistration",
    "IndexedStore",
    "Indexer",
    "ListWatch",
    "Lister",
    "ListerWatcher",
    "NamespaceLister",
    "Reflector",
    "ReflectorOptions",
    "ResourceEventHandler",
    "SharedIndexInformer",
    "Store",
    "meta_namespace_key",
    "namespace_index",
    "split_meta_namespace_key",
    "wait_for_cache_sync",
]
