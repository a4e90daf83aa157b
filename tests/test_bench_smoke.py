"""Smoke test of the benchmark suite (``python -m bench``): every benchmark
imports and its ``run()`` works on the tiniest size, and the runner's
one-process-per-job protocol and summary work.

No timing is asserted: the numbers are only meaningful from the suite itself
(ratios against peers, on a quiet machine). Marked ``slow``: it starts a few
interpreters (the runner's child process, the start-up benchmark's windows),
about 15 s in all on two idle cores; it still runs in the normal suite and in CI.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

# bench/ is not an installed package: a plain ``pytest`` does not put the
# repository root on sys.path (``python -m pytest`` would).
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

pytestmark = [pytest.mark.slow, pytest.mark.bench]


def test_graph_extract_runs():
    pytest.importorskip("torchviz", reason="the peer of this benchmark: pip install -e '.[bench]'")
    from bench import graph_extract

    [row] = graph_extract.run(sizes=(30,), models=("mlp",), repeats=1)
    assert row["nodes"] > 0 and row["ratio"] > 0


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_layout_runs():
    from bench import layout

    rows = layout.run(sizes=(), dot_timeout=60, log=None)
    assert rows and all(row["ours_s"] >= 0 and row["dot_s"] for row in rows)


@pytest.mark.gui
def test_graph_view_runs():
    from bench import graph_view

    [row] = graph_view.run(sizes=(100,), repeats=1, real=False)
    assert row["nodes"] >= 100 and row["build_ms"] >= 0


def test_training_runs():
    from bench import training

    [row] = training.run(cases=(("resnet_tiny", None),), rounds=1, block=1)
    assert row["raw_ms"] > 0 and row["full_ratio"] > 0 and row["light_ratio"] > 0
    assert set(row["cost_ms"]) == {"bookkeeping", "graph", "trace", "snapshots"}


def test_watch_runs():
    from bench import watch

    [row] = watch.run(cases=("lenet",), batch=2, rounds=1, block=1)
    assert row["raw_ms"] > 0 and row["light_ratio"] > 0 and row["full_ratio"] > 0
    assert row["recorded_iterations"] == 4 and row["graph_nodes"] > 0


def test_watch_extras_runs():
    from bench import watch_extras

    [row] = watch_extras.run(cases=("mlp",), batch=2, rounds=1, block=1)
    assert row["relus"] == 3 and row["both_ms"] > 0 and row["relu_vs_base"] > 0


def test_memory_runs_and_history_is_bounded():
    from bench import memory

    [row] = memory.run(iterations=12, max_history=5)
    assert row["late"]["kept"] == 5
    assert row["tensor_growth_after_full"] <= 0  # exact: no record leaks tensors


@pytest.mark.gui
def test_startup_runs():
    from bench import startup

    [row] = startup.run(runs=1, warm=False)
    assert row["gradviz_s"] > 0 and row["bare_torch_qt_s"] > 0


def test_runner_jobs_child_and_summary(tmp_path):
    from bench import run

    for quick in (False, True):
        job_list = run.jobs(quick)
        assert len({job.name for job in job_list}) == len(job_list)
        for job in job_list:
            assert callable(getattr(__import__(f"bench.{job.module}", fromlist=["run"]), "run")), job.name

    # what a job's own process does, run here (a fresh interpreter would
    # import torch again: seconds, for nothing the other tests do not cover)
    out = tmp_path / "rows.json"
    kwargs = {"iterations": 12, "max_history": 5}
    assert run._child("memory", dict(kwargs), str(out), None) == 0
    entry = {"module": "memory", "kwargs": kwargs, "status": "ok", "rows": json.loads(out.read_text())}
    results = {"machine": run.machine(), "benchmarks": {"memory tiny": entry}}
    results["budgets"] = run.budgets(results)
    assert [line["met"] for line in results["budgets"]] == [True]
    json.dumps(results)  # what results.json holds
    assert "| What |" in run.format_markdown(results)
    assert "memory" in run.format_text(results)


def test_runner_kills_a_job_past_its_limit():
    from bench import run

    entry = run.run_job(run.Job("too slow", "memory", {"iterations": 10**6}), 0.5)
    assert entry["status"] == "timeout" and entry["rows"] == []
