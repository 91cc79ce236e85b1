"""Pod admission: does a pod bound to this node fit next to the pods already admitted?

As upstream's kubelet predicate admit handler (``noderesources.Fits``): for every resource the pod
requests, ``requested + used <= allocatable``; ``pods`` counts one per pod. A rejected pod is not run;
the kubelet reports it ``Failed`` with reason ``OutOf<resource>`` and upstream's message
(``Pod was rejected: Node didn't have enough resource: cpu, requested: 1500, used: 1000, capacity: 2000``
— CPU in millicores, everything else in its unit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sampan.api.podresources import pod_requests
from sampan.api.quantity import Quantity, parse_or_none


@dataclass(frozen=True, slots=True)
class Admission:
    admitted: bool
    reason: str = ""
    message: str = ""


def _amount(name: str, q: Quantity) -> int:
    return q.milli_value() if name == "cpu" else q.value()


def admit(
    pod: Mapping[str, Any], *, allocatable: Mapping[str, str], admitted: Iterable[Mapping[str, Any]],
    requests_of: Callable[[Mapping[str, Any]], Mapping[str, Quantity]] = pod_requests,
) -> Admission:
    """Whether ``pod`` fits; ``admitted`` are the node's other non-terminal pods; ``requests_of`` gives a
    pod's requests (a memoizing one keeps admitting 110 pods at once from costing 110² parses)."""
    others = list(admitted)
    alloc = {k: q for k, v in allocatable.items() if (q := parse_or_none(v)) is not None}
    if "pods" in alloc and len(others) + 1 > alloc["pods"].value():
        return Admission(False, "OutOfpods", f"Pod was rejected: Node didn't have enough resource: pods, "
                                             f"requested: 1, used: {len(others)}, capacity: {alloc['pods'].value()}")
    used: dict[str, int] = {}
    for other in others:
        for name, q in requests_of(other).items():
            used[name] = used.get(name, 0) + _amount(name, q)
    for name, q in sorted(pod_requests(pod).items()):
        want = _amount(name, q)
        if want == 0:
            continue
        cap = _amount(name, alloc[name]) if name in alloc else 0
        if want + used.get(name, 0) > cap:
            return Admission(False, f"OutOf{name}", f"Pod was rejected: Node didn't have enough resource: {name}, "
                                                    f"requested: {want}, used: {used.get(name, 0)}, capacity: {cap}")
    return Admission(True)


def rejected_status(admission: Admission) -> dict[str, Any]:
    """The status written for a rejected pod."""
    return {"phase": "Failed", "reason": admission.reason, "message": admission.message}
