"""Serving custom resources at runtime: :class:`~.manager.CustomResourceManager` watches the CRDs in
the watch cache, writes their status (``NamesAccepted``/``Established``/``Terminating``), registers
and unregisters their endpoints, watch caches, discovery and OpenAPI documents, and runs the CRD
deletion finalizer ``customresourcecleanup.apiextensions.k8s.io``."""
