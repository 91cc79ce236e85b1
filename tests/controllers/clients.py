"""A client for controller tests: the test's kubeconfig without client-side rate limiting (the API server
is in-process; the default 5 qps would make namespace deletion take seconds)."""

from __future__ import annotations

import dataclasses

from sampan.client import Client, load_config
from tests.support.apiserver import InProcessAPIServer


def unthrottled_client(server: InProcessAPIServer) -> Client:
    return Client(dataclasses.replace(load_config(str(server.kubeconfig)), qps=0.0))
