"""Benchmark: memory after 1,000 played iterations against memory after 10.

A ``TrainingSession`` at the full record level (the heavy one: three CPU
copies of the parameters and a graph per record) plays iterations the way the
app's Play button does (``run_iteration`` over and over), keeping the last
``max_history`` records. Memory is read at three checkpoints: after 10
iterations, when the history has just filled up, and after 1,000.

What is counted:
    rss_mb         resident set size (``VmRSS`` in /proc/self/status), after a
                   ``gc.collect()`` and ``malloc_trim`` so freed memory is
                   given back where the allocator can
    tensors        live ``torch.Tensor`` objects the garbage collector sees
    objects        live Python objects (a leaked graph would show here)
    history_mb     bytes of tensor data held by the kept records

Bounded means: the history stops at ``max_history`` records, the live tensor
count does not grow once it is full, and RSS grows by less than the larger of
2 MB and a tenth of the history's own size after it is full. The growth from
10 iterations to a full history is expected (``max_history`` - 10 more
records) and reported next to what the records themselves hold.

    python bench/memory.py [--iterations 1000] [--max-history 50] [--preset lenet]
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import sys
import warnings
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import gradviz  # noqa: E402
from gradviz.core.session import TrainingSession  # noqa: E402

MB = 1024 * 1024
EARLY = 10
# After the history is full RSS may still move a little (allocator pools,
# interned strings): allow this much before calling it growth.
SLACK_MB = 2.0


def rss_mb() -> float:
    """Resident memory of this process in MB, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmRSS in /proc/self/status (not Linux?)")


def _trim() -> None:
    gc.collect()
    try:  # give freed heap pages back, so RSS reflects what is still in use
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _tensor_bytes(value) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    return 0


def _history_bytes(session: TrainingSession) -> int:
    return sum(_tensor_bytes(vars(record)) for record in session.history)


def _live_tensors() -> int:
    # isinstance() on some of torch's deprecated module-level objects warns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sum(1 for obj in gc.get_objects() if isinstance(obj, torch.Tensor))


def _checkpoint(session: TrainingSession) -> dict:
    _trim()
    return {
        "iteration": session.iteration,
        "kept": len(session.history),
        "rss_mb": rss_mb(),
        "tensors": _live_tensors(),
        "objects": len(gc.get_objects()),
        "history_mb": _history_bytes(session) / MB,
    }


def measure(preset: str = "lenet", iterations: int = 1000, max_history: int = 50, record: str = "full") -> dict:
    torch.set_num_threads(1)  # what is measured is memory; one thread keeps it quick and steady
    session = TrainingSession(gradviz.presets.load(preset), loss="mse", optimizer="sgd", lr=0.01,
                              seed=0, max_history=max_history, record=record)
    session.run(EARLY)
    early = _checkpoint(session)
    session.run(max(max_history, EARLY) - session.iteration + 1)  # one past full: the first drop happened
    full = _checkpoint(session)
    session.run(iterations - session.iteration)
    late = _checkpoint(session)

    per_record_mb = full["history_mb"] / max(full["kept"], 1)
    growth_after_full = late["rss_mb"] - full["rss_mb"]
    allowed = max(SLACK_MB, 0.1 * full["history_mb"])
    return {
        "preset": preset,
        "record": record,
        "max_history": max_history,
        "iterations": iterations,
        "early": early,
        "full": full,
        "late": late,
        "record_mb": per_record_mb,
        "rss_growth_10_to_late_mb": late["rss_mb"] - early["rss_mb"],
        # what the extra kept records alone should account for between the two
        "expected_growth_mb": (full["kept"] - early["kept"]) * per_record_mb,
        "rss_growth_after_full_mb": growth_after_full,
        "tensor_growth_after_full": late["tensors"] - full["tensors"],
        "rss_ratio_late_to_early": late["rss_mb"] / early["rss_mb"],
        "bounded": (
            late["kept"] == max_history
            and late["tensors"] <= full["tensors"]
            and growth_after_full <= allowed
        ),
    }


def run(presets=("lenet",), iterations: int = 1000, max_history: int = 50, record: str = "full") -> list[dict]:
    return [measure(name, iterations, max_history, record) for name in presets]


def format_table(rows: list[dict]) -> str:
    header = (f"{'preset':<12}{'hist':>5}{'iters':>6}{'RSS@10':>9}{'RSS@full':>10}{'RSS@end':>9}"
              f"{'rec MB':>8}{'grow after full':>16}{'tensors':>14}  bounded")
    lines = [header, "-" * len(header)]
    for r in rows:
        tensors = f"{r['full']['tensors']}->{r['late']['tensors']}"
        lines.append(
            f"{r['preset']:<12}{r['max_history']:>5}{r['iterations']:>6}{r['early']['rss_mb']:>9.1f}"
            f"{r['full']['rss_mb']:>10.1f}{r['late']['rss_mb']:>9.1f}{r['record_mb']:>8.2f}"
            f"{r['rss_growth_after_full_mb']:>+15.1f} {tensors:>14}  {r['bounded']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--max-history", type=int, default=50)
    parser.add_argument("--preset", nargs="+", default=["lenet"])
    parser.add_argument("--record", choices=("full", "light"), default="full")
    args = parser.parse_args(argv)
    print(format_table(run(args.preset, args.iterations, args.max_history, args.record)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
