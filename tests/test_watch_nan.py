"""gradviz.watch in loops made to fail: where NaN/Inf started, searched once, kept in the run file
and linked to the stored graph; and dead ReLU units counted for run-file records."""
from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import gradviz
from gradviz.core.diagnostics import DEAD_UNITS
from gradviz.core.nan_origin import BACKWARD, FORWARD, PARAMETER
from gradviz.core.watch import RecordingStoppedWarning
from gradviz.core.watch_nan import LOSS

pytestmark = pytest.mark.usefixtures("one_torch_thread")
from failing_models import BadBackward, ExpOverflow, NanInBackward, ZeroOverZero  # noqa: E402
from failing_models import line_of as shared_line_of  # noqa: E402

HERE = Path(__file__).resolve()


def line_of(marker: str) -> int:
    return shared_line_of(marker, HERE)


class LogOfZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = torch.relu(self.fc(x) - 100.0)  # all zero
        return torch.log(h)  # @log


class Healthy(nn.Module):
    def __init__(self, bias: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(3, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 2)
        with torch.no_grad():
            self.fc1.bias.fill_(bias)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def mean_loss(output):
    return output.mean()


def _watch(model, path, loss_fn=mean_loss, *, steps=3, lr=0.01, find_nonfinite=True):
    """A plain SGD loop; returns the weights after each optimizer.step(), as the loop saw them
    before run.step (to check the search put them back exactly)."""
    torch.manual_seed(0)
    x = torch.randn(4, 3) * 0.1
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    after = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", RecordingStoppedWarning)
        with gradviz.watch(model, optimizer, path, find_nonfinite=find_nonfinite) as run:
            for _ in range(steps):
                optimizer.zero_grad()
                loss = loss_fn(model(x))  # @lossline
                loss.backward()
                optimizer.step()
                weights = [p.detach().clone() for p in model.parameters()]
                run.step(loss)
                after.append((weights, [p.detach().clone() for p in model.parameters()]))
            assert run.recording and run.iteration == steps  # the training went on and so did the recording
    return gradviz.open_run(path), after


def _same(pairs) -> bool:
    return all(torch.equal(a.nan_to_num(), b.nan_to_num()) and torch.equal(a.isnan(), b.isnan())
               for seen, kept in pairs for a, b in zip(seen, kept))


def _origin(run):
    origin = run.nonfinite_origin()
    assert origin is not None and origin.found, origin
    rows = [r for r in run if r.nonfinite_origin is not None]
    assert [r.index for r in rows] == [origin.iteration]  # searched once per run
    return origin, run.record(origin.iteration)


def test_log_of_zero_inside_the_model(tmp_path):
    run, after = _watch(LogOfZero(), tmp_path / "log.gvrun")
    origin, record = _origin(run)
    assert origin.iteration == 0 and origin.phase == FORWARD and origin.op == "log"
    assert origin.reason.startswith("log of a value ≤ 0")
    assert origin.source.line == line_of("@log")
    assert record.graph.nodes[origin.key]["label"] == "LogBackward0" == origin.label
    assert record.graph.nodes[origin.key]["source"]["line"] == line_of("@log")
    assert any("input 0" in line for line in origin.details)
    assert _same(after)  # the post-step weights are back exactly
    assert "log at test_watch_nan.py" in origin.describe()
    assert len(run) == 3


def test_zero_over_zero(tmp_path):
    run, _ = _watch(ZeroOverZero(), tmp_path / "div.gvrun")
    origin, record = _origin(run)
    assert origin.phase == FORWARD and origin.op == "div"
    assert "0/0" in origin.reason
    assert origin.source.line == line_of("@div")
    assert record.graph.nodes[origin.key]["label"] == "DivBackward0"


def test_exp_overflow(tmp_path):
    run, _ = _watch(ExpOverflow(), tmp_path / "exp.gvrun")
    origin, record = _origin(run)
    assert origin.phase == FORWARD and origin.op == "exp"
    assert origin.reason.startswith("exp overflow: max input 93")
    assert record.graph.nodes[origin.key]["label"] == "ExpBackward0"


def test_learning_rate_so_large_the_weights_overflow(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    # One step with this lr sends the weights to ±Inf: the next forward uses them.
    run, after = _watch(model, tmp_path / "lr.gvrun", lambda out: (out ** 2).mean() * 1e6 + 1.0, lr=1e38)
    origin, record = _origin(run)
    assert origin.iteration == 1  # iteration 0 was finite; its step broke the weights
    assert origin.phase == PARAMETER and origin.op in dict(model.named_parameters())
    assert "learning rate" in origin.reason
    assert record.graph.nodes[origin.key]["name"] == origin.op
    assert _same(after)


def test_custom_function_returning_nan_in_backward(tmp_path):
    run, _ = _watch(BadBackward(), tmp_path / "custom.gvrun")
    origin, record = _origin(run)
    assert origin.phase == BACKWARD and origin.op == "NanInBackwardBackward"
    assert "produced NaN from a finite gradient" in origin.reason
    assert record.graph.nodes[origin.key]["label"] == "NanInBackwardBackward"
    assert origin.source.line == line_of("@custom")


def test_nan_made_in_the_users_loss_code(tmp_path):
    def loss_fn(out):
        return torch.log(out.abs().sum() * 0.0)  # @loss

    run, _ = _watch(Healthy(), tmp_path / "loss.gvrun", loss_fn)
    origin, record = _origin(run)
    assert origin.phase == LOSS and origin.op == "LogBackward0"
    assert origin.reason.startswith("the model's output is finite (")
    assert "the loss your code computed from it is not" in origin.reason
    # The loss's ops ran outside the model's forward, where no source line is recorded: the
    # line named is where the loop assigned the tensor it passed to run.step.
    assert origin.source.line == line_of("@lossline") and origin.source.function == "_watch"
    assert any("last assigned at" in line for line in origin.details)
    assert record.graph.nodes[origin.key]["label"] == "LogBackward0"


def test_nan_made_in_the_users_loss_backward(tmp_path):
    def loss_fn(out):
        return NanInBackward.apply(out).mean()  # @lossbackward

    run, _ = _watch(Healthy(), tmp_path / "lossbw.gvrun", loss_fn)
    origin, record = _origin(run)
    assert origin.phase == BACKWARD and origin.reason.startswith("in your loss's backward")
    assert origin.source.line == line_of("@lossline")
    assert record.graph.nodes[origin.key]["label"] == origin.op == "MeanBackward0"


def test_a_finite_run_stores_no_origin_and_the_switch_turns_the_search_off(tmp_path):
    run, _ = _watch(Healthy(), tmp_path / "ok.gvrun")
    assert run.nonfinite_origin() is None and all(r.nonfinite_origin is None for r in run)
    off, _ = _watch(LogOfZero(), tmp_path / "off.gvrun", find_nonfinite=False)
    assert off.nonfinite_origin() is None
    assert "loss" in off.record(0).nonfinite  # still flagged, just not searched


def test_dead_relu_units_in_run_file_records(tmp_path):
    dead, _ = _watch(Healthy(bias=-50.0), tmp_path / "dead.gvrun", steps=2)
    record = dead.record(0)
    assert [(r.name, r.dead, r.units, r.batch) for r in record.relu] == [("act", 16, 16, 4)]
    assert record.graph.nodes[record.relu[0].key]["label"] == "ReluBackward0"
    flags = record.diagnostics.flags_of(DEAD_UNITS)
    assert len(flags) == 1 and flags[0].nodes == (record.relu[0].key,)

    torch.manual_seed(1)
    healthy, _ = _watch(Healthy(), tmp_path / "alive.gvrun", steps=2)
    relu = healthy.record(0).relu
    assert len(relu) == 1 and relu[0].dead < relu[0].units // 2
    assert not healthy.record(0).diagnostics.flags_of(DEAD_UNITS)


def test_a_file_from_before_these_tables_still_opens(tmp_path):
    path = tmp_path / "old.gvrun"
    _watch(LogOfZero(), path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE relu_activity")
        conn.execute("DROP TABLE nonfinite_origins")
    run = gradviz.open_run(path)
    assert run.nonfinite_origin() is None
    assert run.record(0).relu == [] and run.record(0).nonfinite_origin is None


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, h, shift):
        return torch.log(torch.relu(self.fc(h)) + shift)  # @twice


class TwoCalls(nn.Module):
    """One block called twice, a keyword argument, a dict of two outputs (both used by the loss)."""

    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Linear(3, 2)

    def forward(self, x, *, shift=1.0):
        h = self.block(x, 1.0)
        h = self.block(h * 0.0 - 100.0, shift)  # relu gives 0 everywhere: log(shift) is log(0) when shift=0
        return {"logits": self.head(h), "hidden": h}


def test_a_block_called_twice_with_kwargs_and_dict_outputs_links_the_second_call(tmp_path):
    torch.manual_seed(0)
    model = TwoCalls()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(4, 3)
    with gradviz.watch(model, optimizer, tmp_path / "twice.gvrun") as run:
        for i in range(3):
            optimizer.zero_grad()
            out = model(x, shift=0.0 if i == 1 else 1.0)
            loss = out["logits"].mean() + out["hidden"].mean()
            loss.backward()
            optimizer.step()
            run.step(loss)
    opened = gradviz.open_run(tmp_path / "twice.gvrun")
    origin, record = _origin(opened)
    assert origin.iteration == 1 and origin.phase == FORWARD and origin.op == "log"
    assert origin.source.line == line_of("@twice")
    logs = [k for k in record.creation_order if record.graph.nodes[k]["label"] == "LogBackward0"]
    assert len(logs) == 2 and origin.key == logs[1]  # the second call's log, not the first's


def test_view_summary_names_where_nan_started(tmp_path, capsys):
    from gradviz.cli import main

    path = tmp_path / "summary.gvrun"
    _watch(LogOfZero(), path)
    assert main(["view", "--summary", str(path)]) == 0
    out = capsys.readouterr().out
    line = next(text for text in out.splitlines() if text.startswith("nan origin"))
    assert line.startswith("nan origin  iteration 0 — forward log at test_watch_nan.py:") and "log of a value ≤ 0" in line


def test_damaged_relu_rows_are_a_run_file_error(tmp_path):
    from gradviz.core.runfile import RunFileError

    path = tmp_path / "damaged.gvrun"
    _watch(Healthy(), path, steps=1)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE relu_activity SET data = '[{\"key\": \"n1\"}]'")
    with pytest.raises(RunFileError, match="ReLU activity"):
        gradviz.open_run(path).record(0)


class Dropout(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.drop(self.fc(x))


def test_a_rerun_that_stays_finite_says_so_and_the_training_goes_on(tmp_path):
    # The gradients go bad after backward (a hook the re-run does not see): nothing to find in the model.
    model = Dropout()
    model.fc.weight.register_hook(lambda grad: grad * float("nan"))
    run, _ = _watch(model, tmp_path / "hook.gvrun")
    origin = run.nonfinite_origin()
    assert origin is not None and not origin.found and origin.iteration == 0
    assert "stayed finite" in origin.reason and "not found" in origin.describe()
    assert len(run) == 3


def test_the_search_leaves_the_random_state_and_batchnorm_statistics_as_they_were(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
    torch.manual_seed(0)
    x = torch.randn(8, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with gradviz.watch(model, optimizer, tmp_path / "state.gvrun") as run:
        optimizer.zero_grad()
        loss = torch.log(model(x).sum() * 0.0)  # non-finite: the search runs in run.step
        loss.backward()
        optimizer.step()
        state, stats = torch.random.get_rng_state(), model[1].running_mean.clone()
        run.step(loss)
        assert torch.equal(torch.random.get_rng_state(), state)
        assert torch.equal(model[1].running_mean, stats)
    assert gradviz.open_run(tmp_path / "state.gvrun").nonfinite_origin().phase == LOSS


class ResBlock(nn.Module):
    """torchvision's BasicBlock by hand: one in-place ReLU module called twice, a residual ``+=``."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.layer = nn.Sequential(ResBlock(8), ResBlock(8))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.layer(self.relu(self.stem(x))).mean((2, 3)))


def test_a_hand_built_resnet_counts_every_relu_call_and_names_bad_inputs(tmp_path):
    from gradviz.core.watch_nan import INPUT

    torch.manual_seed(0)
    model = TinyResNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "resnet.gvrun"
    with gradviz.watch(model, optimizer, path) as run:
        for i in range(3):
            x = torch.randn(4, 3, 8, 8)
            if i == 1:
                x[0, 0, 0, 0] = float("nan")  # bad data, not a bad op
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), torch.randint(0, 10, (4,)))
            loss.backward()
            optimizer.step()
            run.step(loss)
    opened = gradviz.open_run(path)
    origin = opened.nonfinite_origin()
    assert origin.iteration == 1 and origin.phase == INPUT and "1 NaN" in origin.details[0]
    record = opened.record(0)
    names = sorted(r.name for r in record.relu)
    assert names == ["layer.0.relu", "layer.0.relu", "layer.1.relu", "layer.1.relu", "relu"]  # each call its own
    assert all(record.graph.nodes[r.key]["label"] == "ReluBackward0" and r.units == 8 * 8 * 8 for r in record.relu)
    assert len({r.key for r in record.relu}) == 5
