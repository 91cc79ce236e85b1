"""The list of sub-commands. A new component adds its ``register`` function here."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _apiserver(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from sampan.cli import apiserver

    apiserver.register(sub)


def _kubeconfig(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from sampan.cli import kubeconfig

    kubeconfig.register(sub)


REGISTRY: list[Register] = [_apiserver, _kubeconfig]
