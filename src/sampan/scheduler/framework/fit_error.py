"""FitError: why a pod fits no node, worded exactly as upstream.

``message`` gives "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {k: v}."
followed by the PostFilter message (" preemption: …."): each reason of each node's status is counted,
the "<count> <reason>" strings are sorted, joined with ", ". When PreFilter rejected the pod, its message
replaces the per-node histogram (every node would carry the same status).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import Status


@dataclass
class Diagnosis:
    node_to_status: dict[str, Status] = field(default_factory=dict)
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    pre_filter_msg: str = ""
    post_filter_msg: str = ""


class FitError(Exception):
    def __init__(self, pod: PodInfo, num_all_nodes: int, diagnosis: Diagnosis) -> None:
        self.pod = pod
        self.num_all_nodes = num_all_nodes
        self.diagnosis = diagnosis
        super().__init__()

    def __str__(self) -> str:
        return self.message

    @property
    def message(self) -> str:
        return fit_message(self.num_all_nodes, self.diagnosis)


def fit_message(num_all_nodes: int, d: Diagnosis) -> str:
    msg = f"0/{num_all_nodes} nodes are available:"
    if d.pre_filter_msg:
        msg += f" {d.pre_filter_msg}."
    else:
        counts: Counter[str] = Counter()
        for st in d.node_to_status.values():
            counts.update(st.reasons)
        parts = sorted(f"{n} {reason}" for reason, n in counts.items())
        if parts:
            msg += f" {', '.join(parts)}."
    if d.post_filter_msg:
        msg += f" {d.post_filter_msg}."
    return msg
