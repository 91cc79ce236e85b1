"""``sampan metrics-server``: the resource metrics pipeline's aggregator (as upstream's metrics-server).

It scrapes every node's kubelet ``/metrics/resource`` each ``metric_resolution``, turns the cumulative
CPU counters of the last two scrapes into rates, and serves ``metrics.k8s.io/v1beta1`` NodeMetrics and
PodMetrics over HTTPS. The API server reaches it through the aggregation layer: at start it registers
(unless told not to) a selector-less Service with Endpoints naming its own address and the APIService
``v1beta1.metrics.k8s.io``, so ``kubectl top`` and the HPA controller find it through discovery.
It talks to the rest of the cluster only through the API and the kubelets' HTTP endpoints.
"""
