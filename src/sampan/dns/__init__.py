"""Cluster DNS (``sampan dns``): CoreDNS's kubernetes-plugin behaviour over sampan's informers.

- :mod:`records` — pure: a Service and its EndpointSlices -> the names and records they publish.
- :mod:`zone` — the in-memory table those records live in (per-name, updated per Service).
- :mod:`answer` — a query against the table: answers, NODATA/NXDOMAIN with the SOA, or "forward".
- :mod:`forward` — other names go to the host's resolvers (``/etc/resolv.conf``) with a timeout.
- :mod:`server` — UDP and TCP listeners, with a wire-level cache of authoritative answers.
- :mod:`sources` — informer handlers that keep the table current.
- :mod:`publish` — keeps the ``kube-system/kube-dns`` Service and this server's EndpointSlice.
- :mod:`interface` — puts the listen address on a sampan-owned device (as node-local-dns does).
- :mod:`app` — the component: :class:`~sampan.dns.app.DNSServer` built from :class:`~sampan.dns.options.DNSOptions`.
"""
