"""A leader-election candidate as its own process (for tests): appends "<wall time> start|stop" lines to
a file while it contends for the lease ``kube-system/test-lock``.

    python -m tests.client.leader_candidate KUBECONFIG IDENTITY OUTFILE
"""

from __future__ import annotations

import asyncio
import sys
import time

from sampan.client.dynamic import Client
from sampan.client.kubeconfig import load_kubeconfig
from sampan.client.leaderelection import LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaseLock

CONFIG = LeaderElectionConfig(lease_duration=2.0, renew_deadline=1.0, retry_period=0.2, release_on_cancel=False)


async def main(kubeconfig: str, identity: str, out: str) -> None:
    def record(what: str) -> None:
        with open(out, "a", encoding="utf-8") as f:
            f.write(f"{time.time()} {what}\n")

    async def lead() -> None:
        record("start")
        await asyncio.Event().wait()

    async with Client(load_kubeconfig(kubeconfig)) as client:
        leases = await client.resource("coordination.k8s.io/v1", "leases")
        lock = LeaseLock(leases, namespace="kube-system", name="test-lock", identity=identity)
        callbacks = LeaderCallbacks(on_started_leading=lead, on_stopped_leading=lambda: record("stop"))
        elector = LeaderElector(lock, callbacks, CONFIG)
        while True:  # after losing the lease, contend again
            await elector.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
