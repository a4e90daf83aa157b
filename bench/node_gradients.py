"""Benchmark: what recording per-node gradients (``node_gradients=True``) adds to a full record.

Three variants of one training iteration run in short blocks, round-robin,
on the same model, batch, loss and optimizer (see :mod:`bench.training` for
the clock and the method): a raw torch loop, ``TrainingSession(record="full")``
and the same with ``node_gradients=True``, which also keeps every Node's
received and produced gradients, its saved tensors and its forward value
(whole up to 4,096 elements, summarised above). Reported: each recorded
variant's CPU time over the raw loop's (median of per-round ratios), so the
existing levels' numbers (``bench/training.py``) are unaffected by this option.

    python bench/node_gradients.py [--rounds 15] [--block 4]
"""
from __future__ import annotations

import argparse
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


def measure(name: str, batch: int | None, rounds: int = 15, block: int = 4) -> dict:
    torch.set_num_threads(1)
    spec = _spec(name, batch)

    def session(node_gradients: bool) -> TrainingSession:
        return TrainingSession(spec, loss="mse", optimizer="sgd", lr=LR, data=RandomData(seed=0), seed=0,
                               record="full", max_history=10, node_gradients=node_gradients)

    full, nodes = session(False), session(True)
    model = gradviz.build_model(spec, seed=0)
    model.train()
    inputs, targets = RandomData(seed=0).batch(spec.input_shape, full.output_shape, VALUES)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
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
    cpu: dict[str, list[float]] = {key: [] for key in variants}
    order = list(variants)
    for r in range(rounds):
        for key in order[r % 3:] + order[:r % 3]:
            cpu[key].append(variants[key](block)[1])

    def ratio(key: str) -> float:
        return statistics.median(a / b for a, b in zip(cpu[key], cpu["raw"]))

    record = nodes.history[-1]
    return {
        "model": name,
        "batch": spec.input_shape[0],
        "graph_nodes": record.graph.number_of_nodes(),
        "raw_ms": statistics.median(cpu["raw"]) * 1e3,
        "full_ms": statistics.median(cpu["full"]) * 1e3,
        "node_gradients_ms": statistics.median(cpu["node_gradients"]) * 1e3,
        "full_ratio": ratio("full"),
        "node_gradients_ratio": ratio("node_gradients"),
        "node_gradients_over_full": statistics.median(a / b for a, b in zip(cpu["node_gradients"], cpu["full"])),
    }


def run(cases=CASES, rounds: int = 15, block: int = 4) -> list[dict]:
    return [measure(name, batch, rounds, block) for name, batch in cases]


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
    args = parser.parse_args(argv)
    print(format_table(run(rounds=args.rounds, block=args.block)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
