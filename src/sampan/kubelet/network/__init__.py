"""Pod networking for the ``process`` runtime: one network namespace per pod sandbox, a veth pair into a
per-node bridge, and an address from a file-backed host-local IPAM over the node's pod CIDR (always inside
100.64.0.0/10). ``ipam`` allocates, ``links`` drives the ``ip`` binary, ``pod_network`` puts them together;
``forwarding`` routes between the nodes' bridges (flat pod-to-pod traffic on this machine, guarded so
nothing leaves it); ``node_cidr`` waits for the Node's podCIDR; ``dns``, ``service_env`` and ``pod_files``
give each container its /etc/resolv.conf, /etc/hosts and service environment variables."""
