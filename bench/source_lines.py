"""Benchmark: what capturing each op's source line (gradviz.core.source_lines) costs.

Two comparisons, each against peers measured in the same process, round-robin
in short blocks (median of per-round ratios; CPU time of this thread with one
torch thread, as bench/training.py):

* **In a recorded iteration**: ``TrainingSession(record="full")`` with
  ``source_lines`` off and on, against the raw torch loop (zero_grad, forward,
  loss, backward, SGD step) on the same model and batch. The budget is the
  capture may cost at most 1.5× a full record (``source/full``); it is on by
  default because it stays far below that, and costs nothing at all for
  spec-built models, whose ops come from gradviz and torch code (no user line
  to capture). The raw ratios show where the full record itself stands
  against the README's ≤ 1.5× raw budget.
* **The mechanism**: the raw loop's forward + loss under a
  :class:`~gradviz.core.source_lines.SourceRecorder`, and under anomaly mode
  (``torch.autograd.set_detect_anomaly(True)``, which stores a formatted
  traceback in every Node's ``metadata["traceback_"]``), against the bare one.

Models: LeNet (batch 64), the opened-model example TinyTransformer (2 layers,
2 × 16 tokens; many small ops, where per-op costs show most) and a deep MLP of
tiny layers (batch 2: nearly nothing but per-op overhead).

    python bench/source_lines.py [--rounds 15] [--block 5]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gradviz  # noqa: E402
from gradviz.core.source_lines import SourceRecorder  # noqa: E402
from gradviz.core.session import TrainingSession  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BUDGET = 1.5  # full record + source lines vs full record (README Performance)


def _transformer():
    spec = importlib.util.spec_from_file_location("bench_transformer_block", ROOT / "examples" / "transformer_block.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    return module.TinyTransformer(n_layers=2), torch.randint(0, 100, (2, 16))


def _mlp():
    torch.manual_seed(0)
    layers = []
    for _ in range(20):
        layers += [nn.Linear(8, 8), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(8, 4)), torch.randn(2, 8)


def _lenet():
    spec = gradviz.presets.load("lenet")
    model = gradviz.build_model(spec, seed=0)
    torch.manual_seed(0)
    return model, torch.randn(64, *spec.input_shape[1:])


CASES = {"lenet b64": _lenet, "transformer 2x16": _transformer, "mlp20 b2": _mlp}


def _loss_of(output):
    output = output.float()
    return (output * output).mean()


def _time(fn, n: int) -> float:
    start = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - start) / n


def measure(name: str, rounds: int, block: int) -> dict:
    model, x = CASES[name]()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

    def raw():
        optimizer.zero_grad()
        _loss_of(model(x)).backward()
        optimizer.step()

    def forward():
        with torch.enable_grad():
            return _loss_of(model(x))

    def with_sources():
        with SourceRecorder():
            return forward()

    def with_anomaly():
        with torch.autograd.set_detect_anomaly(True, check_nan=False):
            return forward()

    sessions = {}
    for flag in (False, True):
        session = TrainingSession(model, inputs=x, loss=lambda out, target: _loss_of(out), lr=1e-4, record="full",
                                  max_history=2)
        session.source_lines = flag
        sessions[flag] = session

    variants = {
        "raw": raw,
        "full": sessions[False].run_iteration,
        "full+source": sessions[True].run_iteration,
        "forward": forward,
        "forward+source": with_sources,
        "forward+anomaly": with_anomaly,
    }
    for fn in variants.values():  # warm up
        fn()
    ratios: dict[str, list[float]] = {
        k: [] for k in ("full", "full+source", "source/full", "forward+source", "forward+anomaly")
    }
    for _ in range(rounds):
        t = {k: _time(fn, block) for k, fn in variants.items()}
        ratios["full"].append(t["full"] / t["raw"])
        ratios["full+source"].append(t["full+source"] / t["raw"])
        ratios["source/full"].append(t["full+source"] / t["full"])
        ratios["forward+source"].append(t["forward+source"] / t["forward"])
        ratios["forward+anomaly"].append(t["forward+anomaly"] / t["forward"])
    graph = sessions[True].history[-1].graph if len(sessions[True].history) else None
    ops = sum(1 for _, a in graph.nodes(data=True) if a.get("kind") == "op") if graph is not None else 0
    with_source = sum(1 for _, a in graph.nodes(data=True) if a.get("source")) if graph is not None else 0
    return {"case": name, "ops": ops, "ops_with_source": with_source,
            **{k: round(statistics.median(v), 3) for k, v in ratios.items()}}


def run(rounds: int = 15, block: int = 5) -> list[dict]:
    torch.set_num_threads(1)
    return [measure(name, rounds, block) for name in CASES]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=5)
    args = parser.parse_args(argv)
    rows = run(args.rounds, args.block)
    for row in rows:
        within = "yes" if row["source/full"] <= BUDGET else "no"
        print(f"{row['case']:>18}: full+source {row['source/full']:.2f}x full (within {BUDGET}x: {within}); "
              f"full {row['full']:.2f}x raw, full+source {row['full+source']:.2f}x raw; forward+source {row['forward+source']:.2f}x, "
              f"forward+anomaly {row['forward+anomaly']:.2f}x bare forward; "
              f"{row['ops_with_source']}/{row['ops']} ops with a source line")
    print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
