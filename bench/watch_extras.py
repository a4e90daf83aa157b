"""Benchmark: what dead-ReLU counting and the NaN/Inf search's bookkeeping add to ``gradviz.watch``.

Four copies of one model (same seed, same batch), each in a plain loop
(``zero_grad; loss = criterion(model(x), y); backward; step; run.step``):

* ``raw``: not watched;
* ``base``: ``watch(level="full", find_nonfinite=False)`` with ReLU counting
  switched off (``diagnostics.relu_peak`` replaced by a no-op during its steps):
  the full level as it was before these two features;
* ``relu``: full level with dead-ReLU counting (the default);
* ``both``: ReLU counting and ``find_nonfinite=True`` (the default): the
  forward's arguments and output gradient are kept, and each recorded
  iteration tests the loss and gradient norms for NaN/Inf (one sync on a GPU).
  The loop stays finite, so the search itself never runs (it runs once per run).

Timing as in ``bench/watch.py``: thread CPU time with one torch thread, blocks
round-robin, the median of per-round ratios against ``base`` (and ``raw``).

    python bench/watch_extras.py [--rounds 11] [--block 8]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gradviz  # noqa: E402
from gradviz.core import diagnostics  # noqa: E402

VARIANTS = ("raw", "base", "relu", "both")


def _case(name: str, batch: int):
    torch.manual_seed(0)
    if name == "lenet":
        model = gradviz.build_model(gradviz.presets.load("lenet"), seed=0)
        return model, torch.randn(batch, 1, 32, 32), torch.randint(0, 10, (batch,))
    if name == "mlp":
        model = nn.Sequential(nn.Linear(32, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                              nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
        return model, torch.randn(batch, 32), torch.randint(0, 10, (batch,))
    raise ValueError(name)


def measure(name: str, batch: int, rounds: int, block: int) -> dict:
    torch.set_num_threads(1)
    base_model, x, y = _case(name, batch)
    criterion = nn.CrossEntropyLoss()
    folder = tempfile.TemporaryDirectory(prefix="gradviz-bench-extras-")
    real_peak = diagnostics.relu_peak
    steps, runs = {}, []
    for variant in VARIANTS:
        model = copy.deepcopy(base_model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        run = None
        if variant != "raw":
            run = gradviz.watch(model, optimizer, Path(folder.name) / f"{variant}.gvrun", level="full",
                                find_nonfinite=variant == "both")
            runs.append(run)
        peak = real_peak if variant != "base" else (lambda fn: None)

        def step(model=model, optimizer=optimizer, run=run, peak=peak) -> None:
            diagnostics.relu_peak = peak
            try:
                optimizer.zero_grad()
                loss = criterion(model(x), y)
                loss.backward()
                optimizer.step()
                if run is not None:
                    run.step(loss)
            finally:
                diagnostics.relu_peak = real_peak

        steps[variant] = step

    def timed(step, n: int) -> float:
        start = time.thread_time()
        for _ in range(n):
            step()
        return (time.thread_time() - start) / n

    try:
        for step in steps.values():
            timed(step, 3)
        cpu = {key: [] for key in steps}
        order = list(steps)
        for r in range(rounds):
            for key in order[r % 4:] + order[:r % 4]:
                cpu[key].append(timed(steps[key], block))
    finally:
        for run in runs:
            run.close()
        with gradviz.open_run(Path(folder.name) / "relu.gvrun") as opened:
            relus = len(opened[-1].relu)
        folder.cleanup()
    row = {"model": name, "batch": batch, "relus": relus}
    for key in VARIANTS:
        row[f"{key}_ms"] = statistics.median(cpu[key]) * 1e3
    for key in ("relu", "both"):
        row[f"{key}_vs_base"] = statistics.median(a / b for a, b in zip(cpu[key], cpu["base"]))
    row["both_vs_raw"] = statistics.median(a / b for a, b in zip(cpu["both"], cpu["raw"]))
    row["base_vs_raw"] = statistics.median(a / b for a, b in zip(cpu["base"], cpu["raw"]))
    return row


def run(cases=("mlp", "lenet"), batch: int = 64, rounds: int = 11, block: int = 8) -> list[dict]:
    return [measure(name, batch, rounds, block) for name in cases]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--block", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--cases", nargs="+", default=["mlp", "lenet"])
    args = parser.parse_args(argv)
    header = f"{'model':<8}{'relus':>6}" + "".join(f"{v + ' ms':>10}" for v in VARIANTS) + \
        f"{'relu/base':>11}{'both/base':>11}{'base/raw':>10}{'both/raw':>10}"
    print(header)
    print("-" * len(header))
    for r in run(args.cases, args.batch, args.rounds, args.block):
        print(f"{r['model']:<8}{r['relus']:>6}" + "".join(f"{r[v + '_ms']:>10.2f}" for v in VARIANTS)
              + f"{r['relu_vs_base']:>11.3f}{r['both_vs_base']:>11.3f}{r['base_vs_raw']:>10.2f}{r['both_vs_raw']:>10.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
