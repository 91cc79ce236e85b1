"""The official ``kubernetes`` Python client bound to a real ``sampan apiserver`` subprocess.

``official_client(workdir)`` is a context manager yielding a ``kubernetes.client.ApiClient`` configured
from the server's kubeconfig (the same loading path users take), plus the server handle. Tests that
check what a real client sees use it instead of hand-written HTTP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.apiserver import APIServerHandle, run_apiserver_process


@contextlib.contextmanager
def official_client(workdir: Path, *, storage: str = "sqlite") -> Iterator[tuple[Any, APIServerHandle]]:
    from kubernetes import config as kconfig

    with run_apiserver_process(workdir, storage=storage) as handle:
        client = kconfig.new_client_from_config(config_file=str(handle.kubeconfig))
        try:
            yield client, handle
        finally:
            client.close()
