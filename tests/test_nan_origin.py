"""Where NaN/Inf starts: models made to fail in each way, and the report pointing at the right op and line."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from gradviz.core.nan_origin import BACKWARD, FORWARD, PARAMETER, find_first_nonfinite
from gradviz.core.session import TrainingSession

from failing_models import BadBackward, ExpOverflow, ZeroOverZero  # noqa: E402
from failing_models import LOGNET_LOG_LINE, LOGNET_SOURCE  # noqa: E402
from failing_models import line_of as shared_line_of  # noqa: E402

HERE = Path(__file__).resolve()


def line_of(marker: str) -> int:
    return shared_line_of(marker, HERE)


class LogOfZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        h = self.act(self.fc(x) - 100.0)  # all zero: relu of very negative values
        return torch.log(h)  # @log


def mean_loss(output):
    return output.mean()


@pytest.fixture
def x():
    torch.manual_seed(0)
    return torch.randn(4, 3) * 0.1


def test_log_of_zero(x):
    torch.manual_seed(0)
    report = find_first_nonfinite(LogOfZero(), x, mean_loss)
    origin = report.first
    assert origin.phase == FORWARD and origin.op == "log"
    assert origin.reason.startswith("log of a value ≤ 0")
    assert origin.source.line == line_of("@log") and origin.source.function == "forward"
    assert origin.inputs[0].zeros == 12 and origin.output.inf == 12
    assert report.graph.nodes[origin.key]["label"] == "LogBackward0"
    assert report.graph.nodes[origin.key]["source"]["line"] == line_of("@log")
    assert report.backward is None  # the forward already went bad


def test_zero_over_zero(x):
    torch.manual_seed(0)
    report = find_first_nonfinite(ZeroOverZero(), x, mean_loss)
    origin = report.first
    assert origin.phase == FORWARD and origin.op == "div"
    assert "division by 0" in origin.reason and "0/0" in origin.reason
    assert origin.source.line == line_of("@div")
    assert report.graph.nodes[origin.key]["label"] == "DivBackward0"
    assert origin.inputs[1].zeros == 4


def test_exp_overflow_names_the_largest_input(x):
    torch.manual_seed(0)
    report = find_first_nonfinite(ExpOverflow(), x, mean_loss)
    origin = report.first
    assert origin.phase == FORWARD and origin.op == "exp"
    assert origin.reason.startswith("exp overflow: max input 93")
    assert origin.source.line == line_of("@exp")
    assert "Inf" in report.summary()


def test_nan_made_in_a_custom_functions_backward(x):
    torch.manual_seed(0)
    report = find_first_nonfinite(BadBackward(), x, mean_loss)
    assert report.forward is None and not report.parameters
    origin = report.first
    assert origin.phase == BACKWARD and origin.op == "NanInBackwardBackward"
    assert report.graph.nodes[origin.key]["label"] == "NanInBackwardBackward"
    assert origin.source.line == line_of("@custom")
    assert origin.inputs[0].nan == 0 and origin.output.nan == 16  # fc1 output: 4 × 4
    assert "produced NaN from a finite gradient" in origin.reason


def test_learning_rate_so_large_the_weights_overflow():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 1))
    session = TrainingSession(model, inputs=torch.randn(16, 8), lr=1e18)
    for _ in range(10):
        session.run_iteration()
        if session.first_nonfinite is not None:
            break
    assert session.first_nonfinite is not None, "the lr should have blown the weights up"
    report = session.find_first_nonfinite()
    origin = report.first
    assert origin is not None
    if origin.phase == PARAMETER:
        assert origin.op in dict(model.named_parameters())
        assert "learning rate" in origin.reason
        assert report.graph.nodes[origin.key]["name"] == origin.op
    else:  # finite but huge weights: the first product that overflows
        assert origin.phase == FORWARD and "overflow" in origin.reason


def test_a_healthy_model_reports_nothing_and_nothing_of_the_callers_changes(x):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model[0].weight.grad = torch.full_like(model[0].weight, 7.0)
    stats = model[1].running_mean.clone()
    state = torch.random.get_rng_state()
    report = find_first_nonfinite(model, x, mean_loss)
    assert not report.found and report.forward is None and report.backward is None
    assert report.summary().startswith("no NaN or Inf")
    assert torch.equal(model[0].weight.grad, torch.full_like(model[0].weight, 7.0))
    assert model[0].bias.grad is None
    assert torch.equal(model[1].running_mean, stats)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_crashing_forward_is_reported_not_raised(x):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(5, 2))
    report = find_first_nonfinite(model, x, mean_loss)
    assert report.error.startswith("RuntimeError") and not report.found


def test_open_model_names_where_nan_started(tmp_path, capsys):
    from gradviz.cli import main

    path = tmp_path / "lognet.py"
    path.write_text(LOGNET_SOURCE)
    code = main(["open-model", str(path), "--inputs", "2, 4", "--steps", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    origin = [line for line in out.splitlines() if line.startswith("nan origin")]
    assert origin[0].startswith(f"nan origin  forward: log at lognet.py:{LOGNET_LOG_LINE} in forward") and "log of a value ≤ 0" in origin[0]


def test_the_session_searches_by_itself_when_an_output_first_turns_nonfinite(x):
    torch.manual_seed(0)
    session = TrainingSession(LogOfZero(), inputs=x)
    assert session.nonfinite_report is None
    session.run_iteration()
    report = session.nonfinite_report
    assert session.first_nonfinite.phase == "forward"
    assert report.first.op == "log" and report.first.source.line == line_of("@log")
    session.clear_nonfinite()
    assert session.nonfinite_report is None


class InPlace(nn.Module):
    """In-place ops overwrite their input: the check must look at it before."""

    def __init__(self, op):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.op = op

    def forward(self, x):
        h = self.fc(x) * 0.0
        if self.op == "log_":
            h.log_()  # @log_
        else:
            h /= h.sum(dim=1, keepdim=True)  # @idiv
        return h


@pytest.mark.parametrize("op, marker, reason", [("log_", "@log_", "log of a value ≤ 0"),
                                                ("idiv", "@idiv", "division by 0: 0/0 gives NaN")])
def test_in_place_ops_are_judged_by_their_inputs_before_the_op(x, op, marker, reason):
    torch.manual_seed(0)
    report = find_first_nonfinite(InPlace(op), x, mean_loss)
    origin = report.first
    assert origin is not None and origin.phase == FORWARD, report.summary()
    assert origin.reason.startswith(reason) and origin.source.line == line_of(marker)
    assert origin.inputs[0].nan == 0 and origin.inputs[0].zeros == 12
