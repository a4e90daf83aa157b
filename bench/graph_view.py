"""Benchmark: GraphView scene build time and one repaint after a pan, offscreen.

For synthetic autograd-like graphs of 1k, 5k and 20k nodes (no module
information, so nothing is collapsed: the worst case) it reports, in ms:

* ``layout_ms``: collapse + box sizing + ``layered_layout`` (runs off the GUI
  thread in the app; listed for context),
* ``build_ms``: ``set_graph(graph, positions=...)`` until ``ready``: the
  GUI-thread part (arrays, scene, fit),
* ``first_paint_fit_ms``: the first full repaint at fit-to-window, which also
  builds the batched overview paths,
* ``pan_fit_ms``, ``pan_10_ms``, ``pan_39_ms``, ``pan_41_ms``, ``pan_100_ms``:
  the median full-viewport repaint right after a pan, zoomed to fit, to 10 %
  and to 39 % (the overview level of detail: plain boxes, straight edges,
  screen-size labels when few nodes show), to 41 % (just inside the detailed
  level: the most boxes with text and curved edges on screen) and to 100 %.
  Target: <= 33 ms at 20k nodes.

    python bench/graph_view.py [--sizes 1000 5000 20000] [--repeats 7]
    python bench/graph_view.py --screenshots resources/screenshots   # needs a display (xvfb-run)

Importable too: ``run(sizes=..., repeats=...) -> list[dict]``. Also provides
:func:`transformer_graph`, a real 24-block transformer-ish model's graph with
nested modules (>5k nodes), used for the screenshots.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

if "--screenshots" not in sys.argv:  # screenshots want a real (Xvfb) window
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _graphs  # noqa: E402

DEFAULT_SIZES = (1000, 5000, 20000)
TARGET_MS = 33.0
VIEW_SIZE = (1600, 1000)


def transformer_graph(n_blocks: int = 24, n_heads: int = 6, d_model: int = 48, seed: int = 0):
    """The autograd graph (with modules) of a 24-block transformer-ish model.

    Attention is written head by head (a ModuleList of heads with their own
    q/k/v projections), so the graph is big (>5k nodes) and nested four
    levels deep: ``blocks.3.attn.heads.2.q``.
    """
    import torch
    from torch import nn

    import gradviz

    class Head(nn.Module):
        def __init__(self, d, d_head):
            super().__init__()
            self.q, self.k, self.v = nn.Linear(d, d_head), nn.Linear(d, d_head), nn.Linear(d, d_head)
            self.scale = d_head**-0.5

        def forward(self, x):
            weights = torch.softmax(self.q(x) @ self.k(x).transpose(-2, -1) * self.scale, dim=-1)
            return weights @ self.v(x)

    class Attention(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.heads = nn.ModuleList(Head(d, d // heads) for _ in range(heads))
            self.proj = nn.Linear(d, d)

        def forward(self, x):
            return self.proj(torch.cat([head(x) for head in self.heads], dim=-1))

    class Block(nn.Module):
        def __init__(self, d, heads):
            super().__init__()
            self.ln1, self.attn = nn.LayerNorm(d), Attention(d, heads)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        def forward(self, x):
            x = x + self.attn(self.ln1(x))
            return x + self.mlp(self.ln2(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(16, d_model)
            self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_blocks))
            self.head = nn.Linear(d_model, 10)

        def forward(self, x):
            x = self.embed(x)
            for block in self.blocks:
                x = block(x)
            return self.head(x.mean(dim=1))

    torch.manual_seed(seed)
    traced = gradviz.trace_model(
        Model(), torch.randn(2, 8, 16), loss_fn=nn.functional.mse_loss, target=torch.randn(2, 10)
    )
    return traced.graph


def _median_repaint(app, view, repeats: int, step: int = 120) -> float:
    canvas = view.canvas
    bar = canvas.verticalScrollBar()
    times = []
    for i in range(repeats):
        # pan (alternating, so the view never runs into the end of the scene)
        bar.setValue(bar.value() + (step if i % 2 == 0 else -step))
        app.processEvents()
        start = time.perf_counter()
        canvas.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(graph, app, repeats: int = 7) -> dict:
    from gradviz.ui.graph_view import GraphView
    from gradviz.ui.graph_view.layout_job import compute_layout
    from gradviz.ui.graph_view.style import DETAIL_SCALE

    view = GraphView()
    view.animations_enabled = False
    view.resize(*VIEW_SIZE)
    view.show()
    app.processEvents()

    start = time.perf_counter()
    layout = compute_layout(graph, (), metrics=view.metrics)
    layout_ms = (time.perf_counter() - start) * 1000

    start = time.perf_counter()
    view.set_graph(graph, positions=layout.positions)
    assert view.wait_until_ready(60_000)
    build_ms = (time.perf_counter() - start) * 1000

    canvas = view.canvas
    view.fit_to_window(animate=False)
    app.processEvents()
    view.item.set_model(view.item.model)  # drop the cached overview paths
    start = time.perf_counter()
    canvas.viewport().repaint()
    first_paint_ms = (time.perf_counter() - start) * 1000
    result = {
        "nodes": graph.number_of_nodes(),
        "edges": graph.number_of_edges(),
        "layout_ms": round(layout_ms, 1),
        "build_ms": round(build_ms, 1),
        "first_paint_fit_ms": round(first_paint_ms, 1),
        "fit_scale": round(canvas.scale_factor(), 5),
        "pan_fit_ms": round(_median_repaint(app, view, repeats), 2),
    }
    # zoomed in on the middle of the graph (the widest part of a real model)
    keys = list(graph.nodes)
    middle = view.node_rect(keys[len(keys) // 2]).center()
    for name, scale in (
        ("pan_10_ms", 0.1),
        ("pan_39_ms", DETAIL_SCALE * 0.975),
        ("pan_41_ms", DETAIL_SCALE * 1.025),
        ("pan_100_ms", 1.0),
    ):
        canvas.show_at(middle, scale, animate=False)
        app.processEvents()
        result[name] = round(_median_repaint(app, view, repeats), 2)
    worst = max(v for k, v in result.items() if k.startswith("pan_"))
    result["meets_33ms"] = worst <= TARGET_MS
    view.close()
    view.deleteLater()
    app.processEvents()
    return result


def run(sizes=DEFAULT_SIZES, repeats: int = 7, real: bool = True) -> list[dict]:
    """One row per synthetic size, plus (``real``) the 24-block transformer fully expanded."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    results = []
    for size in sizes:
        graph = _graphs.synthetic_autograd_graph(size)
        results.append({"graph": f"synthetic {size}", **measure(graph, app, repeats)})
    if real:
        results.append({"graph": "transformer x24", **measure(transformer_graph(), app, repeats)})
    return results


def lenet_graph():
    """LeNet (conv 1->6->16, fc 400->120->84->10) with MSE loss, saved tensors recorded."""
    import torch
    from torch import nn

    import gradviz

    torch.manual_seed(0)
    net = gradviz.build_model(gradviz.presets.load("lenet"))
    traced = gradviz.trace_model(
        net, torch.randn(1, 1, 32, 32), loss_fn=nn.functional.mse_loss, target=torch.randn(1, 10), saved_tensors=True
    )
    return traced.graph


def screenshots(out_dir) -> list[Path]:
    """Save graph_lenet.png and graph_large.png (run under a display, e.g. xvfb-run)."""
    from PySide6.QtWidgets import QApplication

    from gradviz.ui.graph_view import GraphView

    app = QApplication.instance() or QApplication([])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    def settle(seconds: float = 0.6) -> None:
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    view = GraphView()
    view.resize(1500, 950)
    view.show()
    settle(0.3)
    saved = []

    lenet = lenet_graph()
    view.set_graph(lenet)
    view.wait_until_ready()
    settle()
    weight = next(k for k, a in lenet.nodes(data=True) if a.get("name") == "fc1.weight")
    view.select_node(weight)  # details panel + its path to the loss
    settle()
    saved.append(out / "graph_lenet.png")
    view.grab().save(str(saved[-1]))

    big = transformer_graph()
    view.set_graph(big)  # opens collapsed to a readable depth
    view.wait_until_ready(60_000)
    settle()
    view.expand_module("blocks.0")  # one block opened one level
    view.wait_until_ready(60_000)
    attn = "module:blocks.0.attn"
    view.select_node(attn)
    centre = view.node_rect(attn).center()
    centre.setY(centre.y() + 120)  # the opened block, and the closed ones below it
    view.canvas.show_at(centre, 0.85, animate=False)
    settle()
    saved.append(out / "graph_large.png")
    view.grab().save(str(saved[-1]))
    view.close()
    return saved


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--no-real", action="store_true", help="skip the real transformer graph")
    parser.add_argument("--screenshots", metavar="DIR", help="save the README screenshots there instead")
    args = parser.parse_args(argv)
    if args.screenshots:
        for path in screenshots(args.screenshots):
            print(path, path.stat().st_size // 1024, "KB")
        return 0
    rows = run(args.sizes, args.repeats, real=not args.no_real)
    columns = ["graph", "nodes", "edges", "layout_ms", "build_ms", "first_paint_fit_ms", "pan_fit_ms", "pan_10_ms", "pan_39_ms", "pan_41_ms", "pan_100_ms", "meets_33ms"]
    print("  ".join(f"{c:>16}" for c in columns))
    for row in rows:
        print("  ".join(f"{str(row[c]):>16}" for c in columns))
    return 0 if all(r["meets_33ms"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
