"""Protobuf codec benchmark: encode and decode of a full Pod (and a Deployment, a PodList of 100 pods),
next to orjson's JSON encode/decode of the same object for scale.

    .venv/bin/python bench/protobuf_codec.py [--seconds 1.0]

Prints operations per second, microseconds per operation, body sizes and the protobuf/JSON time ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests.api.protobuf.objects import DEPLOYMENT, POD

from sampan.api import protobuf as pb


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    """Operations per second of ``fn`` over about ``seconds``."""
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(20):
            fn()
        n += 20
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    pod_list = {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                "items": [{k: v for k, v in POD.items() if k not in ("kind", "apiVersion")}] * 100}
    print(f"{'object':<12}{'op':<8}{'pb bytes':>9}{'json bytes':>11}{'pb us/op':>10}{'pb ops/s':>10}"
          f"{'json us/op':>11}{'pb/json':>8}")
    for name, obj in (("Pod", POD), ("Deployment", DEPLOYMENT), ("PodList100", pod_list)):
        body, text = pb.encode(obj), orjson.dumps(obj)
        for op, pb_fn, json_fn in (
            ("encode", lambda o=obj: pb.encode(o), lambda o=obj: orjson.dumps(o)),
            ("decode", lambda b=body: pb.decode(b), lambda t=text: orjson.loads(t)),
        ):
            seconds = args.seconds if name != "PodList100" else args.seconds * 2
            pb_rate, json_rate = _rate(pb_fn, seconds), _rate(json_fn, seconds / 4)
            print(f"{name:<12}{op:<8}{len(body):>9}{len(text):>11}{1e6 / pb_rate:>10.1f}{pb_rate:>10.0f}"
                  f"{1e6 / json_rate:>11.1f}{json_rate / pb_rate:>8.0f}x")


if __name__ == "__main__":
    main()
