"""Benchmark: gradviz.autograd_graph vs torchviz.make_dot (graph construction only).

Run ``python bench/graph_extract.py`` for a table, or call :func:`run` from
another benchmark runner. Both extractors walk the same autograd graph in the
same process; torchviz only builds its ``graphviz.Digraph`` source (no
rendering), gradviz builds its ``networkx.DiGraph``.

Columns:
    nodes          autograd Nodes gradviz found (its graph has one more, the output)
    torchviz_s     best-of-N make_dot time
    gradviz_s      best-of-N autograd_graph time (params named)
    ratio          gradviz_s / torchviz_s (target: <= 0.5)
    owned_s        module ownership on top: ForwardRecorder's overhead on the
                   forward pass (recorded forward minus plain forward) plus
                   autograd_graph with module_of
    owned_ratio    owned_s / torchviz_s
    total_ratio    (recorded forward + autograd_graph) / (plain forward + make_dot):
                   what a user waits for to get a picture, forward included
"""
from __future__ import annotations

import gc
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

if __package__ in (None, ""):
    # Running as a script: make the repository importable without installing.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gradviz.core.graph import ForwardRecorder, autograd_graph  # noqa: E402

WIDTH = 16  # small layers: the benchmark is about graph size, not FLOPs


class Residual(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.act = nn.ReLU()

    def forward(self, x):
        return x + self.act(self.fc(x))


# autograd Nodes per block, used to pick a depth for a target graph size:
# Linear = AddmmBackward + TBackward + 2 AccumulateGrad, ReLU 1, residual add 1
def deep_mlp(blocks: int) -> nn.Module:
    layers = []
    for _ in range(blocks):
        layers += [nn.Linear(WIDTH, WIDTH), nn.ReLU()]
    return nn.Sequential(*layers)


def residual_stack(blocks: int) -> nn.Module:
    return nn.Sequential(*(Residual(WIDTH) for _ in range(blocks)))


MODELS: dict[str, tuple[Callable[[int], nn.Module], int]] = {
    "mlp": (deep_mlp, 5),
    "residual": (residual_stack, 6),
}


def _best_of(repeats: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
        # drop the result before the next round so rounds start equal
        gc.collect()
    return best


def _in_big_stack(fn: Callable[[], object]) -> object:
    """Run ``fn`` in a thread with a 512 MB stack: torchviz recurses once per Node."""
    result: dict[str, object] = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    old_limit = sys.getrecursionlimit()
    old_stack = threading.stack_size(512 * 1024 * 1024)
    sys.setrecursionlimit(1_000_000)
    try:
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(old_stack)
        sys.setrecursionlimit(old_limit)
    if "error" in result:
        raise result["error"]
    return result.get("value")


def measure(model_name: str, target_nodes: int, repeats: int) -> dict:
    from torchviz import make_dot

    build, nodes_per_block = MODELS[model_name]
    torch.manual_seed(0)
    model = build(max(1, target_nodes // nodes_per_block))
    x = torch.randn(4, WIDTH)
    params = dict(model.named_parameters())

    with torch.no_grad():
        model(x)  # warm-up (allocator, kernels)
    forward_s = _best_of(repeats, lambda: model(x).sum())

    def recorded_forward():
        with ForwardRecorder(model) as recorder:
            out = model(x).sum()
        return out, recorder

    recorded_s = _best_of(repeats, recorded_forward)

    out, recorder = recorded_forward()
    graph = autograd_graph(out, params)
    nodes = graph.number_of_nodes() - 1  # minus the output node

    gradviz_s = _best_of(repeats, lambda: autograd_graph(out, params))
    owned_graph_s = _best_of(
        repeats, lambda: autograd_graph(out, params, module_of=recorder.module_of)
    )
    torchviz_s = _in_big_stack(lambda: _best_of(repeats, lambda: make_dot(out, params)))

    owned_s = max(0.0, recorded_s - forward_s) + owned_graph_s
    return {
        "model": model_name,
        "nodes": nodes,
        "torchviz_s": torchviz_s,
        "gradviz_s": gradviz_s,
        "ratio": gradviz_s / torchviz_s,
        "owned_s": owned_s,
        "owned_ratio": owned_s / torchviz_s,
        "total_ratio": (recorded_s + owned_graph_s) / (forward_s + torchviz_s),
        "forward_s": forward_s,
        "recorded_forward_s": recorded_s,
    }


def run(sizes=(1_000, 10_000, 50_000), models=("mlp", "residual"), repeats: int | None = None) -> list[dict]:
    """Measure every model family at every target size; one dict per row.

    ``repeats`` defaults to 5 below 20k Nodes and 3 above (best-of-N).
    """
    rows = []
    for size in sizes:
        for model_name in models:
            n = repeats if repeats is not None else (5 if size < 20_000 else 3)
            rows.append(measure(model_name, size, n))
    return rows


def format_table(rows: list[dict]) -> str:
    header = f"{'model':<9} {'nodes':>7} {'torchviz_s':>10} {'gradviz_s':>9} {'ratio':>6} {'owned_s':>8} {'owned_ratio':>11} {'total_ratio':>11}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<9} {r['nodes']:>7} {r['torchviz_s']:>10.4f} {r['gradviz_s']:>9.4f} "
            f"{r['ratio']:>6.2f} {r['owned_s']:>8.4f} {r['owned_ratio']:>11.2f} {r['total_ratio']:>11.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    rows = run(args.sizes, args.models, args.repeats)
    print(format_table(rows))
    worst = max(r["ratio"] for r in rows)
    print(f"\nworst gradviz/torchviz ratio: {worst:.2f} (target <= 0.50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
