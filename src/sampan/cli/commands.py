"""The ``sampan`` sub-commands: one module of ``sampan.cli`` each, exposing ``register(subparsers)``.

A new component adds its module name here; modules are imported only when the parser is built.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]

MODULES: tuple[str, ...] = (
    "apiserver",
    "scheduler",
    "controller_manager",
    "kubelet",
    "kubeconfig",
    "up",
    "down",
)


def registrars() -> Iterator[Register]:
    for name in MODULES:
        module = importlib.import_module(f"sampan.cli.{name}")
        yield module.register
