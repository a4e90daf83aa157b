"""gradviz.watch under torch.distributed, for real: two processes, gloo on the CPU
(examples/ddp_watch.py), a few iterations, killed if they overrun."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import gradviz

ROOT = Path(__file__).resolve().parents[1]
STEPS = 4
# Generous: two fresh interpreters import torch and sklearn on a shared machine.
# It bounds a hang (a rank stuck in a collective), it does not measure speed.
TIMEOUT_S = 300

pytestmark = pytest.mark.slow


def _run_example(path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # its own session: on a timeout the spawned ranks are killed with it
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "ddp_watch.py"), "--out", str(path), "--steps", str(STEPS)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"two-process DDP run did not finish within {TIMEOUT_S} s")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_ddp_records_every_iteration_once_and_the_ranks_gradients_agree(tmp_path):
    torch_distributed = pytest.importorskip("torch.distributed")
    if not torch_distributed.is_available() or not torch_distributed.is_gloo_available():
        pytest.skip("torch built without the gloo backend")
    path = tmp_path / "ddp.gvrun"
    result = _run_example(path)
    assert result.returncode == 0, result.stderr[-3000:]

    with sqlite3.connect(path) as conn:  # once each: no rank wrote an iteration twice
        counts = conn.execute("SELECT iteration, COUNT(*) FROM iterations GROUP BY iteration").fetchall()
    conn.close()
    assert counts == [(i, 1) for i in range(STEPS)]

    with gradviz.open_run(path) as run:
        assert run.indices() == list(range(STEPS))
        assert run.meta["world_size"] == "2" and run.ranks() == [0, 1]
        records = run.records()
    for record in records:
        assert sorted(record.rank_grad_norms) == [0, 1]
        rank0, rank1 = record.rank_grad_norms[0], record.rank_grad_norms[1]
        assert rank0.keys() == rank1.keys() == record.grad_norms.keys()
        for name in rank0:  # all-reduced: the same gradients on both ranks
            assert rank1[name] == pytest.approx(rank0[name], rel=1e-5)
            assert record.grad_norms[name] == pytest.approx(rank0[name], rel=1e-6)
        # each rank computed its loss on its own shard
        assert record.rank_losses[0] != pytest.approx(record.rank_losses[1])
        assert record.loss == pytest.approx(record.rank_losses[0])
        assert record.graph is not None and record.params_after
