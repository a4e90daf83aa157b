"""Benchmark: a training loop recorded with ``gradviz.watch`` against the same loop unwatched.

The loop is an ordinary one::

    optimizer.zero_grad(); loss = criterion(model(x), y); loss.backward()
    clip_grad_norm_(model.parameters(), 1.0); optimizer.step(); run.step(loss)

with AdamW, on two models: LeNet (the preset) at batch 64, and the tiny
transformer of ``examples/transformer_block.py`` (2 layers, tied weights) on
64 sequences of 32 tokens. Three variants of each, every one with its own copy
of the same model (same seed), the same batch and a fresh run file in a
temporary folder: ``raw`` (no watch), ``light`` (``level="light"``: norms
only) and ``full`` (``level="full"``: norms, the autograd graph with module
owners, whole tensors of the default parameters), all recording every
iteration (``every=1``, the most expensive setting).

Timing: CPU time of this thread with one torch thread (``time.thread_time``;
the SQLite writes run on this thread too, so they count), blocks of
iterations round-robin; each round gives a ratio of blocks that ran next to
each other and the reported ratio is the median of those per-round ratios
(as in ``bench/training.py``). The wall-clock ratios are reported too; they
include waiting for the disk and for a busy machine.

Budget (issue 18): light <= 1.1x and full <= 1.5x the unwatched loop.

    python bench/watch.py [--rounds 15] [--block 8] [--threads 1]
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gradviz  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGET = {"light": 1.1, "full": 1.5}
CASES = ("lenet", "transformer")


def _transformer_class():
    spec = importlib.util.spec_from_file_location("transformer_block", ROOT / "examples" / "transformer_block.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TinyTransformer


def _case(name: str, batch: int):
    """(model, inputs, targets, loss function) with fixed seeds."""
    torch.manual_seed(0)
    if name == "lenet":
        model = gradviz.build_model(gradviz.presets.load("lenet"), seed=0)
        x = torch.randn(batch, 1, 32, 32)
        y = torch.randint(0, 10, (batch,))
        return model, x, y, nn.CrossEntropyLoss()
    if name == "transformer":
        model = _transformer_class()(vocab=100, d_model=32, n_heads=4, n_layers=2, max_len=32)
        tokens = torch.randint(0, 100, (batch, 32))
        criterion = nn.CrossEntropyLoss()
        return model, tokens, tokens.roll(-1, 1), lambda out, target: criterion(out.flatten(0, 1), target.flatten())
    raise ValueError(f"unknown case {name!r}; use one of {CASES}")


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def measure(name: str, batch: int = 64, rounds: int = 15, block: int = 8, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    base, x, y, criterion = _case(name, batch)
    folder = tempfile.TemporaryDirectory(prefix="gradviz-bench-watch-")
    steps: dict[str, Callable[[], None]] = {}
    runs = {}
    for variant in ("raw", "light", "full"):
        model = copy.deepcopy(base)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        run = None
        if variant != "raw":
            run = runs[variant] = gradviz.watch(model, optimizer, Path(folder.name) / f"{variant}.gvrun", level=variant)

        def step(model=model, optimizer=optimizer, run=run) -> None:
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            if run is not None:
                run.step(loss)

        steps[variant] = step

    def timed(step: Callable[[], None], n: int) -> tuple[float, float]:
        wall, cpu = _clock()
        for _ in range(n):
            step()
        end_wall, end_cpu = _clock()
        return (end_wall - wall) / n, (end_cpu - cpu) / n

    try:
        for step in steps.values():  # warm-up: first-call costs, allocator, the first graph
            timed(step, 3)
        wall: dict[str, list[float]] = {key: [] for key in steps}
        cpu: dict[str, list[float]] = {key: [] for key in steps}
        order = list(steps)
        for r in range(rounds):
            for key in order[r % 3:] + order[:r % 3]:
                w, c = timed(steps[key], block)
                wall[key].append(w)
                cpu[key].append(c)
    finally:
        for run in runs.values():
            run.close()
        with gradviz.open_run(Path(folder.name) / "full.gvrun") as opened:
            recorded = len(opened)
            graph = opened[-1].graph
            file_kb = Path(opened.path).stat().st_size / 1024
        folder.cleanup()

    def ratio(times: dict[str, list[float]], key: str) -> list[float]:
        return [a / b for a, b in zip(times[key], times["raw"])]

    row = {
        "model": name,
        "batch": batch,
        "params": sum(p.numel() for p in base.parameters()),
        "graph_nodes": graph.number_of_nodes() if graph is not None else None,
        "threads": threads,
        "rounds": rounds,
        "block": block,
        "clock": "thread CPU time",
        "recorded_iterations": recorded,
        "full_file_kb_per_iteration": file_kb / max(recorded, 1),
    }
    for key in steps:
        row[f"{key}_ms"] = statistics.median(cpu[key]) * 1e3
    for level in ("light", "full"):
        ratios = ratio(cpu, level)
        row[f"{level}_ratio"] = statistics.median(ratios)
        row[f"{level}_ratio_range"] = [min(ratios), max(ratios)]
        row[f"{level}_ratio_wall"] = statistics.median(ratio(wall, level))
        row[f"meets_{level}"] = row[f"{level}_ratio"] <= BUDGET[level]
    return row


def run(cases=CASES, batch: int = 64, rounds: int = 15, block: int = 8, threads: int = 1) -> list[dict]:
    return [measure(name, batch, rounds, block, threads) for name in cases]


def format_table(rows: list[dict]) -> str:
    header = (f"{'model':<12}{'batch':>6}{'nodes':>6}{'raw ms':>9}{'light ms':>9}{'full ms':>9}"
              f"{'light x':>9}{'full x':>8}{'light x wall':>14}{'full x wall':>13}{'KB/it':>8}")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<12}{r['batch']:>6}{r['graph_nodes'] or 0:>6}{r['raw_ms']:>9.2f}{r['light_ms']:>9.2f}"
            f"{r['full_ms']:>9.2f}{r['light_ratio']:>9.2f}{r['full_ratio']:>8.2f}{r['light_ratio_wall']:>14.2f}"
            f"{r['full_ratio_wall']:>13.2f}{r['full_file_kb_per_iteration']:>8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=8, help="iterations per timed block")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadiest on a shared machine)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    args = parser.parse_args(argv)
    print(format_table(run(args.cases, args.batch, args.rounds, args.block, args.threads)))
    print(f"\nbudget: light <= {BUDGET['light']}x, full <= {BUDGET['full']}x the unwatched loop")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
