"""``sampan up --detach``: the short-lived parent that starts the foreground supervisor as a background
session and returns once ``up.json`` says the cluster is ready; also the checks and the summary both modes
print. Imports nothing heavy (the parent must start fast)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sampan.cli.layout import ClusterLayout
from sampan.cli.up import ready_timeout
from sampan.cli.up_nodes import port_is_free

if TYPE_CHECKING:
    from rich.console import Console

    from sampan.cli.up import UpOptions

#: How often ``--detach`` re-reads ``up.json`` for ``ready`` (a small local file; polling is cheap).
DETACHED_POLL = 0.05
#: How long ``--detach`` waits, after the ``--wait`` deadline, for its background ``sampan up`` to give up
#: and stop what it started (the kubelets, then the static control plane).
DETACHED_CLEANUP_GRACE = 60.0


def log_tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, for an error message ("(no log)" when it cannot be read)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def not_ready_line(path: Path) -> str:
    """The background ``sampan up``'s own "did not become ready" line, if it wrote one ("" otherwise): printed
    before the log's tail, which the components' log lines quoted after it can push out of view."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    start = text.rfind("the cluster did not become ready")
    if start < 0:
        return ""
    flat = " ".join(text[start:start + 400].split())  # a console wraps it over several lines of the log
    end = flat.find("); ")  # the sentence ends where the log quote begins
    return flat[:end + 1] if end > 0 else flat


def check_can_start(layout: ClusterLayout, options: UpOptions) -> None:
    """Raise ``ValueError`` (one line for the user) when a cluster already runs on this data dir or the API
    server's port is taken."""
    pid = layout.running_pid()
    if pid is not None:
        raise ValueError(
            f"a cluster is already running for {layout.data_dir} (pid {pid}); "
            f"`sampan down --data-dir {layout.data_dir}` stops it"
        )
    if options.port and not port_is_free(options.port):
        raise ValueError(f"port {options.port} on 127.0.0.1 is in use; pick another with --port")


def print_summary(
    console: Console, options: UpOptions, layout: ClusterLayout, started: list[str], missing: list[str]
) -> None:
    """What the user needs once the cluster is ready: its address, what runs and what is missing, the
    nodes, where the kubeconfig and logs are."""
    console.print(f"[green]cluster ready[/green] at {options.server} (data in {options.data_dir})")
    console.print(f"  running: {', '.join(started)}")
    nodes = layout.read_state().get("nodes") or []
    if nodes:
        console.print(f"  nodes:   {', '.join(nodes)} (Ready, runtime {options.runtime})")
    for line in missing:
        console.print(f"  [yellow]missing[/yellow]: {line}")
    console.print(f"  kubectl: export KUBECONFIG={layout.kubeconfig.resolve()}")
    console.print(f"  logs:    {layout.log_dir.resolve()}/")
    state = layout.read_state()
    if state.get("dashboard"):
        console.print(f"  live:    {state['dashboard']} (sampan dashboard)")
    if state.get("trace_store"):
        console.print("  trace:   sampan trace pod/NAME [-n NS]")


def run_detached(options: UpOptions, argv: list[str], console: Console) -> int:
    """Start ``sampan up`` (foreground mode) as a background session and wait until it is ready."""
    layout = ClusterLayout(options.data_dir)
    check_can_start(layout, options)
    layout.log_dir.mkdir(parents=True, exist_ok=True)
    up_log = layout.log_dir / "up.log"
    with up_log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "sampan.cli.main", *argv],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    # The background `sampan up` gives up by itself at its own deadline and then stops what it started:
    # wait for that, so a failed start returns only once nothing of it is left running.
    deadline = time.monotonic() + ready_timeout(options) + DETACHED_CLEANUP_GRACE
    with console.status("starting the cluster in the background …"):
        while time.monotonic() < deadline:
            if child.poll() is not None:
                reason = not_ready_line(up_log)
                console.print(f"[red]sampan up exited[/red] (code {child.returncode})"
                              f"{': ' + reason if reason else ''}:\n{log_tail(up_log)}", highlight=False)
                return 1
            state = layout.read_state()
            if state.get("ready") and (not options.merge_kubeconfig or "merged_kubeconfig" in state):
                print_summary(console, options, layout, state.get("components", []), state.get("missing", []))
                console.print(f"  stop:    sampan down --data-dir {options.data_dir}")
                return 0
            time.sleep(DETACHED_POLL)
    child.terminate()  # stuck: SIGTERM makes it stop its components
    try:
        child.wait(DETACHED_CLEANUP_GRACE)
    except subprocess.TimeoutExpired:
        console.print(f"[red]the background sampan up (pid {child.pid}) is still stopping[/red]; "
                      f"`sampan down --data-dir {options.data_dir}` removes what is left")
    console.print(f"[red]the cluster did not become ready in {ready_timeout(options):.0f}s[/red] "
                  f"(more time: --wait):\n{log_tail(up_log)}")
    return 1
