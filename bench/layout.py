"""Benchmark: gradviz.layered_layout against Graphviz ``dot`` on the same graphs.

For each graph it reports our layout time, dot's time (the ``dot -Tplain``
subprocess, wall clock), and the straight-line edge crossings of both layouts
counted the same way (:func:`gradviz.core.layout.count_crossings`; dot's own
spline routing is not used, only its node positions). Targets: time ratio
<= 0.25, crossing ratio <= 1.2.

    python bench/layout.py [--sizes 1000 5000 20000] [--dot-timeout 300] [--render DIR]

Importable too: ``run(sizes=..., dot_timeout=...) -> list[dict]``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _graphs  # noqa: E402
from gradviz.core.layout import count_crossings, default_node_size, layered_layout  # noqa: E402

TIME_TARGET = 0.25
CROSSING_TARGET = 1.2
DEFAULT_SIZES = (1000, 5000, 20000)
POINTS_PER_INCH = 72.0


def dot_source(graph, node_size=default_node_size, *, node_gap: float = 24.0) -> tuple[str, list]:
    """DOT text for ``graph`` with fixed box sizes; nodes are named n0, n1, ... by index."""
    nodes = list(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    lines = [
        "digraph G {",
        f'  graph [rankdir=TB, nodesep="{node_gap / POINTS_PER_INCH:.4f}"];',
        '  node [shape=box, fixedsize=true, label=""];',
    ]
    for i, v in enumerate(nodes):
        width, height = node_size(v, graph.nodes[v])
        lines.append(f'  n{i} [width="{width / POINTS_PER_INCH:.4f}", height="{height / POINTS_PER_INCH:.4f}"];')
    for u, v in graph.edges():
        lines.append(f"  n{index[u]} -> n{index[v]};")
    lines.append("}")
    return "\n".join(lines), nodes


def dot_layout(graph, node_size=default_node_size, *, timeout: float | None = None):
    """Lay ``graph`` out with ``dot -Tplain``; returns ``(pos, seconds)``.

    ``pos`` maps nodes to box centres in px with y growing downward (dot's y
    grows upward, so it is flipped); ``seconds`` is the subprocess wall time.
    Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds.
    """
    source, nodes = dot_source(graph, node_size)
    start = time.perf_counter()
    result = subprocess.run(
        ["dot", "-Tplain"], input=source, capture_output=True, text=True, timeout=timeout, check=True
    )
    seconds = time.perf_counter() - start
    pos, height = {}, 0.0
    for line in result.stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == "graph":
            height = float(fields[3])
        elif fields and fields[0] == "node":
            i = int(fields[1][1:])
            x, y = float(fields[2]), float(fields[3])
            pos[nodes[i]] = (x * POINTS_PER_INCH, (height - y) * POINTS_PER_INCH)
    return pos, seconds


def render_png(graph, pos, path, node_size=default_node_size) -> None:
    """Draw a layout (straight edges) to a PNG with Graphviz's neato -n2, for eyeballing."""
    nodes = list(graph.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    lines = ['digraph G { graph [splines=line]; node [shape=box, fixedsize=true, fontsize=10];']
    for i, v in enumerate(nodes):
        attrs = graph.nodes[v]
        width, height = node_size(v, attrs)
        text = attrs.get("name") or attrs.get("label") or str(v)
        x, y = pos[v]
        lines.append(
            f'  n{i} [label="{text}", pos="{x:.1f},{-y:.1f}!", '
            f'width="{width / POINTS_PER_INCH:.3f}", height="{height / POINTS_PER_INCH:.3f}"];'
        )
    lines += [f"  n{index[u]} -> n{index[v]};" for u, v in graph.edges()]
    lines.append("}")
    subprocess.run(["neato", "-n2", "-Tpng", "-o", str(path)], input="\n".join(lines), text=True, check=True)


def graphs(sizes=DEFAULT_SIZES, seed: int = 0):
    """(name, graph) pairs: real model graphs first, then synthetic ones by size."""
    yield "lenet", _graphs.lenet_graph()
    yield "resnet34-style", _graphs.resnet_graph()
    yield "transformer x4", _graphs.transformer_graph()
    for size in sizes:
        yield f"synthetic {size}", _graphs.synthetic_autograd_graph(size, seed=seed)


def _wall(function):
    """(result, wall seconds) of one call."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _time_both(graph, repeats: int, dot_timeout: float):
    """Our layout and dot's, timed in turns; the best time of each.

    Best of several runs, as ``timeit`` reports: the machines this runs on are
    shared, and other load only ever adds time. Alternating the two keeps a
    burst of load from hitting one side only. dot's time is its subprocess's
    wall time (``dot_layout``); None for dot when it timed out.
    """
    ours_times, dot_times, ours, theirs = [], [], None, None
    dot_failed = False
    for _ in range(repeats):
        ours, seconds = _wall(lambda: layered_layout(graph))
        ours_times.append(seconds)
        if not dot_failed:
            try:
                theirs, seconds = dot_layout(graph, timeout=dot_timeout)
                dot_times.append(seconds)
            except subprocess.TimeoutExpired:
                dot_failed = True
    dot_best = None if dot_failed else min(dot_times)
    return ours, min(ours_times), (None if dot_failed else theirs), dot_best


def run(sizes=DEFAULT_SIZES, dot_timeout: float = 300.0, seed: int = 0, render_dir=None, log=print) -> list[dict]:
    """Benchmark every graph; returns one dict per graph.

    Keys: graph, nodes, edges, ours_s, dot_s (seconds; dot_s is dot_timeout
    when dot timed out, so time_ratio is then an upper bound), dot_timed_out,
    time_ratio, crossings_ours, crossings_dot and crossing_ratio (None when dot
    timed out).
    """
    layered_layout(_graphs.lenet_graph())  # warm-up: imports and first-call costs
    rows = []
    for name, graph in graphs(sizes, seed):
        repeats = 7 if graph.number_of_nodes() < 2000 else 1
        ours, our_seconds, theirs, dot_seconds = _time_both(graph, repeats, dot_timeout)
        row = {
            "graph": name,
            "nodes": graph.number_of_nodes(),
            "edges": graph.number_of_edges(),
            "ours_s": our_seconds,
            "dot_s": dot_timeout if dot_seconds is None else dot_seconds,
            "dot_timed_out": dot_seconds is None,
            "crossings_ours": count_crossings(graph, ours),
            "crossings_dot": None if theirs is None else count_crossings(graph, theirs),
        }
        row["time_ratio"] = row["ours_s"] / row["dot_s"]
        if row["crossings_dot"] is not None:
            row["crossing_ratio"] = row["crossings_ours"] / max(row["crossings_dot"], 1)
        else:
            row["crossing_ratio"] = None
        if render_dir is not None:
            slug = name.replace(" ", "_")
            render_png(graph, ours, Path(render_dir) / f"{slug}_ours.png")
            if theirs is not None:
                render_png(graph, theirs, Path(render_dir) / f"{slug}_dot.png")
        rows.append(row)
        if log:
            log(_format_row(row))
    return rows


HEADER = (
    f"{'graph':<17}{'nodes':>7}{'edges':>7}{'ours s':>9}{'dot s':>10}{'t ratio':>9}"
    f"{'X ours':>8}{'X dot':>8}{'X ratio':>9}  targets"
)


def _format_row(row: dict) -> str:
    dot_s = f">{row['dot_s']:.0f}" if row["dot_timed_out"] else f"{row['dot_s']:.3f}"
    t_ratio = ("<" if row["dot_timed_out"] else "") + f"{row['time_ratio']:.3f}"
    x_dot = "-" if row["crossings_dot"] is None else str(row["crossings_dot"])
    x_ratio = "-" if row["crossing_ratio"] is None else f"{row['crossing_ratio']:.2f}"
    time_ok = row["time_ratio"] <= TIME_TARGET
    crossings_ok = row["crossing_ratio"] is not None and row["crossing_ratio"] <= CROSSING_TARGET
    verdict = f"time {'ok' if time_ok else 'MISSED'}, crossings " + (
        "n/a" if row["crossing_ratio"] is None else ("ok" if crossings_ok else "MISSED")
    )
    return (
        f"{row['graph']:<17}{row['nodes']:>7}{row['edges']:>7}{row['ours_s']:>9.3f}{dot_s:>10}"
        f"{t_ratio:>9}{row['crossings_ours']:>8}{x_dot:>8}{x_ratio:>9}  {verdict}"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(DEFAULT_SIZES), help="synthetic graph sizes")
    parser.add_argument("--dot-timeout", type=float, default=300.0, help="seconds before dot is given up on")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic graphs")
    parser.add_argument("--render", metavar="DIR", help="also draw both layouts of every graph as PNGs here")
    args = parser.parse_args(argv)
    if args.render:
        Path(args.render).mkdir(parents=True, exist_ok=True)
    print(HEADER)
    run(args.sizes, args.dot_timeout, args.seed, args.render)


if __name__ == "__main__":
    main()
