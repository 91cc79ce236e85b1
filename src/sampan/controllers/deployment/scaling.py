"""How many pods each ReplicaSet of a Deployment may have: maxSurge/maxUnavailable (counts or
percentages), the new ReplicaSet's next size in a rolling update, and proportional scaling of several
active ReplicaSets when the Deployment is resized mid-rollout."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sampan.controllers.deployment.revisions import DESIRED_REPLICAS, MAX_REPLICAS, replicas


def desired(deployment: Mapping[str, Any]) -> int:
    value = (deployment.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString: an int as is, ``"25%"`` of ``total`` rounded up or down. ValueError when malformed."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        pct = int(text[:-1])
        exact = pct * total / 100
        return math.ceil(exact) if round_up else math.floor(exact)
    return int(text)


def is_rolling(deployment: Mapping[str, Any]) -> bool:
    return ((deployment.get("spec") or {}).get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def fenceposts(deployment: Mapping[str, Any]) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) in pods; both 0 would stall a rollout, so maxUnavailable becomes 1."""
    if not is_rolling(deployment):
        return 0, 0
    ru = ((deployment.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    n = desired(deployment)
    surge = scaled_value(ru.get("maxSurge", "25%"), n, round_up=True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), n, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, n)


def new_rs_replicas(deployment: Mapping[str, Any], all_rss: Sequence[Mapping[str, Any]],
                    new_rs: Mapping[str, Any]) -> int:
    """The new ReplicaSet's next size: grow as far as maxSurge allows (Recreate: straight to desired)."""
    n = desired(deployment)
    if not is_rolling(deployment):
        return n
    surge, _ = fenceposts(deployment)
    current = sum(replicas(rs) for rs in all_rss)
    room = n + surge - current
    if room <= 0:
        return replicas(new_rs)
    return replicas(new_rs) + min(room, max(0, n - replicas(new_rs)))


def is_scaling_event(deployment: Mapping[str, Any], active: Sequence[Mapping[str, Any]]) -> bool:
    """An active ReplicaSet was sized for a different ``spec.replicas``: the Deployment was resized."""
    n = str(desired(deployment))
    for rs in active:
        value = ((rs.get("metadata") or {}).get("annotations") or {}).get(DESIRED_REPLICAS)
        if value is not None and value != n:
            return True
    return False


def _fraction(deployment: Mapping[str, Any], rs: Mapping[str, Any], allowed: int) -> int:
    """How much ``rs`` grows (or shrinks) to keep its share: its size times allowed / the total it was
    sized for (its max-replicas annotation; the Deployment's status.replicas when missing)."""
    raw = ((rs.get("metadata") or {}).get("annotations") or {}).get(MAX_REPLICAS)
    try:
        sized_for = int(raw) if raw is not None else int((deployment.get("status") or {}).get("replicas") or 0)
    except ValueError:
        sized_for = int((deployment.get("status") or {}).get("replicas") or 0)
    if sized_for <= 0:
        return 0
    return math.floor(replicas(rs) * allowed / sized_for + 0.5) - replicas(rs)  # half away from zero


def proportional(deployment: Mapping[str, Any], active: Sequence[Mapping[str, Any]]) -> list[int]:
    """New sizes for ``active`` ReplicaSets (ordered largest first; the first gets the rounding leftover)
    so their total is ``replicas + maxSurge`` (rolling) and each keeps its share of what it was sized for.
    Sized from each ReplicaSet's max-replicas annotation, so a resize interrupted half-way (some
    ReplicaSets already resized) finishes without skewing the shares (upstream's ``GetProportion``)."""
    surge, _ = fenceposts(deployment)
    allowed = desired(deployment) + (surge if is_rolling(deployment) else 0)
    total = sum(replicas(rs) for rs in active)
    to_add = allowed - total
    out = [replicas(rs) for rs in active]
    added = 0
    for i, rs in enumerate(active):
        if to_add == 0 or added == to_add:
            break
        part = _fraction(deployment, rs, allowed)
        part = min(part, to_add - added) if to_add > 0 else max(part, to_add - added)
        out[i] = max(0, out[i] + part)
        added += part
    if out and added != to_add:
        out[0] = max(0, out[0] + to_add - added)
    return out
