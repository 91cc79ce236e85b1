"""Manifests the end-to-end suite applies (``tests/e2e/test_cluster.py``), as YAML text for ``kubectl apply``.

The process runtime has no images: ``image`` is informational and every container names its ``command``.
"""

from __future__ import annotations

WEB = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: python
        # Port 0: on the host network (no per-pod network namespace) a fixed port would let only one
        # replica bind; the port each one picked is in its log.
        command: [python3, -u, -m, http.server, "0"]
        env: [{name: GREETING, value: one}]
"""

CRASHER = """apiVersion: v1
kind: Pod
metadata: {name: crasher}
spec:
  containers:
  - {name: c, image: busybox, command: [sh, -c, "echo crashing; exit 3"]}
"""

JOB = """apiVersion: batch/v1
kind: Job
metadata: {name: count}
spec:
  completions: 2
  parallelism: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - {name: count, image: busybox, command: [sh, -c, "echo counted-to-$((40 + 2))"]}
"""


GRACEFUL = """import signal, sys, time
def stop(signum, frame):
    print("got SIGTERM, cleaning up", flush=True)
    time.sleep(1)
    print("clean exit", flush=True)
    with open(sys.argv[1], "w") as f:
        f.write("clean exit")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("serving", flush=True)
while True:
    time.sleep(0.2)
"""


def evictable_deployment(replicas: int) -> str:
    tolerations = "".join(
        f"      - {{key: node.kubernetes.io/{key}, operator: Exists, effect: NoExecute, tolerationSeconds: 2}}\n"
        for key in ("unreachable", "not-ready"))
    return f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: evict}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: evict}}}}
  template:
    metadata: {{labels: {{app: evict}}}}
    spec:
      terminationGracePeriodSeconds: 1
      tolerations:
{tolerations}      containers:
      - {{name: c, image: busybox, command: [sleep, "3600"]}}
"""
