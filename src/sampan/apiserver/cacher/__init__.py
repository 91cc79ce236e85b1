"""The watch cache ("cacher"): the whole current state of every served resource in memory, plus a bounded
window of recent events per resource, fed by one store watch; LIST rv=0, consistent LISTs and every WATCH
are answered from it.

``objects`` (CachedObject, WatchEvent: values encoded once) -> ``watcher`` (one client's bounded queue
and filter) -> ``triggers`` (watchers indexed by namespace / spec.nodeName) -> ``resource_cache`` (one
resource's state, window and watchers; batched flushes) -> ``watch_cache`` (the store watch that feeds
them all, revision tracking, bookmarks).
"""
