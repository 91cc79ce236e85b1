"""Creating pods from a template and the slow-start batches controllers create them in.

``slow_start_batch`` runs ``count`` calls in batches of 1, 2, 4, … (upstream's ``slowStartBatch``): a
controller whose creations all fail (quota, admission) makes one failing call, not hundreds. It stops
after the first batch with a failure and returns how many succeeded and the first error.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

SLOW_START_INITIAL_BATCH = 1


def pod_from_template(template: Mapping[str, Any], *, namespace: str, generate_name: str,
                      owner_ref: dict[str, Any], extra_labels: Mapping[str, str] | None = None,
                      extra_annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A Pod body from a PodTemplateSpec, owned by ``owner_ref`` (a controller reference)."""
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), **(extra_labels or {})}
    annotations = {**(tmeta.get("annotations") or {}), **(extra_annotations or {})}
    md: dict[str, Any] = {"generateName": generate_name, "namespace": namespace, "labels": labels,
                          "ownerReferences": [owner_ref]}
    if annotations:
        md["annotations"] = annotations
    if tmeta.get("finalizers"):
        md["finalizers"] = list(tmeta["finalizers"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": copy.deepcopy(template.get("spec") or {})}


async def slow_start_batch(count: int, fn: Callable[[int], Awaitable[None]], *,
                           initial: int = SLOW_START_INITIAL_BATCH) -> tuple[int, BaseException | None]:
    """Call ``fn(i)`` for i in range(count) in doubling batches; (successes, first error)."""
    done = 0
    batch = min(count, max(1, initial))
    while done < count:
        results = await asyncio.gather(*(fn(done + i) for i in range(batch)), return_exceptions=True)
        errs = [r for r in results if isinstance(r, BaseException)]
        for r in errs:
            if isinstance(r, asyncio.CancelledError):
                raise r
        done_now = batch - len(errs)
        if errs:
            return done + done_now, errs[0]
        done += done_now
        batch = min(2 * batch, count - done)
    return done, None
