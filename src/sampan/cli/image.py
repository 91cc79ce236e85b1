"""``sampan image load|ls|rm``: images of a node's container runtime (containerd), like ``kind load
image-archive`` and ``crictl images``/``rmi``.

Which containerd: ``--address SOCKET`` names one; otherwise the nodes are read from the API server
(``--kubeconfig``, else ``<--data-dir>/kubeconfig`` of a ``sampan up`` cluster, else the usual
kubeconfig) and each node's ``kubeadm.alpha.kubernetes.io/cri-socket`` annotation (set by a kubelet whose
runtime has a CRI endpoint) gives its socket; ``--node NAME`` picks one node, default all of them (nodes
sharing one containerd are handled once). Errors are one line, exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def _kubeconfig(args: argparse.Namespace) -> str | None:
    if args.kubeconfig:
        return str(args.kubeconfig)
    cluster = Path(args.data_dir) / "kubeconfig"
    return str(cluster) if cluster.exists() else None


async def _node_sockets(kubeconfig: str | None, node: str) -> list[tuple[str, str]]:
    from sampan.api import errors
    from sampan.client import Client, load_config
    from sampan.kubelet.node_status import CRI_SOCKET_ANNOTATION

    async with Client(load_config(kubeconfig)) as client:
        nodes = await client.resource("v1", "nodes")
        try:
            items = [await nodes.get(node)] if node else (await nodes.list_all()).get("items") or []
        except errors.NotFound:
            raise ValueError(f"node {node!r} not found") from None
        except errors.APIError as err:
            raise ValueError(f"cannot read nodes: {err}") from None
    out = []
    for item in items:
        md = item.get("metadata") or {}
        endpoint = (md.get("annotations") or {}).get(CRI_SOCKET_ANNOTATION)
        if endpoint:
            out.append((str(md.get("name", "")), str(endpoint)))
        elif node:
            raise ValueError(f"node {node!r} has no CRI endpoint ({CRI_SOCKET_ANNOTATION}); its runtime has no "
                             "images (--runtime process or simulated)")
    if not out:
        raise ValueError(f"no node has a CRI endpoint ({CRI_SOCKET_ANNOTATION}); start nodes with --runtime "
                         "containerd, or give --address")
    return out


def _targets(args: argparse.Namespace) -> list[tuple[list[str], str]]:
    """(node names, socket path) per distinct containerd."""
    from sampan.cli.image_store import ImageStoreError, socket_path

    try:
        if args.address:
            return [([f"containerd at {socket_path(args.address)}"], socket_path(args.address))]
        pairs = asyncio.run(_node_sockets(_kubeconfig(args), args.node))
        by_socket: dict[str, list[str]] = {}
        for name, endpoint in pairs:
            by_socket.setdefault(socket_path(endpoint), []).append(name)
    except ImageStoreError as err:
        raise ValueError(str(err)) from None
    return [(names, sock) for sock, names in by_socket.items()]


def _load(args: argparse.Namespace) -> int:
    from sampan.cli.image_store import ImageStore, ImageStoreError, archive_kind

    archive = Path(args.file)
    try:
        archive_kind(archive)  # bad input fails before any API call
        for names, sock in _targets(args):
            loaded = ImageStore(sock).load(archive)
            print(f"loaded {', '.join(loaded) or '(unnamed image)'} into {', '.join(names)}")
    except ImageStoreError as err:
        raise ValueError(str(err)) from None
    return 0


def _ls(args: argparse.Namespace) -> int:
    from sampan.cli.image_store import ImageStore, ImageStoreError, tagged

    rows: list[tuple[str, str, str, str]] = []
    try:
        for names, sock in _targets(args):
            for image in tagged(ImageStore(sock).images()):
                rows.extend((name, image.ref, image.digest.removeprefix("sha256:")[:12], image.size) for name in names)
    except ImageStoreError as err:
        raise ValueError(str(err)) from None
    header = ("NODE", "IMAGE", "DIGEST", "SIZE")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *sorted(rows)]:
        print("   ".join(col.ljust(w) for col, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _rm(args: argparse.Namespace) -> int:
    from sampan.cli.image_store import ImageStore, ImageStoreError

    try:
        for names, sock in _targets(args):
            store = ImageStore(sock)
            for image in args.images:
                for ref in store.remove(image):
                    print(f"Deleted: {ref} ({', '.join(names)})")
    except ImageStoreError as err:
        raise ValueError(str(err)) from None
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("image", help="images of a node's container runtime: load, ls, rm")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--node", default="", help="only this node (default: every node with a CRI endpoint)")
        q.add_argument("--address", default="", help="a containerd socket to use instead of the nodes' "
                       "(unix:///path or /path)")
        q.add_argument("--kubeconfig", default="",
                       help="kubeconfig of the cluster (default: <data-dir>/kubeconfig, else the usual one)")
        q.add_argument("--data-dir", default=".sampan", help="a sampan up cluster's data dir (default .sampan)")

    load = verbs.add_parser("load", help="load an OCI or docker image archive (like kind load image-archive)")
    load.add_argument("file", metavar="FILE.tar")
    common(load)
    load.set_defaults(handler=_load)
    ls = verbs.add_parser("ls", help="list the images of the nodes' runtimes")
    common(ls)
    ls.set_defaults(handler=_ls)
    rm = verbs.add_parser("rm", help="remove images (every ref to the same image) from the nodes' runtimes")
    rm.add_argument("images", nargs="+", metavar="IMAGE")
    common(rm)
    rm.set_defaults(handler=_rm)
