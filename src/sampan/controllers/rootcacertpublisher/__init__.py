"""The root-ca-cert-publisher controller: the ``kube-root-ca.crt`` ConfigMap in every namespace."""
