"""One reconcile's work on a Deployment's ReplicaSets (upstream's ``sync.go``): find or create the new
ReplicaSet (syncing revision annotations), scale ReplicaSets, proportional scaling, history cleanup and
the status write. A :class:`Rollout` lives for one reconcile; every write updates its local copies, so
later decisions in the same reconcile see the sizes just written."""

from __future__ import annotations

import logging
from typing import Any

from sampan.api import errors
from sampan.client import ResourceClient
from sampan.client.record import EventRecorder
from sampan.controllers.deployment import progress
from sampan.controllers.deployment.revisions import (
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    POD_TEMPLATE_HASH,
    REVISION,
    created,
    find_new,
    max_revision,
    replicas,
    revision,
    status_int,
    template_hash,
)
from sampan.controllers.deployment.scaling import desired, fenceposts, is_rolling, proportional
from sampan.controllers.ownership import new_controller_ref

log = logging.getLogger(__name__)


class Rollout:
    """Invariants: ``new_rs`` is not in ``old_rss``; both hold the latest versions this reconcile saw."""

    def __init__(self, d: dict[str, Any], rss: list[dict[str, Any]], *, rs_client: ResourceClient,
                 deployments: ResourceClient, recorder: EventRecorder, now: float) -> None:
        self.d = d
        self.rs_client = rs_client
        self.deployments = deployments
        self.recorder = recorder
        self.now = now
        self.new_rs = find_new(d, rss)
        self.old_rss = [rs for rs in rss if rs is not self.new_rs]
        self.created_new = False

    @property
    def all_rss(self) -> list[dict[str, Any]]:
        return self.old_rss + ([self.new_rs] if self.new_rs is not None else [])

    def active(self) -> list[dict[str, Any]]:
        return [rs for rs in self.all_rss if replicas(rs) > 0]

    # ---- the new ReplicaSet -------------------------------------------------------------------------------

    async def ensure_new(self, *, create: bool) -> dict[str, Any] | None:
        """Sync the new ReplicaSet's revision (an older template coming back gets the next revision), or
        create it when ``create``."""
        next_rev = max_revision(self.old_rss) + 1
        if self.new_rs is not None:
            if revision(self.new_rs) < next_rev:
                self.new_rs = await self._annotate(self.new_rs, next_rev)
            await self._sync_deployment_revision()
            return self.new_rs
        if not create:
            return None
        d = self.d
        md = d["metadata"]
        template = (d.get("spec") or {}).get("template") or {}
        collision = (d.get("status") or {}).get("collisionCount")
        h = template_hash(template, collision)
        tmeta = dict(template.get("metadata") or {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), POD_TEMPLATE_HASH: h}
        selector = dict((d.get("spec") or {}).get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH: h}
        surge, _ = fenceposts(d)
        body: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
            "name": f"{md['name']}-{h}", "namespace": md["namespace"], "labels": dict(tmeta["labels"]),
            "annotations": {REVISION: str(next_rev), DESIRED_REPLICAS: str(desired(d)),
                            MAX_REPLICAS: str(desired(d) + surge)},
            "ownerReferences": [new_controller_ref(d, api_version="apps/v1", kind="Deployment")]},
            "spec": {"replicas": 0, "minReadySeconds": int((d.get("spec") or {}).get("minReadySeconds") or 0),
                     "selector": selector, "template": {**template, "metadata": tmeta}}}
        try:
            self.new_rs = await self.rs_client.create(body)
        except errors.AlreadyExists:
            existing = await self.rs_client.get(body["metadata"]["name"], namespace=md["namespace"])
            ref = ((existing.get("metadata") or {}).get("ownerReferences") or [{}])[0]
            if ref.get("uid") == md.get("uid"):
                self.new_rs = existing
                return existing
            status = {**(d.get("status") or {}), "collisionCount": int(collision or 0) + 1}
            await self.deployments.update_status({**d, "status": status})
            raise errors.Conflict(f"hash collision for replica set {body['metadata']['name']}") from None
        self.created_new = True
        await self._sync_deployment_revision()
        self.recorder.event(d, "Normal", "ScalingReplicaSet", f"Created new replica set {body['metadata']['name']}")
        return self.new_rs

    async def _sync_deployment_revision(self) -> None:
        """The Deployment carries its new ReplicaSet's revision annotation (``kubectl rollout`` reads it)."""
        assert self.new_rs is not None
        want = str(revision(self.new_rs))
        ann = dict(self.d["metadata"].get("annotations") or {})
        if ann.get(REVISION) == want:
            return
        ann[REVISION] = want
        self.d = await self.deployments.update({**self.d, "metadata": {**self.d["metadata"], "annotations": ann}})

    async def _annotate(self, rs: dict[str, Any], rev: int) -> dict[str, Any]:
        md = dict(rs["metadata"])
        md["annotations"] = {**(md.get("annotations") or {}), REVISION: str(rev)}
        return await self.rs_client.update({**rs, "metadata": md})

    # ---- scaling ------------------------------------------------------------------------------------------

    async def scale_rs(self, rs: dict[str, Any], size: int) -> bool:
        """Set ``rs`` to ``size`` replicas (and the desired/max annotations); True if it wrote."""
        d = self.d
        surge, _ = fenceposts(d)
        ann = dict(rs["metadata"].get("annotations") or {})
        want_ann = {DESIRED_REPLICAS: str(desired(d)), MAX_REPLICAS: str(desired(d) + surge)}
        if replicas(rs) == size and all(ann.get(k) == v for k, v in want_ann.items()):
            return False
        old_size = replicas(rs)
        body = {**rs, "metadata": {**rs["metadata"], "annotations": {**ann, **want_ann}},
                "spec": {**rs["spec"], "replicas": size}}
        updated = await self.rs_client.update(body)
        if rs is self.new_rs:
            self.new_rs = updated
        else:
            self.old_rss = [updated if o is rs else o for o in self.old_rss]
        if old_size != size:
            verb = "up" if size > old_size else "down"
            self.recorder.event(d, "Normal", "ScalingReplicaSet",
                                f"Scaled {verb} replica set {rs['metadata']['name']} from {old_size} to {size}")
        return old_size != size

    async def scale(self) -> None:
        """Resize for a changed ``spec.replicas``, proportionally across active ReplicaSets mid-rollout."""
        active = self.active()
        n = desired(self.d)
        if len(active) <= 1:
            target = active[0] if active else (self.new_rs or (max(self.old_rss, key=created)
                                                               if self.old_rss else None))
            if target is not None:
                await self.scale_rs(target, n)
            return
        new = self.new_rs
        if new is not None and replicas(new) == n and status_int(new, "availableReplicas") == n:
            for rs in list(self.old_rss):
                await self.scale_rs(rs, 0)
            return
        if is_rolling(self.d):
            ordered = sorted(active, key=lambda rs: (-replicas(rs), created(rs)))
            for rs, size in zip(ordered, proportional(self.d, ordered), strict=True):
                await self.scale_rs(rs, size)

    # ---- history and status -------------------------------------------------------------------------------

    async def cleanup(self) -> None:
        """Delete the oldest idle old ReplicaSets beyond ``revisionHistoryLimit``."""
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        idle = [rs for rs in self.old_rss if replicas(rs) == 0 and status_int(rs, "replicas") == 0
                and not rs["metadata"].get("deletionTimestamp")]
        excess = len(idle) - int(limit)
        for rs in sorted(idle, key=lambda r: (revision(r), created(r)))[:max(0, excess)]:
            try:
                await self.rs_client.delete(rs["metadata"]["name"], namespace=rs["metadata"]["namespace"])
            except errors.NotFound:
                pass
            self.old_rss = [o for o in self.old_rss if o is not rs]

    async def sync_status(self) -> float | None:
        """Write the status if it changed; seconds until the progress deadline needs checking (or None)."""
        status = progress.calculate_status(self.d, self.all_rss, self.new_rs, now=self.now)
        progress.paused_condition(self.d, status, self.now)
        requeue = progress.update_progressing(self.d, status, self.new_rs, now=self.now,
                                              created_new=self.created_new)
        if status != (self.d.get("status") or {}):
            self.d = await self.deployments.update_status({**self.d, "status": status})
        return requeue
