"""Benchmark: one recorded training iteration against the same iteration as a raw torch loop.

The raw loop is the tutorial's::

    optimizer.zero_grad(); output = net(input); loss = criterion(output, target)
    loss.backward(); optimizer.step()

on the same model (same spec, same seed), the same batch (``RandomData``,
fixed), MSE and SGD. The recorded iteration is
``TrainingSession(record="full" | "light").run_iteration()``.

Timing: CPU time of the benchmark's thread (``time.thread_time``), with one
torch thread, so every op, backward included, runs on that thread and time
spent waiting while other processes run does not count (they still share
caches, and on SMT machines a core, so some noise is left); the wall-clock
ratios are reported too. The three variants run in short blocks, round-robin; each
round gives a ratio of blocks that ran next to each other, and the reported
ratio is the median of those per-round ratios.

What the recording costs is read from per-phase CPU times (the sessions are
stepped with ``advance()``, one phase per call, which is what
``run_iteration`` does) at both levels, plus one directly timed parameter
snapshot:

    bookkeeping   light - raw: what every level pays (batch fetch, gradient
                  norms, NaN/Inf checks, the phase machinery)
    graph         full - light in forward + loss: the module-hook recorder
                  that assigns modules, and building the autograd graph
    trace         full - light in backward, minus one snapshot: a hook per
                  autograd Node with a gradient norm each, and detaching
    snapshots     full - light in zero_grad + step, plus the gradient copy
                  inside backward (timed directly; same size as a parameter copy)

    python bench/training.py [--rounds 25] [--block 8] [--threads 1]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import gradviz  # noqa: E402
from gradviz.core.data import VALUES, RandomData  # noqa: E402
from gradviz.core.session import PHASES, TrainingSession  # noqa: E402

TARGET = 1.5
LR = 0.01
# (preset, batch): the budget's two models at batch 64, and resnet_tiny at its
# own preset batch (2), where almost nothing is computed and the recording's
# fixed per-iteration cost shows most.
CASES = (("lenet", 64), ("resnet_tiny", 64), ("resnet_tiny", None))


def _spec(name: str, batch: int | None):
    spec = gradviz.presets.load(name)
    if batch is not None:
        spec = dataclasses.replace(spec, input_shape=(batch, *spec.input_shape[1:]))
    return spec


def _clock() -> tuple[float, float]:
    """(wall, CPU time of this thread). With one torch thread all of an
    iteration's work, backward included, runs on the calling thread, so its
    CPU time is what the iteration costs, whatever else the machine runs."""
    return time.perf_counter(), time.thread_time()


def _raw_block(step: Callable[[], object], n: int) -> tuple[float, float, dict]:
    """(wall, cpu) seconds per call over ``n`` back-to-back calls, and no phases."""
    wall, cpu = _clock()
    for _ in range(n):
        step()
    end_wall, end_cpu = _clock()
    return (end_wall - wall) / n, (end_cpu - cpu) / n, {}


def _session_block(session: TrainingSession, n: int) -> tuple[float, float, dict]:
    """Like :func:`_raw_block` for ``n`` whole iterations, run phase by phase
    (``advance()``, what ``run_iteration`` does) to time each phase's CPU."""
    phase_cpu = dict.fromkeys(PHASES, 0.0)
    wall = time.perf_counter()
    for _ in range(n):
        for phase in PHASES:
            start = time.thread_time()
            session.advance()
            phase_cpu[phase] += time.thread_time() - start
    wall = (time.perf_counter() - wall) / n
    return wall, sum(phase_cpu.values()) / n, {phase: t / n for phase, t in phase_cpu.items()}


def _snapshot_seconds(model: nn.Module, repeats: int = 20) -> float:
    """Median CPU time of one copy of all parameters, the way a full record takes it."""
    try:  # the session's own snapshot, so a faster one shows up here too
        from gradviz.core.session import _snapshot
    except ImportError:  # pragma: no cover - renamed: time the equivalent copy
        def _snapshot(tensors):
            return {name: t.detach().to("cpu", copy=True) for name, t in tensors.items()}
    named = dict(model.named_parameters())
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        _snapshot(named)
        times.append(time.thread_time() - start)
    return statistics.median(times)


def measure(name: str, batch: int | None, rounds: int = 25, block: int = 8, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    spec = _spec(name, batch)

    def session(level: str) -> TrainingSession:
        return TrainingSession(spec, loss="mse", optimizer="sgd", lr=LR, data=RandomData(seed=0),
                               seed=0, record=level, max_history=10)

    full, light = session("full"), session("light")
    model = gradviz.build_model(spec, seed=0)
    model.train()
    inputs, targets = RandomData(seed=0).batch(spec.input_shape, full.output_shape, VALUES)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    criterion = nn.MSELoss()

    def raw() -> None:
        optimizer.zero_grad()
        output = model(inputs)
        loss = criterion(output, targets)
        loss.backward()
        optimizer.step()

    variants = {
        "raw": lambda n: _raw_block(raw, n),
        "full": lambda n: _session_block(full, n),
        "light": lambda n: _session_block(light, n),
    }
    for block_of in variants.values():  # warm-up: first-call costs (torch.optim's imports), allocator
        block_of(3)

    wall: dict[str, list[float]] = {key: [] for key in variants}
    cpu: dict[str, list[float]] = {key: [] for key in variants}
    phases: dict[str, dict[str, list[float]]] = {"full": {p: [] for p in PHASES}, "light": {p: [] for p in PHASES}}
    order = list(variants)
    for r in range(rounds):
        # rotate the order so no variant always runs right after the same one
        for key in order[r % 3:] + order[:r % 3]:
            w, c, per_phase = variants[key](block)
            wall[key].append(w)
            cpu[key].append(c)
            for phase, seconds in per_phase.items():
                phases[key][phase].append(seconds)

    def ratios(times: dict[str, list[float]], key: str) -> list[float]:
        return [a / b for a, b in zip(times[key], times["raw"])]

    ms = {key: statistics.median(values) * 1e3 for key, values in cpu.items()}
    phase_ms = {level: {p: statistics.median(v) * 1e3 for p, v in per.items()} for level, per in phases.items()}

    def paired_ms(more: Callable[[int], float], less: Callable[[int], float]) -> float:
        # median over rounds of a difference of neighbouring blocks: steadier
        # than a difference of two medians taken over different moments
        return statistics.median(more(r) - less(r) for r in range(rounds)) * 1e3

    def phase_sum(level: str, names: tuple[str, ...]) -> Callable[[int], float]:
        return lambda r: sum(phases[level][p][r] for p in names)

    def delta(*names: str) -> float:
        return paired_ms(phase_sum("full", names), phase_sum("light", names))
    snapshot_ms = _snapshot_seconds(model) * 1e3
    graph = full.history[-1].graph
    full_ratio = statistics.median(ratios(cpu, "full"))
    light_ratio = statistics.median(ratios(cpu, "light"))
    return {
        "model": name,
        "batch": spec.input_shape[0],
        "input_shape": list(spec.input_shape),
        "params": sum(p.numel() for p in model.parameters()),
        "graph_nodes": graph.number_of_nodes() if graph is not None else None,
        "threads": threads,
        "rounds": rounds,
        "block": block,
        "clock": "thread CPU time",
        "raw_ms": ms["raw"],
        "full_ms": ms["full"],
        "light_ms": ms["light"],
        "full_ratio": full_ratio,
        "light_ratio": light_ratio,
        # spread of the per-round ratios: how far to trust the medians
        "full_ratio_range": [min(ratios(cpu, "full")), max(ratios(cpu, "full"))],
        "light_ratio_range": [min(ratios(cpu, "light")), max(ratios(cpu, "light"))],
        # the same on the wall clock: includes waiting for the CPU on a busy machine
        "full_ratio_wall": statistics.median(ratios(wall, "full")),
        "light_ratio_wall": statistics.median(ratios(wall, "light")),
        "raw_wall_ms": statistics.median(wall["raw"]) * 1e3,
        "phases_full_ms": phase_ms["full"],
        "phases_light_ms": phase_ms["light"],
        "cost_ms": {
            "bookkeeping": paired_ms(lambda r: cpu["light"][r], lambda r: cpu["raw"][r]),
            "graph": delta("forward", "loss"),
            "trace": delta("backward") - snapshot_ms,
            "snapshots": delta("zero_grad", "step") + snapshot_ms,
        },
        "snapshot_ms": snapshot_ms,
        "meets_full": full_ratio <= TARGET,
        "meets_light": light_ratio <= TARGET,
    }


def run(cases=CASES, rounds: int = 25, block: int = 8, threads: int = 1) -> list[dict]:
    """One row per ``(preset, batch)``; ``batch`` None keeps the preset's own."""
    return [measure(name, batch, rounds, block, threads) for name, batch in cases]


def format_table(rows: list[dict]) -> str:
    header = (f"{'model':<12}{'batch':>6}{'nodes':>6}{'raw ms':>9}{'full ms':>9}{'light ms':>9}"
              f"{'full x':>8}{'light x':>8}  cost of full over raw, ms")
    lines = [header, "-" * len(header)]
    for r in rows:
        cost = ", ".join(f"{k} {v:.2f}" for k, v in r["cost_ms"].items())
        lines.append(
            f"{r['model']:<12}{r['batch']:>6}{r['graph_nodes'] or 0:>6}{r['raw_ms']:>9.2f}{r['full_ms']:>9.2f}"
            f"{r['light_ms']:>9.2f}{r['full_ratio']:>8.2f}{r['light_ratio']:>8.2f}  {cost}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--block", type=int, default=8, help="iterations per timed block")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadiest on a shared machine)")
    args = parser.parse_args(argv)
    print(format_table(run(rounds=args.rounds, block=args.block, threads=args.threads)))
    print(f"\ntarget: recorded / raw <= {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
