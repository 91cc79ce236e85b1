"""The service load-balancer controller (``service-lb-controller``): gives every ``type: LoadBalancer``
Service an address from ``--load-balancer-ip-range`` and writes ``status.loadBalancer.ingress``; kube-proxy
then forwards that address. ``pool`` is the allocation record (a ConfigMap, compare-and-swap),
``controller`` the reconcile loop."""
