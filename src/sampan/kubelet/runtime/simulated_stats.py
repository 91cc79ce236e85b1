"""Synthetic, deterministic resource usage for the ``simulated`` runtime's containers.

A simulated container burns a constant CPU rate and holds a constant working set from the moment it runs,
so ``kubectl top`` and the HPA see stable figures on simulated and hollow nodes. Per container, in order:

* ``sim.sampan.io/<container-name>.cpu-usage`` / ``sim.sampan.io/cpu-usage``: a CPU quantity (``250m``,
  ``1``); otherwise the container's CPU request (``resources.requests.cpu``, else its limit), else 0;
* ``sim.sampan.io/<container-name>.memory-usage`` / ``sim.sampan.io/memory-usage``: a memory quantity
  (``64Mi``); otherwise the container's memory request (else its limit), else 0.

Invariant: cumulative CPU is ``rate * milliseconds running / 1000`` on the runtime's clock, read at whole
milliseconds (the resolution of ``/metrics/resource`` timestamps, so the rate a scraper computes is exact),
never decreasing while the container lives; the node's counter adds what removed containers had used, so
it never goes back either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sampan.api.quantity import parse_or_none
from sampan.kubelet.runtime.interface import ContainerConfig, ContainerConfigError

PREFIX = "sim.sampan.io/"


@dataclass(frozen=True, slots=True)
class SyntheticUsage:
    nano_cores: int = 0
    """CPU rate in billionths of a core."""
    memory_bytes: int = 0
    """Working set (and usage) in bytes."""

    def cpu_ns(self, ms_running: int) -> int:
        """Cumulative CPU after ``ms_running`` whole milliseconds (integers: rates come out exact)."""
        return self.nano_cores * max(0, ms_running) // 1000


def _annotation(annotations: Mapping[str, str], container: str, key: str) -> str | None:
    return annotations.get(f"{PREFIX}{container}.{key}", annotations.get(f"{PREFIX}{key}"))


def usage_for(config: ContainerConfig) -> SyntheticUsage:
    """The container's synthetic usage; ContainerConfigError on an unparsable annotation."""
    res = config.resources
    cpu_milli = res.cpu_request_milli if res.cpu_request_milli is not None else 0
    memory = res.memory_request_bytes if res.memory_request_bytes is not None else (res.memory_limit_bytes or 0)
    if (text := _annotation(config.annotations, config.name, "cpu-usage")) is not None:
        q = parse_or_none(text)
        if q is None or q.milli_value() < 0:
            raise ContainerConfigError(f"bad simulated-runtime annotation on container {config.name!r}: "
                                       f"cpu-usage {text!r} is not a CPU quantity")
        cpu_milli = q.milli_value()
    if (text := _annotation(config.annotations, config.name, "memory-usage")) is not None:
        q = parse_or_none(text)
        if q is None or q.value() < 0:
            raise ContainerConfigError(f"bad simulated-runtime annotation on container {config.name!r}: "
                                       f"memory-usage {text!r} is not a memory quantity")
        memory = q.value()
    return SyntheticUsage(nano_cores=cpu_milli * 1_000_000, memory_bytes=memory)
