"""Benchmark: what gradient health costs a recorded iteration.

Two costs, each against its peer measured in the same run:

* ``relu``: the full record level reads every ReLU's saved output after the
  loss (``record.relu``, for dead units). Peer: the same full iteration with
  that read switched off. Reported as the ratio of the two (≈1.0 means free),
  and, steadier on a busy machine, the read timed alone on a live graph of
  the same model and batch, as a fraction of the iteration.
* ``diagnose``: computing ``record.diagnostics`` (once per record, when the
  Diagnostics panel shows it; the norms of the parameter copies dominate).
  Peer: the full iteration that made the record. Reported as a fraction of it.

Timing: CPU time of this thread, one torch thread, blocks of iterations
alternating between the variants; medians of per-round ratios.

    python bench/diagnostics.py [--rounds 15] [--block 6]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gradviz import presets  # noqa: E402
from gradviz.core import diagnostics  # noqa: E402
from gradviz.core.data import VALUES, RandomData  # noqa: E402
from gradviz.core.session import TrainingSession  # noqa: E402

CASES = (("lenet", 64), ("resnet_tiny", 64), ("resnet_tiny", None))


def _session(name: str, batch: int | None) -> TrainingSession:
    spec = presets.load(name)
    if batch is not None:
        spec = dataclasses.replace(spec, input_shape=(batch, *spec.input_shape[1:]))
    return TrainingSession(spec, data=RandomData(seed=0), record="full", max_history=10)


def _block(session: TrainingSession, n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        session.run_iteration()
    return (time.thread_time() - start) / n


def measure(name: str, batch: int | None, rounds: int = 15, block: int = 6) -> dict:
    torch.set_num_threads(1)
    with_relu, without = _session(name, batch), _session(name, batch)
    real = diagnostics.relu_activity  # the session looks it up on this module at every iteration

    def off(graph):
        return []

    times: dict[str, list[float]] = {"with": [], "without": []}
    for r in range(rounds + 1):
        for key in (("with", "without") if r % 2 else ("without", "with")):
            diagnostics.relu_activity = real if key == "with" else off
            try:
                seconds = _block(with_relu if key == "with" else without, block)
            finally:
                diagnostics.relu_activity = real
            if r:  # round 0 warms up
                times[key].append(seconds)
    relu_ratio = statistics.median(a / b for a, b in zip(times["with"], times["without"]))
    # The read itself, timed directly on a live graph of the same model and batch: steadier than
    # the ratio of two whole iterations on a busy machine.
    from gradviz.core.graph import autograd_graph

    inputs, targets = RandomData(seed=0).batch(with_relu.input_shape, with_relu.output_shape, VALUES)
    loss = torch.nn.functional.mse_loss(with_relu.model(inputs), targets)
    graph = autograd_graph(loss, with_relu.model)
    read_s = []
    for _ in range(30):
        start = time.thread_time()
        real(graph)
        read_s.append(time.thread_time() - start)
    records = list(with_relu.history)
    diagnose_s = []
    for record in records:
        start = time.thread_time()
        diagnostics.diagnose(record)
        diagnose_s.append(time.thread_time() - start)
    iteration_s = statistics.median(times["with"])
    return {
        "model": name, "batch": with_relu.input_shape[0], "relus": len(records[-1].relu),
        "iteration_ms": iteration_s * 1e3, "relu_ratio": relu_ratio,
        "relu_read_ms": statistics.median(read_s) * 1e3,
        "relu_read_fraction": statistics.median(read_s) / iteration_s,
        "diagnose_ms": statistics.median(diagnose_s) * 1e3,
        "diagnose_fraction": statistics.median(diagnose_s) / iteration_s,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=6)
    args = parser.parse_args(argv)
    print(f"{'model':<12}{'batch':>6}{'relus':>6}{'iter ms':>9}{'relu x':>8}{'read ms':>9}{'of iter':>9}"
          f"{'diagnose ms':>13}{'of iter':>9}")
    for name, batch in CASES:
        r = measure(name, batch, args.rounds, args.block)
        print(f"{r['model']:<12}{r['batch']:>6}{r['relus']:>6}{r['iteration_ms']:>9.2f}{r['relu_ratio']:>8.3f}"
              f"{r['relu_read_ms']:>9.3f}{r['relu_read_fraction']:>9.1%}"
              f"{r['diagnose_ms']:>13.2f}{r['diagnose_fraction']:>9.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
