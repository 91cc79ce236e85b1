"""The ``sampan`` sub-commands: one module of ``sampan.cli`` each, exposing ``register(subparsers)``.

A new component adds its module name to :data:`MODULES` and its sub-command names to :data:`COMMANDS`.
Modules are imported only when the parser is built, and a command line naming one sub-command imports only
that sub-command's module (:func:`registrars_for`). Invariant: a command module's top level imports only
what its ``register`` needs (argparse, constants); the component itself is imported inside the handler,
so building the parser — and starting any one component — stays cheap.
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
    "containerd",
    "dns",
    "proxy",
    "metrics_server",
    "kubeconfig",
    "up",
    "down",
    "backup",
    "trace",
    "dashboard",
    "image",
    "token",
)

#: Sub-command name -> the module of :data:`MODULES` that registers it.
COMMANDS: dict[str, str] = {
    "apiserver": "apiserver",
    "scheduler": "scheduler",
    "controller-manager": "controller_manager",
    "kubelet": "kubelet",
    "containerd": "containerd",
    "dns": "dns",
    "proxy": "proxy",
    "metrics-server": "metrics_server",
    "kubeconfig": "kubeconfig",
    "token": "token",
    "up": "up",
    "down": "down",
    "status": "down",
    "etcd": "backup",
    "backup": "backup",
    "restore": "backup",
    "trace": "trace",
    "dashboard": "dashboard",
    "image": "image",
}


def registrars() -> Iterator[Register]:
    for name in MODULES:
        module = importlib.import_module(f"sampan.cli.{name}")
        yield module.register


def registrars_for(command: str | None) -> Iterator[Register]:
    """The registrar of ``command`` alone when it is a known sub-command, else every registrar (for
    ``--help``, a typo's "invalid choice" message, or no command at all)."""
    module = COMMANDS.get(command or "")
    if module is None:
        yield from registrars()
        return
    yield importlib.import_module(f"sampan.cli.{module}").register
