"""How many pods a Job wants active, which completion indexes they get, and creating them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sampan.client import ResourceClient
from sampan.controllers.job.status import COMPLETION_INDEX, parse_indexes, pod_index
from sampan.controllers.ownership import new_controller_ref
from sampan.controllers.podcontrol import pod_from_template, slow_start_batch


def wanted(spec: Mapping[str, Any], active: list[dict[str, Any]], succeeded: list[dict[str, Any]],
           status: Mapping[str, Any]) -> tuple[int, list[int]]:
    """(active pods wanted, indexes to start for an Indexed Job)."""
    raw = spec.get("parallelism")
    parallelism = 1 if raw is None else int(raw)
    completions = spec.get("completions")
    done = int(status.get("succeeded") or 0)
    if spec.get("completionMode") == "Indexed" and completions is not None:
        taken = {pod_index(p) for p in active} | {pod_index(p) for p in succeeded}
        taken |= parse_indexes(status.get("completedIndexes"))
        free = [i for i in range(int(completions)) if i not in taken]
        want = min(parallelism, len(active) + len(free))
        return want, free[: max(0, want - len(active))]
    if completions is None:
        return (len(active) if done > 0 else parallelism), []
    return min(parallelism, max(0, int(completions) - done)), []


async def create_pods(job: dict[str, Any], pods: ResourceClient, count: int,
                      indexes: list[int]) -> tuple[int, BaseException | None]:
    """Create ``count`` pods for ``job`` in slow-start batches (indexes[i] for the i-th when Indexed)."""
    md = job["metadata"]
    template = (job.get("spec") or {}).get("template") or {}
    ref = new_controller_ref(job, api_version="batch/v1", kind="Job")

    async def create(i: int) -> None:
        if indexes:
            index = indexes[i]
            body = pod_from_template(template, namespace=md["namespace"], generate_name=f"{md['name']}-{index}-",
                                     owner_ref=ref, extra_labels={COMPLETION_INDEX: str(index)},
                                     extra_annotations={COMPLETION_INDEX: str(index)})
            spec = body["spec"]
            spec.setdefault("hostname", f"{md['name']}-{index}")
            for c in spec.get("containers") or []:
                c["env"] = [*copy.deepcopy(c.get("env") or []), {"name": "JOB_COMPLETION_INDEX", "value": str(index)}]
        else:
            body = pod_from_template(template, namespace=md["namespace"], generate_name=f"{md['name']}-",
                                     owner_ref=ref)
        await pods.create(body)

    return await slow_start_batch(count, create)
