"""The nftables backend, built the way upstream's ``pkg/proxy/nftables`` is: one table of our own, a
``service-ips`` verdict map dispatching ``ip . proto . port`` to one chain per service port, one chain
per endpoint doing the DNAT, ``numgen random`` load balancing, per-endpoint affinity sets with timeouts,
``no-endpoint-*`` verdict maps for REJECT/DROP, and a ``masquerading`` chain driven by a packet mark.

``names`` derives chain names, ``fragments`` turns one Service's ports and endpoints into its chains and
map elements (pure), ``ruleset`` renders the base table and full or partial transactions as ``nft -f``
text (pure), ``backend`` runs ``nft`` and remembers what the kernel holds."""
