"""The live view of a cluster (``sampan up`` serves it, ``sampan dashboard`` opens it): an aiohttp app with
one static page (no build step) fed by server-sent events — components alive and leading, watch streams
and events/s per kind, controller workqueues, nodes with their Lease age, pods by phase, and a pod's trace
on click (:mod:`.snapshot` gathers, :mod:`.server` serves)."""
