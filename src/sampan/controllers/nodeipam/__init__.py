"""The node IPAM controller (upstream's ``nodeipam`` with the RangeAllocator): with
``--allocate-node-cidrs`` it gives every Node a pod CIDR (``spec.podCIDR``/``spec.podCIDRs``) of
``--node-cidr-mask-size`` bits from ``--cluster-cidr``."""
