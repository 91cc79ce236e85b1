"""VolumeBinding (see the package docstring)."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sampan.scheduler.cache.volumes import VolumeCache
from sampan.scheduler.framework import events as ev
from sampan.scheduler.framework.cycle_state import CycleState
from sampan.scheduler.framework.interface import Handle, PreFilterExtensions, PreFilterResult, VolumeWriter
from sampan.scheduler.framework.node_info import NodeInfo
from sampan.scheduler.framework.pod_info import PodInfo
from sampan.scheduler.framework.status import SKIP, Status, error, unresolvable
from sampan.scheduler.plugins.volumebinding import rules

NAME = "VolumeBinding"
STATE_KEY = "PreFilter" + NAME
DEFAULT_BIND_TIMEOUT = 600.0

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(slots=True)
class Decision:
    """What binding the pod's waiting claims on one node takes: volumes to bind (with the claim each is
    for) and claims to provision there."""

    static: list[tuple[Obj, Obj]] = field(default_factory=list)
    provision: list[Obj] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    bound: list[Obj]
    """Claims already bound (their volumes' node affinity must admit the node)."""
    to_bind: list[Obj]
    """Unbound claims of WaitForFirstConsumer classes."""
    decisions: dict[str, Decision] = field(default_factory=dict)
    reserved: Decision | None = None

    def clone(self) -> _State:
        return _State(list(self.bound), list(self.to_bind), dict(self.decisions), self.reserved)


class VolumeBinding:
    name = NAME

    def __init__(self, volumes: VolumeCache | None, writer: VolumeWriter | None, *, bind_timeout: float) -> None:
        self._volumes = volumes or VolumeCache()
        self._writer = writer
        self._bind_timeout = bind_timeout

    def events_to_register(self) -> Sequence[ev.ClusterEvent]:
        return (
            ev.ClusterEvent(ev.PERSISTENT_VOLUME_CLAIM, ev.ActionType.ADD | ev.ActionType.UPDATE),
            ev.ClusterEvent(ev.PERSISTENT_VOLUME, ev.ActionType.ADD | ev.ActionType.UPDATE),
            ev.ClusterEvent(ev.STORAGE_CLASS, ev.ActionType.ADD | ev.ActionType.UPDATE),
            ev.ClusterEvent(ev.NODE, ev.ActionType.ADD | ev.ActionType.UPDATE_NODE_LABEL
                            | ev.ActionType.UPDATE_NODE_ANNOTATION),
        )

    # -- PreFilter: sort the pod's claims --------------------------------------------------------------------
    def pre_filter(self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
                   ) -> tuple[PreFilterResult | None, Status | None]:
        names = rules.pod_claim_names(pod.pod)
        if not names:
            return None, SKIP
        bound: list[Obj] = []
        to_bind: list[Obj] = []
        immediate = False
        for name in names:
            claim = self._volumes.claim(pod.namespace, name)
            if claim is None:
                return None, unresolvable(f'persistentvolumeclaim "{name}" not found')
            if (claim.get("metadata") or {}).get("deletionTimestamp"):
                return None, unresolvable(f'persistentvolumeclaim "{name}" is being deleted')
            if (claim.get("spec") or {}).get("volumeName"):
                bound.append(claim)
                continue
            class_name = rules.class_of(claim)
            sc = self._volumes.storage_class(class_name) if class_name else None
            if class_name and sc is None:
                return None, unresolvable(f'storageclass.storage.k8s.io "{class_name}" not found')
            if sc is not None and sc.get("volumeBindingMode") == rules.WAIT_FOR_FIRST_CONSUMER:
                to_bind.append(claim)
            else:
                immediate = True
        if immediate:
            return None, unresolvable(UNBOUND_IMMEDIATE)
        state.write(STATE_KEY, _State(bound, to_bind))
        return None, None

    def pre_filter_extensions(self) -> PreFilterExtensions | None:
        return None

    # -- Filter: can the claims be satisfied on this node? ------------------------------------------------
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        st: _State = state.read(STATE_KEY)
        labels, raw = node.labels, node.node
        for claim in st.bound:
            volume_name = str(claim["spec"]["volumeName"])
            pv = self._volumes.volume(volume_name)
            if pv is None:
                return unresolvable(f'persistentvolume "{volume_name}" not found')
            if not rules.volume_node_affinity_matches(pv, labels, node.name):
                return unresolvable(NODE_CONFLICT)
        if not st.to_bind:
            return None
        decision = Decision()
        taken: set[str] = set()
        volumes = list(self._volumes.volumes())
        for claim in st.to_bind:
            found = rules.find_volume_for_claim(claim, volumes, labels=labels, node_name=node.name, taken=taken)
            if found is not None:
                taken.add(str(found["metadata"]["name"]))
                decision.static.append((dict(found), claim))
                continue
            sc = self._volumes.storage_class(rules.class_of(claim))
            if sc is None or not rules.can_provision_on(sc, raw, labels=labels):
                return unresolvable(BIND_CONFLICT)
            decision.provision.append(claim)
        st.decisions[node.name] = decision
        return None

    # -- Reserve / Unreserve: assume the bindings in the cache ---------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        st: _State | None = state.get(STATE_KEY)
        if st is None or not st.to_bind:
            return None
        decision = st.decisions.get(node_name)
        if decision is None:
            return error(f"no volume decision for node {node_name!r}")
        assumed = Decision()
        for pv, claim in decision.static:
            md = claim["metadata"]
            new_pv = copy.deepcopy(pv)
            if not (new_pv.get("spec") or {}).get("claimRef"):
                new_pv["spec"]["claimRef"] = {
                    "kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": md.get("namespace"),
                    "name": md["name"], "uid": md.get("uid"), "resourceVersion": md.get("resourceVersion")}
                new_pv["metadata"]["annotations"] = {**(new_pv["metadata"].get("annotations") or {}),
                                                     rules.BOUND_BY_CONTROLLER: "yes"}
            self._volumes.assume_volume(new_pv)
            assumed.static.append((new_pv, claim))
        for claim in decision.provision:
            new_claim = copy.deepcopy(claim)
            new_claim["metadata"]["annotations"] = {**(new_claim["metadata"].get("annotations") or {}),
                                                    rules.SELECTED_NODE: node_name}
            self._volumes.assume_claim(new_claim)
            assumed.provision.append(new_claim)
        st.reserved = assumed
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        st: _State | None = state.get(STATE_KEY)
        if st is None or st.reserved is None:
            return
        for pv, _ in st.reserved.static:
            self._volumes.restore_volume(str(pv["metadata"]["name"]))
        for claim in st.reserved.provision:
            self._volumes.restore_claim(claim["metadata"].get("namespace") or "default", claim["metadata"]["name"])
        st.reserved = None

    # -- PreBind: write the bindings, wait for the PV controller (and provisioner) to complete them ---------
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        st: _State | None = state.get(STATE_KEY)
        if st is None or st.reserved is None or not (st.reserved.static or st.reserved.provision):
            return None
        if self._writer is None:
            return error("no volume writer is configured")
        reserved = st.reserved
        try:
            for pv, _claim in reserved.static:
                if (self._volumes.informer_volume(str(pv["metadata"]["name"])) or {}).get("spec", {}).get(
                        "claimRef") != pv["spec"].get("claimRef"):
                    await self._writer.bind_volume(pv)
            for claim in reserved.provision:
                await self._writer.select_node(claim, node_name)
        except Exception as exc:
            log.debug("volume binding write failed pod=%s err=%s", pod.key, exc)
            return error(f"binding volumes: {exc}")
        return await self._wait_bound(pod, st, reserved)

    async def _wait_bound(self, pod: PodInfo, st: _State, reserved: Decision) -> Status | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._bind_timeout
        provisioned = {(c["metadata"].get("namespace") or "default", c["metadata"]["name"]) for c in reserved.provision}
        while True:
            pending = 0
            for claim in st.to_bind:
                ns, name = claim["metadata"].get("namespace") or "default", claim["metadata"]["name"]
                current = self._volumes.informer_claim(ns, name)
                if current is None:
                    return error(f'persistentvolumeclaim "{name}" was deleted')
                if rules.claim_fully_bound(current):
                    if self._volumes.informer_volume(str(current["spec"]["volumeName"])) is None:
                        pending += 1
                    continue
                annotations = (current.get("metadata") or {}).get("annotations") or {}
                if (ns, name) in provisioned and annotations.get(rules.SELECTED_NODE) is None and \
                        (current.get("metadata") or {}).get("resourceVersion") != claim["metadata"].get(
                            "resourceVersion"):
                    return error(f"selectedNode annotation reset for PVC {name!r}")
                pending += 1
            if not pending:
                return None
            remaining = deadline - loop.time()
            if remaining <= 0:
                return error("binding volumes: timed out waiting for the condition")
            await self._volumes.changed(min(remaining, 1.0))


def new(args: Mapping[str, Any], handle: Handle) -> VolumeBinding:
    timeout = args.get("bindTimeoutSeconds", DEFAULT_BIND_TIMEOUT)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError("VolumeBinding: bindTimeoutSeconds must be a positive number")
    return VolumeBinding(handle.volumes, handle.volume_writer, bind_timeout=float(timeout))
