"""Service networking inside the API server, as kube-apiserver does it: the cluster-IP and node-port
allocators (bitmaps stored in the store under ``/registry/ranges/``, changed only by compare-and-swap, so
several API servers never hand out one value twice), the hooks that allocate on create/update and
release on delete (:mod:`.hooks`), the repair loop that frees leaks (:mod:`.repair`), and the
``kubernetes`` Service with its lease-based endpoint reconciler (:mod:`.kubernetes_service`)."""
