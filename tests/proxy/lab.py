"""A small network lab for kube-proxy integration tests (root only; run under
``flock /tmp/sampan-net.lock``): a bridge ``sampanpt0`` (100.127.240.1/24) standing for a node's pod
bridge, endpoint namespaces ``sampan-pte<i>`` each running a tiny HTTP server that answers with its own
name, and a client namespace ``sampan-ptc`` (a "pod" on the same node). Virtual IPs come from test-only
ranges (services 100.124.0.0/16, load balancers 100.127.241.0/24) routed to the test dummy ``sampanvt0``;
nothing here is reachable from or leaves the machine. ``close`` removes every object it made.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BRIDGE = "sampanpt0"
GATEWAY = "100.127.240.1"
SUBNET_PREFIX = "100.127.240."
CLIENT_NS = "sampan-ptc"
CLIENT_IP = "100.127.240.200"
SERVICE_CIDR = "100.124.0.0/16"
LB_RANGE = "100.127.241.0/24"
VIP_DEVICE = "sampanvt0"
NODE = "sampan-test-n1"
TABLE = f"sampan-proxy-{NODE}"

SERVER = r"""
import http.server, sys
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = name.encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), H).serve_forever()
"""

CLIENT = r"""
import sys, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            print(r.read().decode())
    except Exception as e:
        print("ERR " + type(e).__name__)
"""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def skip_reason() -> str:
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("ip", "nft"):
        if subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True).returncode:
            return f"{tool} is not installed"
    return ""


def http_get(url: str, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return str(r.read().decode())


def connect_error(host: str, port: int, timeout: float = 3.0) -> str:
    """"" when a TCP connection succeeds, else the error's class name (ConnectionRefusedError, TimeoutError…)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return ""
    except OSError as e:
        return type(e).__name__


@dataclass
class Lab:
    workdir: Path
    endpoints: dict[str, str] = field(default_factory=dict)
    """Endpoint name -> IP."""
    _servers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _namespaces: list[str] = field(default_factory=list)

    def open(self) -> Lab:
        self.close_network()
        ip("link", "add", BRIDGE, "type", "bridge")
        ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        ip("link", "set", BRIDGE, "up")
        self._namespace(CLIENT_NS, CLIENT_IP)
        return self

    def _namespace(self, ns: str, address: str) -> None:
        veth = "v" + ns.replace("sampan-", "sp")[:12]
        ip("netns", "add", ns)
        self._namespaces.append(ns)
        ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
        ip("link", "set", veth, "master", BRIDGE, "up")
        for cmd in (("link", "set", "lo", "up"), ("addr", "add", f"{address}/24", "dev", "eth0"),
                    ("link", "set", "eth0", "up"), ("route", "add", "default", "via", GATEWAY)):
            ip("-n", ns, *cmd)

    def add_endpoint(self, index: int, port: int = 8080) -> str:
        """Start endpoint ``e<index>`` (namespace, address 100.127.240.<10+index>, HTTP server); its IP."""
        name, address = f"e{index}", f"{SUBNET_PREFIX}{10 + index}"
        ns = f"sampan-pte{index}"
        self._namespace(ns, address)
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
        self._servers.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, name,
                                               str(port)], stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if http_get(f"http://{address}:{port}/", timeout=1) == name:
                    break
            except (OSError, urllib.error.URLError):
                time.sleep(0.05)
        self.endpoints[name] = address
        return address

    def from_client(self, url: str, count: int) -> list[str]:
        """``count`` GETs of ``url`` from the client namespace (a pod on this node): each body or ``ERR …``."""
        out = subprocess.run(["ip", "netns", "exec", CLIENT_NS, sys.executable, "-c", CLIENT, url, str(count)],
                             capture_output=True, text=True, timeout=120)
        return out.stdout.split()

    def close_network(self) -> None:
        for ns in [*self._namespaces, CLIENT_NS, *(f"sampan-pte{i}" for i in range(10))]:
            if os.path.exists(f"/run/netns/{ns}"):
                ip("netns", "del", ns, check=False)
        self._namespaces.clear()
        ip("link", "del", BRIDGE, check=False)

    def close(self) -> None:
        for p in self._servers:
            p.kill()
            p.wait()
        self._servers.clear()
        # the servers run as children of `ip netns exec`; killing that process kills python (exec'd)
        self.close_network()


def leftovers() -> list[str]:
    """Kernel objects of the proxy under test still present."""
    out = []
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    out += [line for line in tables.splitlines() if "sampan-proxy-sampan-test" in line]
    routes = ip("route", "show", check=False).stdout
    out += [line for line in routes.splitlines() if VIP_DEVICE in line]
    if os.path.exists(f"/sys/class/net/{VIP_DEVICE}"):
        out.append(VIP_DEVICE)
    return out


def routed_locally(address: str) -> bool:
    """Whether ``address`` is routed to the test VIP device (check before sending anything to a VIP: an
    unrouted VIP would leave by the default route)."""
    out = ip("route", "get", address, check=False).stdout
    return f"dev {VIP_DEVICE}" in out


def wait_routed(address: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not routed_locally(address):
        if time.monotonic() > deadline:
            raise AssertionError(f"{address} is not routed to {VIP_DEVICE}: refusing to send traffic to it")
        time.sleep(0.05)
