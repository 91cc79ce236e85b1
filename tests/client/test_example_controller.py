"""The example controller in examples/ works against a real API server, including repairs."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from sampan.api import errors
from sampan.client.dynamic import Client
from sampan.client.kubeconfig import load_kubeconfig
from tests.support.apiserver import InProcessAPIServer

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "namespace_greeter.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("namespace_greeter", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def wait_for_greeting(cms: object, namespace: str, message: str) -> None:
    for _ in range(500):
        try:
            cm = await cms.get("greeting", namespace=namespace)  # type: ignore[attr-defined]
            if cm.get("data") == {"message": message}:
                return
        except errors.NotFound:
            pass
        await asyncio.sleep(0.02)
    raise AssertionError(f"no greeting in {namespace}")


async def test_greeter_creates_and_repairs_greetings(inproc_apiserver: InProcessAPIServer) -> None:
    example = load_example()
    async with Client(load_kubeconfig(str(inproc_apiserver.kubeconfig))) as client:
        greeter = example.Greeter(client)
        task = asyncio.create_task(greeter.run())
        try:
            cms = await client.resource("v1", "configmaps")
            namespaces = await client.resource("v1", "namespaces")
            await wait_for_greeting(cms, "default", "hello, default!")
            await namespaces.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
            await wait_for_greeting(cms, "team-a", "hello, team-a!")
            cm = await cms.get("greeting", namespace="team-a")
            await cms.update({**cm, "data": {"message": "vandalized"}})
            await wait_for_greeting(cms, "team-a", "hello, team-a!")
            await cms.delete("greeting", namespace="team-a")
            await wait_for_greeting(cms, "team-a", "hello, team-a!")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
