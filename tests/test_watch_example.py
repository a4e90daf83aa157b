"""examples/train_watch.py runs, and ``gradviz view --summary`` summarises what it recorded."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import gradviz
from gradviz.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        path = tmp_path_factory.mktemp("runs") / "digits.gvrun"
        accuracy = _example("train_watch").train(str(path), epochs=1)
    finally:
        torch.set_num_threads(threads)
    return path, accuracy


def test_train_watch_example_learns_and_records_every_iteration(digits_run):
    path, accuracy = digits_run
    assert accuracy > 0.5  # one epoch of a real loop on digits; chance is 0.1
    with gradviz.open_run(path) as run:
        steps = -(-int(0.8 * 1797) // 64)
        assert run.indices() == list(range(steps))
        lrs = [r.lr for r in run.records()]
        assert lrs[0] < max(lrs) and lrs[-1] < max(lrs)  # the one-cycle schedule, as the steps used it
        assert run.recorded_params == ["conv1.weight", "conv1.bias", "fc2.weight", "fc2.bias"]
        losses = [loss for _, loss in run.losses()]
        assert losses[-1] < losses[0]


def test_view_prints_a_summary_of_the_run(digits_run, capsys):
    path, _ = digits_run
    assert main(["view", "--summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert "DigitsNet, optimizer AdamW, level full" in out
    assert "iterations  23 recorded (0 … 22)" in out
    assert "loss        first" in out and "min" in out
    assert "whole tensors for 4: conv1.weight, conv1.bias, fc2.weight, fc2.bias" in out
    assert "1 structure(s)" in out


def test_view_of_a_non_run_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    path.write_text("not a run\n" * 50)
    assert main(["view", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"gradviz: error: {path} is not a gradviz run file (not a SQLite database)"]
