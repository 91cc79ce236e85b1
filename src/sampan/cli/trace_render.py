"""Terminal rendering of a :class:`~sampan.tracestore.timeline.Timeline` with rich: the hop table (offset,
duration, component, hop, informer lag), the named gaps, a waterfall of bars on a shared time axis and
the summary line (total, time in components, time in flight, create → Running)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sampan.tracestore.timeline import Hop, Timeline

BAR_WIDTH = 40
MIN_GAP_MS = 1.0
"""Gaps shorter than this are left out of the table's gap lines (``-o json`` has them all)."""
COMPONENT_STYLES = {"kube-apiserver": "cyan", "kube-scheduler": "magenta", "kube-controller-manager": "yellow",
                    "kubelet": "green", "kube-proxy": "blue", "coredns": "white"}


def _bar(hop: Hop, total_ms: float) -> Text:
    scale = BAR_WIDTH / total_ms if total_ms > 0 else 0.0
    start = min(BAR_WIDTH - 1, int(hop.start_ms * scale))
    width = max(1, round(hop.duration_ms * scale))
    width = min(width, BAR_WIDTH - start)
    return Text(" " * start + "█" * width + " " * (BAR_WIDTH - start - width),
                style=COMPONENT_STYLES.get(hop.component, "white"))


def collapsed(hops: list[Hop]) -> list[tuple[Hop, int, float]]:
    """The table's rows: (hop, how many, end ms). Consecutive deliveries of one write to the handlers of one
    component's informer (a controller-manager's pod informer has one per controller) are one row; ``-o
    json`` keeps every hop."""
    rows: list[tuple[Hop, int, float]] = []
    for hop in hops:
        end = hop.start_ms + hop.duration_ms
        if rows and hop.name == "informer.deliver":
            first, n, last_end = rows[-1]
            if (first.name, first.component, first.label, first.depth) == (hop.name, hop.component, hop.label,
                                                                           hop.depth):
                rows[-1] = (first, n + 1, max(last_end, end))
                continue
        rows.append((hop, 1, end))
    return rows


def render(console: Console, timeline: Timeline, *, title: str) -> None:
    if not timeline.hops:
        console.print(f"no spans for {title} yet (is the cluster running with `sampan up --trace`?)")
        return
    table = Table(title=title, show_lines=False)
    table.add_column("start", justify="right")
    table.add_column("dur", justify="right")
    table.add_column("component")
    table.add_column("hop")
    table.add_column("lag", justify="right")
    table.add_column("waterfall", no_wrap=True)
    for hop, n, end_ms in collapsed(timeline.hops):
        table.add_row(f"+{hop.start_ms:.1f}ms", f"{end_ms - hop.start_ms:.1f}ms",
                      Text(hop.component, style=COMPONENT_STYLES.get(hop.component, "white")),
                      "  " * hop.depth + hop.label + (f" ({n} handlers)" if n > 1 else ""),
                      "" if hop.lag_ms is None else f"{hop.lag_ms:.1f}ms", _bar(hop, timeline.total_ms))
    console.print(table)
    if timeline.steps:
        steps = Table(title="path", show_lines=False)
        for col in ("step", "start", "dur", "gap before", "waterfall"):
            steps.add_column(col, justify="right" if col in ("start", "dur", "gap before") else "left",
                             no_wrap=col == "waterfall")
        for st in timeline.steps:
            hop = timeline.hops[st.hop]
            steps.add_row(st.label, f"+{st.start_ms:.1f}ms", f"{st.duration_ms:.1f}ms",
                          f"{st.gap_ms:.1f}ms" if st.gap_ms else "", _bar(hop, timeline.total_ms))
        console.print(steps)
        for st in timeline.steps:
            if st.gap_ms >= MIN_GAP_MS:
                console.print(f"  gap: {st.gap_label}")
    running = ""
    if timeline.running_ms is not None and timeline.running_gap_ms is not None:
        running = (f"; create → Running {timeline.running_ms:.1f} ms = "
                   f"{timeline.running_ms - timeline.running_gap_ms:.1f} ms in components + "
                   f"{timeline.running_gap_ms:.1f} ms between them")
    console.print(f"total {timeline.total_ms:.1f} ms = {timeline.covered_ms:.1f} ms in components + "
                  f"{timeline.gap_ms:.1f} ms between them{running}")


def print_hop(console: Console, hop: Hop) -> None:
    lag = "" if hop.lag_ms is None else f" lag {hop.lag_ms:.1f}ms"
    console.print(f"+{hop.start_ms:.1f}ms {hop.duration_ms:.1f}ms "
                  f"[{COMPONENT_STYLES.get(hop.component, 'white')}]{hop.component}[/] {hop.label}{lag}")
