"""Backups of a cluster's store: ``sampan etcd snapshot save|restore`` and ``sampan backup|restore`` (SQLite).

``sampan etcd snapshot save FILE``: etcd's snapshot API (Maintenance/Snapshot, through Debian's ``etcdctl``,
which also checks the file's hash) against one member of the cluster in ``--data-dir`` (the first that
answers) or ``--endpoint``. The snapshot is one consistent revision of the whole keyspace while writes go on.

``sampan etcd snapshot restore FILE --data-dir NEW [--control-plane-nodes N]``: lay out a new cluster's etcd
data from the snapshot (``etcdctl snapshot restore`` per member, fresh cluster identity), so that
``sampan up --data-dir NEW --storage etcd [--control-plane-nodes N]`` starts on it. N = 1 fills the stacked
etcd static pod's directory (``<data-dir>/etcd``, member named after the first node); N > 1 the members of
:mod:`sampan.cli.ha_plane` (their ports are chosen now and kept in ``control-plane.json``).

``sampan backup FILE`` copies ``<data-dir>/state.db`` with SQLite's online backup API in one step: the copy
is the database as of one read transaction (WAL readers never block writers, nor writers them), so it
holds every write committed before the backup began and none half-done; it is checked with
``PRAGMA integrity_check`` before it is renamed into place. ``sampan restore FILE`` refuses while
``sampan up`` runs on the data dir, checks FILE the same way and copies it over ``state.db`` with the same
API (its WAL included).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sampan.cli.layout import ClusterLayout

STORE_FILE = "state.db"


def _etcdctl() -> str:
    tool = shutil.which("etcdctl")
    if tool is None:
        raise ValueError("`etcdctl` is not on PATH (Debian: apt-get install etcd-client)")
    return tool


def _run_etcdctl(*argv: str) -> None:
    result = subprocess.run([_etcdctl(), *argv], env={**os.environ, "ETCDCTL_API": "3"},
                            capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise ValueError(f"etcdctl {argv[0]} {argv[1] if len(argv) > 1 else ''} failed: "
                         f"{lines[-1] if lines else 'exit code ' + str(result.returncode)}")


def cluster_etcd_endpoints(data_dir: Path) -> list[str]:
    """The etcd client URLs of the cluster in ``data_dir``: its replicated members, or its stacked etcd."""
    from sampan.cli.ha_plane import read_plan

    plan = read_plan(data_dir)
    if plan is not None:
        return [u for u in plan.etcd_servers.split(",") if u]
    manifest = data_dir / "manifests" / "sampan-etcd.yaml"
    try:
        command = json.loads(manifest.read_text())["spec"]["containers"][0]["command"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return []
    return [a.split("=", 1)[1] for a in command if a.startswith("--advertise-client-urls=")]


def etcdctl_tls_args(data_dir: Path) -> list[str]:
    """etcdctl's ``--cacert/--cert/--key`` (the health-check client's) when the cluster's etcd is TLS."""
    from sampan.cli.ha_plane import read_plan
    from sampan.cli.pki import ClusterPKI

    plan = read_plan(data_dir)
    if plan is None or not plan.tls:
        return []
    ca, cert, key = ClusterPKI(data_dir).etcd_client("healthcheck-client")
    return [f"--cacert={ca}", f"--cert={cert}", f"--key={key}"]


def snapshot_save(target: Path, *, endpoints: list[str], tls_args: list[str] | None = None) -> str:
    """Save a snapshot from the first endpoint that gives one; which one it was."""
    if not endpoints:
        raise ValueError("no etcd endpoint: pass --endpoint, or --data-dir of a cluster that runs etcd")
    errors = []
    target.parent.mkdir(parents=True, exist_ok=True)
    for url in endpoints:
        try:
            _run_etcdctl("snapshot", "save", str(target), f"--endpoints={url}", "--command-timeout=60s",
                         *(tls_args or []))
            return url
        except ValueError as err:
            errors.append(str(err))
    raise ValueError(errors[-1])


def snapshot_restore(snapshot: Path, *, data_dir: Path, control_plane_nodes: int) -> list[Path]:
    """Restore ``snapshot`` into the etcd directories of a new cluster in ``data_dir``; the directories."""
    from sampan.cli import ha_plane
    from sampan.cli.up import node_names

    if not snapshot.is_file():
        raise ValueError(f"no snapshot at {snapshot}")
    if ClusterLayout(data_dir).running_pid() is not None:
        raise ValueError(f"a cluster is running in {data_dir}; stop it with `sampan down` first")
    if (data_dir / "etcd").exists():
        raise ValueError(f"{data_dir / 'etcd'} exists; restore into a new data dir")
    if control_plane_nodes < 1:
        raise ValueError("--control-plane-nodes must be at least 1")
    data_dir.mkdir(parents=True, exist_ok=True)
    if control_plane_nodes == 1:
        name, peer = node_names(1)[0], "http://127.0.0.1:2380"
        members = [(name, peer, data_dir / "etcd")]
        cluster = f"{name}={peer}"
    else:
        # secure by default, as a new cluster: members over TLS with etcd's own CA in the new data dir
        plan = ha_plane.ControlPlanePlan(control_plane_nodes, ha_plane.new_members(control_plane_nodes, tls=True))
        ha_plane.save_plan(data_dir, plan)
        from sampan.cli.pki import ClusterPKI

        ClusterPKI(data_dir).ensure_etcd()
        members = [(m.name, m.peer_url, ha_plane.member_data_dir(data_dir, m)) for m in plan.members]
        cluster = plan.initial_cluster()
    for name, peer, member_dir in members:
        member_dir.parent.mkdir(parents=True, exist_ok=True)
        _run_etcdctl("snapshot", "restore", str(snapshot), f"--name={name}", f"--data-dir={member_dir}",
                     f"--initial-cluster={cluster}", f"--initial-advertise-peer-urls={peer}",
                     f"--initial-cluster-token={ha_plane.CLUSTER_TOKEN}")
    return [d for _, _, d in members]


def _check(path: Path) -> None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            verdict = db.execute("PRAGMA integrity_check").fetchone()
    except sqlite3.DatabaseError as err:
        raise ValueError(f"{path} is not a usable SQLite store: {err}") from None
    if not verdict or verdict[0] != "ok":
        raise ValueError(f"{path} failed SQLite's integrity check: {verdict[0] if verdict else 'no answer'}")


def sqlite_backup(target: Path, *, data_dir: Path) -> None:
    source = data_dir / STORE_FILE
    if not source.is_file():
        raise ValueError(f"no SQLite store at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(str(source), timeout=30)
    try:
        dst = sqlite3.connect(str(tmp))
        try:
            src.backup(dst)  # pages=-1: the whole database in one step, as of one read transaction
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        finally:
            dst.close()
    finally:
        src.close()
    _check(tmp)
    tmp.replace(target)


def sqlite_restore(backup: Path, *, data_dir: Path) -> None:
    if not backup.is_file():
        raise ValueError(f"no backup at {backup}")
    if ClusterLayout(data_dir).running_pid() is not None:
        raise ValueError(f"a cluster is running in {data_dir}; stop it with `sampan down` first")
    _check(backup)
    data_dir.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(str(data_dir / STORE_FILE), timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _snapshot(args: argparse.Namespace) -> int:
    if args.action == "save":
        endpoints = [args.endpoint] if args.endpoint else cluster_etcd_endpoints(Path(args.data_dir))
        url = snapshot_save(Path(args.file), endpoints=endpoints, tls_args=etcdctl_tls_args(Path(args.data_dir)))
        print(f"saved a snapshot of {url} to {args.file}")
    else:
        dirs = snapshot_restore(Path(args.file), data_dir=Path(args.data_dir),
                                control_plane_nodes=args.control_plane_nodes)
        print(f"restored {args.file} into {', '.join(str(d) for d in dirs)}; start it with `sampan up --data-dir "
              f"{args.data_dir} --storage etcd --control-plane-nodes {args.control_plane_nodes}`")
    return 0


def _backup(args: argparse.Namespace) -> int:
    sqlite_backup(Path(args.file), data_dir=Path(args.data_dir))
    print(f"backed up {Path(args.data_dir) / STORE_FILE} to {args.file}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    sqlite_restore(Path(args.file), data_dir=Path(args.data_dir))
    print(f"restored {args.file} into {Path(args.data_dir) / STORE_FILE}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    etcd = sub.add_parser("etcd", help="etcd maintenance of a cluster's store")
    etcd_sub = etcd.add_subparsers(dest="etcd_command", required=True)
    snap = etcd_sub.add_parser("snapshot", help="save or restore an etcd snapshot")
    snap.add_argument("action", choices=("save", "restore"))
    snap.add_argument("file", help="the snapshot file")
    snap.add_argument("--data-dir", default=".sampan",
                      help="save: the cluster whose etcd to snapshot; restore: the new cluster's data dir")
    snap.add_argument("--endpoint", default="", help="save: this etcd client URL instead of the cluster's")
    snap.add_argument("--control-plane-nodes", type=int, default=1,
                      help="restore: etcd members of the new cluster (default 1)")
    snap.set_defaults(handler=_snapshot)
    backup = sub.add_parser("backup", help="back up the SQLite store of a cluster, while it runs")
    backup.add_argument("file")
    backup.add_argument("--data-dir", default=".sampan", help="the cluster's data dir (default .sampan)")
    backup.set_defaults(handler=_backup)
    restore = sub.add_parser("restore", help="restore a `sampan backup` into a stopped cluster's data dir")
    restore.add_argument("file")
    restore.add_argument("--data-dir", default=".sampan", help="the cluster's data dir (default .sampan)")
    restore.set_defaults(handler=_restore)
