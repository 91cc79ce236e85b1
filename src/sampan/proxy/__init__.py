"""kube-proxy: Service virtual IPs and load balancing (not built yet)."""
