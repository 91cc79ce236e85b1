"""The client library: REST client, kubeconfig, informers (reflector, DeltaFIFO, indexer), workqueue and
leader election. Works against any conformant cluster, not only sampan's."""
