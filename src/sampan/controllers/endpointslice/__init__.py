"""The EndpointSlice controller: ``discovery.k8s.io/v1`` EndpointSlices for every selector Service,
grouped by port set and address family, at most ``max_endpoints_per_slice`` endpoints each, labelled and
owned as upstream. ``desired`` computes the slices; ``controller`` diffs them against the cache."""
