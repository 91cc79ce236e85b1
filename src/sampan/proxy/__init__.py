"""kube-proxy: Service virtual IPs and load balancing, programmed into the kernel.

``server`` is the component (informers on Services and EndpointSlices, health and metrics servers,
routes); ``proxier`` is the bounded-frequency sync loop over a ``changes.ChangeTracker``; ``model`` and
``topology`` are pure views of Services and endpoints; ``nftables/`` (default) and ``iptables/`` are the
backends, each split into pure ruleset generation and a small runner of ``nft``/``iptables-restore``;
``routes`` keeps the virtual-IP ranges routed on this machine. See docs/proxy.md."""
