"""The iptables backend (``--proxy-mode iptables``) for hosts without nft: the same decisions as the
nftables backend (``sampan.proxy.topology``) written as ``iptables-restore`` input, upstream's iptables
proxier's chain layout (``SERVICES`` → ``SVC``/``SVL``/``EXT`` → ``SEP``), ``statistic`` random load
balancing and ``recent`` for ClientIP affinity. Every sync rewrites our chains in one atomic
``iptables-restore --noflush``."""
