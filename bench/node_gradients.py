"""Benchmark: what recording per-node gradients (``node_gradients=True``) adds to a full record.

Three variants of one training iteration run in short blocks, round-robin,
on the same model, batch, loss and optimizer (see :mod:`bench.training` for
the clock and the method): a raw torch loop, ``TrainingSession(record="full")``
and the same with ``node_gradients=True``, which also keeps every Node's
received and produced gradients, its saved tensors and its forward value
(whole up to 4,096 elements, summarised above). Reported: each recorded
variant's CPU time over the raw loop's (median of per-round ratios), so the
existing levels' numbers (``bench/training.py``) are unaffected by this option.

Cases: the presets ``neuron``, ``lenet`` at batch 64 and ``resnet_tiny`` at its
batch of 2, and with ``--big`` two third-party-sized models written out in
:mod:`bench._models`: ``resnet50`` (ResNet-50's bottleneck architecture, one
128×128 image) and ``gpt2`` (GPT-2 small: 12 layers, width 768, 50,257-token
vocabulary, tied head; 32 tokens). The budget (issue 16): a full record with
per-node gradients at most 1.5× the raw loop.

The imports' objects are frozen out of garbage collection after the warm-up, as
the app freezes them (``--no-freeze``: as a plain script leaves them).

    python bench/node_gradients.py [--rounds 15] [--block 4] [--big] [--only NAME ...] [--no-freeze]
"""
from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gradviz  # noqa: E402
from bench.training import LR, _raw_block, _session_block, _spec  # noqa: E402
from gradviz.core.data import VALUES, RandomData  # noqa: E402
from gradviz.core.session import TrainingSession  # noqa: E402

CASES = (("neuron", None), ("lenet", 64), ("resnet_tiny", None))
BIG_CASES = (("resnet50", None), ("gpt2", None))
# The big models train at a smaller rate: at LR, GPT-2's MSE over 50,257 logits
# went NaN after ~15 iterations, and an iteration of a model gone NaN is another
# workload (every check and summary takes its NaN path), not the one measured.
BIG_LR = 1e-4


def _big_model(name: str) -> tuple[nn.Module, torch.Tensor]:
    """A fresh copy of a :mod:`bench._models` model (same weights every call) and its input."""
    from bench import _models

    torch.manual_seed(0)
    if name == "resnet50":
        return _models.BottleneckResNet(), torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    if name == "gpt2":
        return _models.GPT2(), torch.randint(0, 50257, (1, 32), generator=torch.Generator().manual_seed(0))
    raise ValueError(f"unknown benchmark model {name!r}")


def measure(name: str, batch: int | None, rounds: int = 15, block: int = 4, freeze: bool = True) -> dict:
    torch.set_num_threads(1)
    big = name in dict(BIG_CASES)

    def session(node_gradients: bool) -> TrainingSession:
        if big:
            module, example = _big_model(name)
            # max_history 3: the same copies are made each iteration, fewer kept (a shared machine)
            return TrainingSession(module, loss="mse", optimizer="sgd", lr=BIG_LR, inputs=example, seed=0,
                                   record="full", max_history=3, node_gradients=node_gradients)
        return TrainingSession(spec, loss="mse", optimizer="sgd", lr=LR, data=RandomData(seed=0), seed=0,
                               record="full", max_history=10, node_gradients=node_gradients)

    if big:
        model, inputs = _big_model(name)
        spec = None
    else:
        spec = _spec(name, batch)
        model = gradviz.build_model(spec, seed=0)
    full, nodes = session(False), session(True)
    model.train()
    if big:
        _, targets = full.data.batch(full.input_shape, full.output_shape, VALUES)
    else:
        inputs, targets = RandomData(seed=0).batch(spec.input_shape, full.output_shape, VALUES)
    optimizer = torch.optim.SGD(model.parameters(), lr=BIG_LR if big else LR)
    criterion = nn.MSELoss()

    def raw() -> None:
        optimizer.zero_grad()
        criterion(model(inputs), targets).backward()
        optimizer.step()

    variants = {
        "raw": lambda n: _raw_block(raw, n),
        "full": lambda n: _session_block(full, n),
        "node_gradients": lambda n: _session_block(nodes, n),
    }
    for block_of in variants.values():  # warm-up
        block_of(2)
    if freeze:
        # As the app does once torch is imported (gradviz.ui.worker.freeze_long_lived_objects):
        # a full collection then skips the ~300k objects of the imports (150 ms each time,
        # here a third of node gradients' cost); only what the records add is walked.
        gc.collect()
        gc.freeze()
    cpu: dict[str, list[float]] = {key: [] for key in variants}
    phases: dict[str, dict[str, float]] = {key: {} for key in variants}
    order = list(variants)
    try:
        for r in range(rounds):
            for key in order[r % 3:] + order[:r % 3]:
                _, seconds, phase_cpu = variants[key](block)
                cpu[key].append(seconds)
                for phase, t in phase_cpu.items():
                    phases[key][phase] = phases[key].get(phase, 0.0) + t / rounds
    finally:
        if freeze:
            # This case's models and records must not outlive it, frozen: a ResNet-50's
            # sessions kept alive made the GPT-2 measured after it 2-4x slower.
            gc.unfreeze()

    def ratio(key: str) -> float:
        return statistics.median(a / b for a, b in zip(cpu[key], cpu["raw"]))

    record = nodes.history[-1]
    if not all(math.isfinite(s.history[-1].loss) for s in (full, nodes)):
        print(f"warning: {name} diverged (loss {full.history[-1].loss}, {record.loss}): "
              "its ratios measure a model gone NaN", file=sys.stderr)
    return {
        "model": name,
        "batch": full.input_shape[0],
        "graph_nodes": record.graph.number_of_nodes(),
        "raw_ms": statistics.median(cpu["raw"]) * 1e3,
        "full_ms": statistics.median(cpu["full"]) * 1e3,
        "node_gradients_ms": statistics.median(cpu["node_gradients"]) * 1e3,
        "full_ratio": ratio("full"),
        "node_gradients_ratio": ratio("node_gradients"),
        "node_gradients_over_full": statistics.median(a / b for a, b in zip(cpu["node_gradients"], cpu["full"])),
        # mean CPU ms per phase of one recorded iteration, to see where the time goes
        "full_phases_ms": {k: v * 1e3 for k, v in phases["full"].items()},
        "node_gradients_phases_ms": {k: v * 1e3 for k, v in phases["node_gradients"].items()},
    }


def run(cases=CASES, rounds: int = 15, block: int = 4, freeze: bool = True) -> list[dict]:
    try:
        return [measure(name, batch, rounds, block, freeze) for name, batch in cases]
    finally:
        gc.unfreeze()


def format_table(rows: list[dict]) -> str:
    header = f"{'model':<12}{'batch':>6}{'nodes':>6}{'raw ms':>9}{'full ms':>9}{'+nodes ms':>11}{'full x':>8}{'+nodes x':>10}{'vs full':>9}"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['model']:<12}{r['batch']:>6}{r['graph_nodes']:>6}{r['raw_ms']:>9.2f}{r['full_ms']:>9.2f}"
            f"{r['node_gradients_ms']:>11.2f}{r['full_ratio']:>8.2f}{r['node_gradients_ratio']:>10.2f}"
            f"{r['node_gradients_over_full']:>9.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=4, help="iterations per timed block")
    parser.add_argument("--big", action="store_true", help="also resnet50 and gpt2 (about a minute)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these cases")
    parser.add_argument("--phases", action="store_true", help="also print CPU ms per phase")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the imports' objects to the collector (a script's view, not the app's)")
    args = parser.parse_args(argv)
    cases = CASES + (BIG_CASES if args.big or args.only else ())
    if args.only:
        cases = tuple(c for c in cases if c[0] in args.only)
    rows = run(cases, rounds=args.rounds, block=args.block, freeze=not args.no_freeze)
    print(format_table(rows))
    if args.phases:
        for r in rows:
            for key in ("full", "node_gradients"):
                cells = "  ".join(f"{p} {ms:.1f}" for p, ms in r[f"{key}_phases_ms"].items())
                print(f"{r['model']:<12}{key:<16}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
