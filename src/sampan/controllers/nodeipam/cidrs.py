"""The pure part of node IPAM: the pod CIDRs of a cluster CIDR, by index.

A :class:`CIDRSet` splits ``cluster_cidr`` into subnets of ``mask_size`` bits; subnet ``i`` is the i-th
in address order. ``next_free(occupied)`` is the lowest index not occupied (upstream's allocator walks
forward from the last one it handed out; lowest-first keeps node ``n`` on a stable CIDR across restarts
of a small cluster and is equally correct).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class CIDRSet:
    cluster: ipaddress.IPv4Network | ipaddress.IPv6Network
    mask_size: int

    @classmethod
    def parse(cls, cluster_cidr: str, mask_size: int) -> CIDRSet:
        try:
            net = ipaddress.ip_network(cluster_cidr.strip(), strict=True)
        except ValueError as err:
            raise ValueError(f"--cluster-cidr {cluster_cidr!r}: {err}") from None
        if not net.prefixlen <= mask_size <= net.max_prefixlen:
            raise ValueError(f"--node-cidr-mask-size {mask_size} must be between the cluster CIDR's prefix "
                             f"({net.prefixlen}) and {net.max_prefixlen}")
        if mask_size - net.prefixlen > 16:
            raise ValueError(f"--node-cidr-mask-size {mask_size}: more than 65536 node CIDRs in {net}")
        return cls(net, mask_size)

    @property
    def size(self) -> int:
        return 1 << (self.mask_size - self.cluster.prefixlen)

    def cidr(self, index: int) -> str:
        step = 1 << (self.cluster.max_prefixlen - self.mask_size)
        base = int(self.cluster.network_address) + index * step
        return f"{ipaddress.ip_address(base)}/{self.mask_size}"

    def index(self, cidr: str) -> int | None:
        """The index of ``cidr`` when it is one of this set's subnets, else None."""
        try:
            net = ipaddress.ip_network(cidr, strict=True)
        except ValueError:
            return None
        if net.version != self.cluster.version or net.prefixlen != self.mask_size or not net.subnet_of(
                self.cluster):  # type: ignore[arg-type]
            return None
        step = 1 << (self.cluster.max_prefixlen - self.mask_size)
        return (int(net.network_address) - int(self.cluster.network_address)) // step

    def next_free(self, occupied: Iterable[int]) -> int | None:
        taken = set(occupied)
        return next((i for i in range(self.size) if i not in taken), None)
