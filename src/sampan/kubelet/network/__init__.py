"""Pod networking for the ``process`` runtime: one network namespace per pod sandbox, a veth pair into a
per-node bridge, and an address from a file-backed host-local IPAM over the node's pod CIDR (always inside
100.64.0.0/10). ``ipam`` allocates, ``links`` drives the ``ip`` binary, ``pod_network`` puts them together."""
