"""What one pod's life costs the API server in requests, for ``bench/density.py``.

- :func:`per_pod` divides the API server's own request counts (``apiserver_request_duration_seconds``
  counts, over the whole run) by the number of pods: PATCHes of ``pods/status``, event writes, controller
  status updates per pod, to compare with what upstream's components send.
- :func:`event_summary` groups the Events stored in a namespace by (reporting component, reason): how
  many Event objects were written and the sum of their ``count`` (an aggregated or deduplicated event is
  one object with ``count`` > 1; an event dropped by a spam filter is in neither).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sampan.client import Client

PER_POD_KEYS = ("POST pods", "POST pods/binding", "PATCH pods/status", "PUT pods/status", "POST events",
                "PUT events", "PATCH events", "DELETE pods", "GET pods", "PUT replicasets/status",
                "PUT deployments/status", "GET replicasets")


def per_pod(api: dict[str, dict[str, float]], pods: int) -> dict[str, float]:
    """Requests per pod by ``VERB resource[/sub]`` (only the pod-life keys the server saw)."""
    return {key: api[key]["count"] / pods for key in PER_POD_KEYS if key in api and pods}


async def event_summary(client: Client, namespace: str) -> dict[str, dict[str, int]]:
    """``{"component reason": {"objects": n, "count": sum of count}}`` of the Events in ``namespace``."""
    events = await client.resource("v1", "events")
    listed = await events.list_all(namespace=namespace, page_size=2000)
    objects: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for ev in listed.get("items") or []:
        component = ev.get("reportingComponent") or (ev.get("source") or {}).get("component") or "?"
        key = f"{component} {ev.get('reason', '')}"
        objects[key] += 1
        counts[key] += int(ev.get("count") or 1)
    return {key: {"objects": objects[key], "count": counts[key]} for key in objects}


def report(result: dict[str, Any]) -> None:
    """Print the per-pod request counts and the event summary of a density result (when present)."""
    pods = int(result.get("pods", 0)) + int(result.get("latency_pods", 0))
    per = result.get("per_pod") or {}
    if per:
        print(f"requests per pod over its life (server counts / {pods} pods):")
        for key, value in per.items():
            print(f"  {key:<28} {value:6.2f}")
    summary = result.get("events") or {}
    if summary:
        print("events in the namespace before the delete phase (component reason: Event objects, sum of count):")
        for key, v in sorted(summary.items(), key=lambda kv: -kv[1]["objects"]):
            print(f"  {key:<40} {v['objects']:>8} {v['count']:>8}")
