"""Run files: crash safety, reading while a writer appends, and RunFileError on bad files."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import gradviz
from gradviz.core.runfile import SCHEMA_VERSION, RunFileError, tensor_bytes, tensor_from_bytes

ROOT = Path(__file__).resolve().parents[1]

# A training loop that never ends on its own: it reports each iteration it
# completed ("done N", after run.step returned) and keeps going until killed.
WRITER = textwrap.dedent("""
    import sys, torch
    from torch import nn
    import gradviz
    torch.set_num_threads(1)
    model = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    run = gradviz.watch(model, optimizer, path=sys.argv[1], params="all")
    i = 0
    while True:
        optimizer.zero_grad()
        loss = model(torch.randn(64, 32)).pow(2).mean()
        loss.backward()
        optimizer.step()
        run.step(loss)
        print("done", i, flush=True)
        i += 1
""")


def _start_writer(path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)


def _wait_for_iteration(writer: subprocess.Popen, n: int) -> int:
    """Block until the writer reports iteration ``n`` (or later) done; return the last one reported."""
    for line in writer.stdout:
        done = int(line.split()[1])
        if done >= n:
            return done
    raise AssertionError(f"the writer ended before iteration {n} (exit code {writer.wait()})")


def test_reader_sees_new_iterations_while_the_writer_appends_and_a_killed_writer_leaves_every_complete_one(tmp_path):
    path = tmp_path / "live.gvrun"
    writer = _start_writer(path)
    try:
        reported = _wait_for_iteration(writer, 2)
        run = gradviz.open_run(path)  # while it is being written
        assert set(range(reported + 1)) <= set(run.indices())
        seen = len(run)
        reported = _wait_for_iteration(writer, seen + 3)
        new = run.refresh()
        assert [r.index for r in new][:reported + 1 - seen] == list(range(seen, reported + 1))
        assert all(r.params_after and r.grads for r in new)
        # kill -9 while it runs on: likely in the middle of an iteration
        reported = _wait_for_iteration(writer, reported + 3)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=60)
        reported = max([reported] + [int(line.split()[1]) for line in writer.stdout.read().split("\n") if line])
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=60)
        writer.stdout.close()
    run.refresh()
    run.close()
    with gradviz.open_run(path) as after:
        indices = after.indices()
        # every iteration it reported complete is there, and only whole iterations
        assert indices == list(range(len(indices))) and len(indices) >= reported + 1
        for record in after.records():
            assert set(record.params_after) == set(after.param_names)
            assert record.loss is not None and record.grad_norms


def test_tensors_round_trip_as_raw_bytes_in_every_dtype():
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool):
        tensor = (torch.arange(6) % 3).reshape(2, 3).to(dtype)
        assert torch.equal(tensor_from_bytes(*tensor_bytes(tensor)), tensor)
    scalar = torch.tensor(2.5)
    assert tensor_from_bytes(*tensor_bytes(scalar)).shape == ()


def _small_run(path: Path) -> Path:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer, path) as run:
        for _ in range(3):
            optimizer.zero_grad()
            loss = model(torch.randn(4, 3)).sum()
            loss.backward()
            optimizer.step()
            run.step(loss)
    return path


def test_a_finished_run_is_one_self_contained_file(tmp_path):
    path = _small_run(tmp_path / "one.gvrun")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.gvrun"]
    moved = tmp_path / "moved.gvrun"
    path.rename(moved)
    assert gradviz.open_run(moved).indices() == [0, 1, 2]


def test_missing_file_is_a_run_file_error(tmp_path):
    with pytest.raises(RunFileError, match="no such run file"):
        gradviz.open_run(tmp_path / "nope.gvrun")


def test_a_text_file_is_not_a_run_file(tmp_path):
    path = tmp_path / "notes.gvrun"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(RunFileError, match="not a gradviz run file"):
        gradviz.open_run(path)


def test_another_sqlite_database_is_not_a_run_file(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE people(name TEXT)")
    conn.close()
    with pytest.raises(RunFileError, match="not a gradviz run file"):
        gradviz.open_run(path)


def test_a_future_version_asks_for_an_upgrade(tmp_path):
    path = _small_run(tmp_path / "future.gvrun")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(SCHEMA_VERSION + 1),))
    conn.close()
    with pytest.raises(RunFileError, match="newer gradviz.*upgrade"):
        gradviz.open_run(path)


def test_a_truncated_file_is_a_run_file_error(tmp_path):
    path = _small_run(tmp_path / "cut.gvrun")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RunFileError, match="truncated|corrupt"):
        with gradviz.open_run(path) as run:
            run.records()


def test_a_corrupt_file_is_a_run_file_error(tmp_path):
    path = _small_run(tmp_path / "bad.gvrun")
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)  # every page after the first overwritten
    path.write_bytes(bytes(data))
    with pytest.raises(RunFileError):
        with gradviz.open_run(path) as run:
            run.records()


def test_a_corrupt_tensor_is_a_run_file_error(tmp_path):
    path = _small_run(tmp_path / "tensor.gvrun")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tensors SET data = x'0102' WHERE iteration = 1")
    conn.close()
    with gradviz.open_run(path) as run:
        assert run.record(0).params_after
        with pytest.raises(RunFileError, match="iteration 1"):
            run.record(1)


def test_iterations_since_and_reading_by_position(tmp_path):
    path = _small_run(tmp_path / "pos.gvrun")
    with gradviz.open_run(path) as run:
        assert [r.index for r in run.iterations_since(0)] == [1, 2]
        assert run[-1].index == 2 and run.refresh() == []
        with pytest.raises(KeyError):
            run.record(7)


@pytest.mark.parametrize("damage, fragment", [
    ("UPDATE meta SET value = 'abc' WHERE key = 'every'", "recording interval 'every' is 'abc'"),
    ("UPDATE meta SET value = '0' WHERE key = 'every'", "recording interval 'every' is '0'"),
    ("UPDATE meta SET value = 'weird' WHERE key = 'level'", "record level is 'weird'"),
    ("UPDATE iterations SET loss = 'abc'", "unreadable data"),
])
def test_a_damaged_run_file_is_a_run_file_error_naming_the_damage(tmp_path, damage, fragment):
    """A damaged value reached the user as a bare ValueError ("invalid literal for int()")
    from whichever property read it first, or was shown as it was (level 'weird')."""
    from gradviz.cli import main

    path = _small_run(tmp_path / "run.gvrun")
    with sqlite3.connect(path) as conn:
        conn.execute(damage)
    with pytest.raises(RunFileError, match=fragment):
        with gradviz.open_run(path) as run:
            run.losses()
            run.every
    assert main(["view", "--summary", str(path)]) == 2
