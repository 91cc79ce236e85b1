"""A pod's network: namespace + veth into the node's bridge + an address from the node's pod CIDR.

``PodNetwork.setup(sandbox_id)`` gives a sandbox (names derived from its id, so a restarted kubelet
finds them again):

* the namespace ``sampan-<id[:12]>`` (``/run/netns/…``, made by ``ip netns add``) with ``lo`` up and
  ``eth0`` holding the pod's address and a default route via the bridge;
* the host end ``vsp<id[:11]>`` attached to the bridge (``sampan<i>`` for the pod CIDR 100.64.<i>.0/24,
  created on demand with the CIDR's first address, so the host reaches every pod directly).

``teardown`` removes both and releases the address; when the last address of the CIDR is released the
bridge goes too. The bridge forwards to the other nodes' bridges (:mod:`.forwarding`: flat pod-to-pod
traffic across the nodes of this machine, nothing leaves it). A failed setup is rolled back. Nothing
outside the bridge (and its forwarding flag), its subnet route, the veths, the namespaces and the
forwarding guard is ever touched.

Allocation state lives per CIDR under ``state_dir`` (default ``/run/sampan/network``: tmpfs, gone at
reboot like the namespaces), shared by every process using that CIDR on the machine; allocating or
releasing an address, garbage collection and removing the bridge hold ``flock`` on its ``lock`` file
(creating and removing a sandbox's own links does not, so setups run concurrently): two kubelets (or a
kubelet and a test) on one CIDR never hand out one address twice nor remove the bridge under each
other's pods, because a sandbox's namespace exists before its address is allocated and an allocation
with a namespace (and sandbox directory) is live. An address whose namespace no longer
exists, or whose sandbox directory (recorded at setup) was deleted, is stale: its owner vanished without
a teardown (a test's or benchmark's temporary kubelet). Each setup first collects such garbage — veth,
namespace and address — so leftovers never exhaust the CIDR.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from sampan.kubelet.network import forwarding, links
from sampan.kubelet.network.ipam import HostLocalIPAM, IPAMError, gateway, parse_pod_cidr

log = logging.getLogger(__name__)

MODES = ("auto", "bridge", "host")
DEFAULT_STATE_DIR = Path("/run/sampan/network")


class PodNetworkError(Exception):
    """Setting up or tearing down a pod's network failed (message says which step)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """Where a sandbox's network lives."""

    ip: str
    netns: str
    """The namespace file to ``setns`` into (``/run/netns/<name>``)."""
    pod_cidr: str


def bridge_name(net: ipaddress.IPv4Network) -> str:
    """``sampan<i>`` for a /24 (``i``: its index among the /24s of 100.64.0.0/10, so 100.64.3.0/24 ->
    ``sampan3``); other sizes: ``sampan<offset in hex>p<prefix>``. Distinct CIDRs give distinct names,
    at most 15 characters (IFNAMSIZ)."""
    offset = int(net.network_address) - int(ipaddress.IPv4Address("100.64.0.0"))
    return f"sampan{offset >> 8}" if net.prefixlen == 24 else f"sampan{offset:x}p{net.prefixlen}"


def netns_name(sandbox_id: str) -> str:
    return f"sampan-{sandbox_id[:12]}"


def host_veth(sandbox_id: str) -> str:
    return f"vsp{sandbox_id[:11]}"


def _is_live(owner: str, sandbox_dir: str) -> bool:
    return links.netns_exists(netns_name(owner)) and (not sandbox_dir or os.path.isdir(sandbox_dir))


def unavailable_reason() -> str:
    """Why per-pod networking cannot run here ("" when it can): it needs root and iproute2."""
    if os.geteuid() != 0:
        return "not running as root"
    if links.ip_binary() is None:
        return "the ip binary (iproute2) is missing"
    return ""


class PodNetwork:
    """The node's pod network over ``pod_cidr``; allocation state under ``state_dir``."""

    def __init__(self, pod_cidr: str, *, state_dir: Path = DEFAULT_STATE_DIR, bridge: str = "") -> None:
        try:
            self.net = parse_pod_cidr(pod_cidr)
        except IPAMError as err:
            raise PodNetworkError(str(err)) from None
        self.bridge = bridge or bridge_name(self.net)
        self.gateway = gateway(self.net)
        self.ipam = HostLocalIPAM(self.net, Path(state_dir) / "ipam" / str(self.net).replace("/", "_"),
                                  is_live=_is_live)
        self._lock = asyncio.Lock()
        self._forwarding = False

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """This process's lock, then the machine-wide lock file of the CIDR."""
        async with self._lock:
            fd = os.open(self.ipam.dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # uncontended: no thread hop
                except BlockingIOError:
                    await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the flock

    @property
    def cidr(self) -> str:
        return str(self.net)

    async def setup(self, sandbox_id: str, *, sandbox_dir: str = "") -> Attachment:
        """Create the sandbox's namespace, veth and address (rolled back on failure). ``sandbox_dir`` is the
        sandbox's state directory: once it is gone, the network is garbage.

        Only the address allocation (and the rare garbage collection) holds the lock; the links are made
        outside it. The namespace exists before the address is allocated, so a concurrent garbage
        collection or teardown always sees this allocation as live (and keeps it, and the bridge)."""
        ns, veth = netns_name(sandbox_id), host_veth(sandbox_id)
        try:
            await links.create_pod_links(netns=ns, host_name=veth)
            async with self._locked():
                entries = await self._collect_garbage()
                try:
                    ip = self.ipam.allocate(sandbox_id, note=sandbox_dir, entries=entries)
                except IPAMError as err:
                    raise PodNetworkError(str(err)) from None
            await asyncio.gather(
                links.configure_pod_end(netns=ns, address=ipaddress.IPv4Interface(f"{ip}/{self.net.prefixlen}"),
                                        gateway=self.gateway),
                links.attach_host_end(host_name=veth, bridge=self.bridge,
                                      address=ipaddress.IPv4Interface(f"{self.gateway}/{self.net.prefixlen}")))
            await self._forward()
        except (links.LinkError, OSError, PodNetworkError) as err:
            await self.teardown(sandbox_id)
            if isinstance(err, PodNetworkError):
                raise
            raise PodNetworkError(f"setting up the pod network: {err}") from None
        log.info("pod network ready sandbox=%s ip=%s netns=%s", sandbox_id[:12], ip, ns)
        return Attachment(ip=str(ip), netns=links.netns_path(ns), pod_cidr=self.cidr)

    async def _forward(self) -> None:
        """Routing to the other nodes' bridges (once per bridge this object saw created); a failure only
        costs cross-node traffic, so it is logged, not raised."""
        if self._forwarding:
            return
        try:
            await forwarding.enable(self.bridge)
            self._forwarding = True
        except forwarding.ForwardingError as err:
            log.warning("pods of this node cannot reach other nodes' pods bridge=%s err=%s", self.bridge, err)

    async def _collect_garbage(self) -> dict[ipaddress.IPv4Address, tuple[str, str]]:
        """Remove the links and free the addresses of owners that are no longer live (under the lock);
        the remaining allocations."""
        entries = self.ipam.entries()
        stale = {ip: owner for ip, (owner, note) in entries.items() if not _is_live(owner, note)}
        if not stale:
            return entries
        for owner in set(stale.values()):
            log.info("collecting a leftover pod network sandbox=%s", owner[:12])
        with contextlib.suppress(links.LinkError):
            await links.remove_pod_links([(netns_name(o), host_veth(o)) for o in set(stale.values())])
        for owner in set(stale.values()):
            self.ipam.release(owner)
        return {ip: e for ip, e in entries.items() if ip not in stale}

    async def teardown(self, sandbox_id: str) -> None:
        """Remove the sandbox's veth and namespace, release its address; idempotent. The links go outside
        the lock (they are the sandbox's own); releasing the address and removing an unused bridge hold it."""
        try:
            await links.remove_pod_links([(netns_name(sandbox_id), host_veth(sandbox_id))])
        except links.LinkError as err:
            raise PodNetworkError(f"tearing down the pod network: {err}") from None
        async with self._locked():
            if self.ipam.release(sandbox_id):
                log.info("pod network removed sandbox=%s", sandbox_id[:12])
            if links.link_exists_now(self.bridge) and not self.ipam.live_allocations():
                try:
                    await links.delete_link(self.bridge)
                    self._forwarding = False
                    await forwarding.remove_guard_if_unused()
                except links.LinkError as err:
                    log.warning("could not remove bridge name=%s err=%s", self.bridge, err)

    async def close(self) -> None:
        """Remove the bridge when no pod holds an address (test teardown, kubelet without pods)."""
        async with self._locked():
            if not self.ipam.live_allocations():
                await links.delete_link(self.bridge)
                self._forwarding = False
                await forwarding.remove_guard_if_unused()


def wants_pod_network(mode: str) -> bool:
    """Whether ``mode`` gives pods their own network here (``auto`` when possible); PodNetworkError when
    ``bridge`` is asked for and this host cannot. Used when the CIDR comes later (the Node's podCIDR)."""
    if mode not in MODES:
        raise PodNetworkError(f"unknown pod network mode {mode!r} (want one of {', '.join(MODES)})")
    if mode == "host":
        return False
    reason = unavailable_reason()
    if reason and mode == "bridge":
        raise PodNetworkError(f"pod network 'bridge' unavailable: {reason}")
    if reason:
        log.warning("pods use the host network: %s", reason)
    return not reason


def make_pod_network(mode: str, pod_cidr: str, *, state_dir: Path = DEFAULT_STATE_DIR) -> PodNetwork | None:
    """The pod network ``mode`` asks for: ``host`` -> None; ``bridge`` -> a PodNetwork or PodNetworkError
    when this host cannot; ``auto`` -> a PodNetwork when possible, else None (logged)."""
    if mode not in MODES:
        raise PodNetworkError(f"unknown pod network mode {mode!r} (want one of {', '.join(MODES)})")
    if mode == "host":
        return None
    try:
        parse_pod_cidr(pod_cidr)  # a bad CIDR is an error even when falling back
    except IPAMError as err:
        raise PodNetworkError(str(err)) from None
    reason = unavailable_reason()
    if reason:
        if mode == "bridge":
            raise PodNetworkError(f"pod network 'bridge' unavailable: {reason}")
        log.warning("pods use the host network: %s", reason)
        return None
    return PodNetwork(pod_cidr, state_dir=state_dir)
