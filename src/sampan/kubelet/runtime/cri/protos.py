"""The CRI ``runtime.v1`` Python stubs, generated from ``api.proto`` on first use.

Nothing generated is committed. The first import of this module compiles ``api.proto`` (as
``sampan_cri_api.proto``) with grpcio-tools (its bundled ``protoc``, run in-process) into a cache directory
keyed by the proto file's digest and the protobuf runtime's version, then imports ``sampan_cri_api_pb2`` /
``sampan_cri_api_pb2_grpc`` from there. Later imports (any process, any checkout with the same proto)
reuse the cache. grpcio-tools is therefore a runtime dependency (it is small and ships protoc).

Cache location: ``$SAMPAN_CACHE_DIR`` or ``$XDG_CACHE_HOME/sampan`` or ``~/.cache/sampan``, then
``cri-<digest>/``. Invariant: a cache directory is complete or absent — stubs are generated into a
temporary sibling and renamed into place, so concurrent first imports (two kubelets starting) never see a
half-written directory; the loser of the rename race uses the winner's copy.

The generated modules are untyped (``Any``): :mod:`.client` converts to and from typed dataclasses.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

PROTO = Path(__file__).with_name("api.proto")
_STEM = "sampan_cri_api"
"""The generated modules' top-level names (``sampan_cri_api_pb2``, ``…_pb2_grpc``): unique, never ``api_pb2``."""


class StubGenerationError(RuntimeError):
    """grpcio-tools could not compile api.proto (missing package, bad proto)."""


def cache_root() -> Path:
    explicit = os.environ.get("SAMPAN_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "sampan"


def _digest() -> str:
    from google.protobuf import __version__ as protobuf_version

    h = hashlib.sha256(PROTO.read_bytes())
    h.update(protobuf_version.encode())
    return h.hexdigest()[:16]


def _generate(target: Path) -> None:
    try:
        from grpc_tools import protoc
    except ImportError as err:  # pragma: no cover - a broken install
        raise StubGenerationError("grpcio-tools is not installed (pip install grpcio-tools)") from err
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        shutil.copy(PROTO, tmp / f"{_STEM}.proto")
        include = Path(protoc.__file__).parent / "_proto"
        rc = protoc.main(["grpc_tools.protoc", f"-I{tmp}", f"-I{include}", f"--python_out={tmp}",
                          f"--grpc_python_out={tmp}", str(tmp / f"{_STEM}.proto")])
        if rc != 0:
            raise StubGenerationError(f"protoc failed on {PROTO} (exit {rc})")
        try:
            tmp.rename(target)
        except OSError:  # another process won the race; its copy is complete
            if not (target / f"{_STEM}_pb2_grpc.py").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _load(directory: Path, name: str) -> ModuleType:
    """Import ``directory/name.py`` as a top-level module ``name`` (the generated grpc module imports
    the messages module by that bare name)."""
    existing = sys.modules.get(name)
    if existing is not None:
        return existing
    spec = importlib.util.spec_from_file_location(name, directory / f"{name}.py")
    if spec is None or spec.loader is None:
        raise StubGenerationError(f"cannot load {directory / name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load() -> tuple[Any, Any]:
    """(the messages module, the grpc stubs module), generating them first if this proto has no cached stubs yet."""
    target = cache_root() / f"cri-{_digest()}"
    if not (target / f"{_STEM}_pb2_grpc.py").exists():
        _generate(target)
    pb2 = _load(target, f"{_STEM}_pb2")
    grpc_mod = _load(target, f"{_STEM}_pb2_grpc")
    return pb2, grpc_mod


pb, pb_grpc = load()
