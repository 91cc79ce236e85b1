"""kube-apiserver: REST over the store, watch cache, discovery, admission. The only importer of
``sampan.storage``."""
