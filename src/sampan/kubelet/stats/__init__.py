"""The kubelet's resource statistics (upstream's cAdvisor/CRI stats provider and its two endpoints).

* ``/metrics/resource``: Prometheus text with upstream's metric names (``node_cpu_usage_seconds_total``,
  ``node_memory_working_set_bytes``, ``pod_*``, ``container_*``, ``container_start_time_seconds``,
  ``scrape_error``), each sample with its own timestamp - what metrics-server scrapes.
* ``/stats/summary``: the ``stats/v1alpha1`` Summary JSON (node and per-pod/per-container CPU and memory,
  ``usageNanoCores`` from the last two readings).

Containers are found through the runtime (labels name their pod), measured through the runtime's
:class:`~sampan.kubelet.runtime.stats.StatsProvider`; node figures come from ``/proc``, or, for a runtime
whose node is not the host (the simulated runtime: synthetic usage), from the runtime itself.
"""
