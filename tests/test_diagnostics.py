"""Gradient health (gradviz.core.diagnostics) and record.diagnostics."""
from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from gradviz import presets
from gradviz.core import diagnostics as dg
from gradviz.core.graph import autograd_graph
from gradviz.core.session import TrainingSession

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _mlp(activation, depth: int, width: int = 32, inputs: int = 8) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(width if i else inputs, width), activation()]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _record(model, inputs, **kwargs):
    return TrainingSession(model, inputs=inputs, **kwargs).run_iteration()


def test_deep_sigmoid_mlp_is_flagged_vanishing_with_the_numbers():
    torch.manual_seed(0)
    record = _record(_mlp(nn.Sigmoid, depth=10), torch.randn(16, 8))
    diag = record.diagnostics
    [flag] = diag.flags_of(dg.VANISHING)
    assert diag.depth_ratio < dg.VANISHING_RATIO
    first, last = diag.layer_norms[0], diag.layer_norms[-1]
    assert (first.layer, last.layer) == ("0", "20")
    assert f"{first.norm:.3g}" in flag.message and f"{last.norm:.3g}" in flag.message
    assert f"{dg.VANISHING_RATIO:g}" in flag.message
    assert set(flag.params) == {"0.weight", "0.bias", "20.weight", "20.bias"}
    graph = record.graph
    assert {graph.nodes[k]["name"] for k in flag.nodes} == set(flag.params)


def test_shallow_tanh_mlp_is_not_vanishing():
    torch.manual_seed(0)
    diag = _record(_mlp(nn.Tanh, depth=2), torch.randn(16, 8)).diagnostics
    assert not diag.flags_of(dg.VANISHING)
    assert dg.VANISHING_RATIO < diag.depth_ratio < dg.EXPLODING_RATIO


def test_relu_net_with_large_negative_bias_shows_dead_units():
    torch.manual_seed(0)
    model = _mlp(nn.ReLU, depth=3)
    with torch.no_grad():
        model[2].bias.fill_(-10.0)  # the second hidden layer never fires
    record = _record(model, torch.randn(16, 8))
    diag = record.diagnostics
    [flag] = diag.flags_of(dg.DEAD_UNITS)
    dead = {r.name: r for r in diag.relu}
    assert dead["3"].dead == dead["3"].units == 32 and dead["3"].batch == 16
    assert dead["1"].dead_fraction < 0.5
    assert "3: 32 of 32 units (100%)" in flag.message
    assert record.graph.nodes[flag.nodes[0]]["label"] == "ReluBackward0"
    # Nothing flows back through a dead layer: the layers before it get exactly zero.
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= set(diag.zero_grads)
    assert diag.flags_of(dg.ZERO_GRADIENT)


def test_healthy_lenet_shows_no_flags():
    session = TrainingSession(presets.load("lenet"))
    for _ in range(2):
        record = session.run_iteration()
        diag = record.diagnostics
        assert diag.flags == [], diag.summary()
        assert [ln.layer for ln in diag.layer_norms] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
        assert len(diag.relu) == 4  # F.relu in the built network, seen through autograd's saved result
        assert set(diag.update_ratios) == set(record.params_before) == set(record.grad_norms)
        low, high = dg.UPDATE_RATIO_BAND
        assert low < diag.update_ratios["fc1.weight"] < high


class _WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(4, 3)
        self.unused = nn.Linear(4, 3)
        self.frozen = nn.Linear(3, 2)
        self.frozen.requires_grad_(False)

    def forward(self, x):
        return self.frozen(self.used(x))


def test_unused_and_frozen_parameters_are_flagged_apart():
    record = _record(_WithUnused(), torch.randn(5, 4))
    diag = record.diagnostics
    assert diag.unused == ["unused.weight", "unused.bias"]
    assert diag.frozen == ["frozen.weight", "frozen.bias"]
    messages = [f.message for f in diag.flags_of(dg.NO_GRADIENT)]
    assert messages == [
        "No gradient (not used by the loss): unused.weight, unused.bias",
        "No gradient (frozen, requires_grad=False): frozen.weight, frozen.bias",
    ]
    # Only the used layer has a gradient norm; one layer alone has no depth ratio.
    assert [ln.layer for ln in diag.layer_norms] == ["used"] and diag.depth_ratio is None


class _Shared(nn.Module):
    """A ReLU module called twice, an in-place F.relu, tied weights."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.b.weight = self.a.weight
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.a(x))
        x = self.relu(self.b(x))
        return F.relu(x - 100.0, inplace=True).sum(dim=1, keepdim=True) + x.mean(dim=1, keepdim=True)


def test_relus_called_twice_and_in_place_are_each_seen():
    torch.manual_seed(0)
    record = _record(_Shared(), torch.randn(8, 6))
    diag = record.diagnostics
    assert len(diag.relu) == 3
    assert sorted(r.name for r in diag.relu).count("relu") == 2
    [dead] = diag.flags_of(dg.DEAD_UNITS)  # x - 100 never passes a ReLU
    assert "6 of 6 units" in dead.message
    assert "b.weight" not in record.grad_norms  # tied: counted once, under its first name


def test_relu_activity_reads_a_users_loss_without_running_backward():
    model = _mlp(nn.ReLU, depth=2)
    x = torch.randn(4, 8)
    loss = model(x).sum()
    graph = autograd_graph(loss, model)
    found = dg.relu_activity(graph)
    assert [r.batch for r in found] == [4, 4]
    # No recorder: no module names; named after the layer feeding each ReLU.
    assert sorted(r.name for r in found) == ["ReLU after layer 0", "ReLU after layer 2"]
    assert all(p.grad is None for p in model.parameters())
    loss.backward()  # the graph is still usable: reading saved values frees nothing


def test_exploding_and_update_flags_from_plain_fields():
    record = SimpleNamespace(
        index=3, grad_norms={"a.weight": 500.0, "b.weight": 0.1}, no_grad=[], graph=None,
        params_before={"a.weight": torch.ones(2, 2), "a.bias": torch.zeros(2)},
        params_after={"a.weight": torch.ones(2, 2) * 2, "a.bias": torch.ones(2)},
    )
    diag = dg.diagnose(record)
    assert diag.depth_ratio == pytest.approx(5000.0)
    assert [f.kind for f in diag.flags] == [dg.EXPLODING, dg.UPDATE_TOO_LARGE]
    assert "ratio 5e+03 > 1000" in diag.flags[0].message
    assert diag.update_ratios == {"a.weight": pytest.approx(1.0)}  # a zero bias has no ratio
    assert diag.flags[1].params == ("a.weight",) and diag.flags[1].nodes == ()


def test_light_records_have_norms_but_no_update_ratios():
    session = TrainingSession(presets.load("tiny_mlp"), record="light")
    diag = session.run_iteration().diagnostics
    assert diag.layer_norms and diag.update_ratios == {} and diag.relu == []


def test_diagnostics_over_iterations():
    session = TrainingSession(_WithUnused(), inputs=torch.randn(5, 4))
    session.run(3)
    trend = dg.diagnostics_over(session.history)
    assert trend.iterations == [0, 1, 2]
    assert list(trend.layer_norms) == ["used"] and len(trend.layer_norms["used"]) == 3
    assert all(math.isfinite(v) for v in trend.layer_norms["used"])
    assert set(trend.never_grad) == {"unused.weight", "unused.bias", "frozen.weight", "frozen.bias"}
    assert trend.flag_counts == {dg.NO_GRADIENT: 3}


def test_diagnostics_is_computed_once_per_record():
    record = TrainingSession(presets.load("tiny_mlp")).run_iteration()
    assert record.diagnostics is record.diagnostics


def test_records_read_back_from_a_watched_run_have_diagnostics(tmp_path):
    import gradviz

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1), nn.Linear(1, 1))
    model[3].requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    path = tmp_path / "run.gvrun"
    with gradviz.watch(model, optimizer, path=path, level="full", params="all") as run:
        for _ in range(2):
            optimizer.zero_grad()
            loss = model(torch.randn(16, 4)).pow(2).mean()
            loss.backward()
            optimizer.step()
            run.step(loss)
    diag = gradviz.open_run(path)[-1].diagnostics
    assert [ln.layer for ln in diag.layer_norms] == ["0", "2"]
    assert set(diag.update_ratios) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    # counted by the watcher at the forward's end, while autograd still held the ReLU's output
    assert [(r.name, r.units, r.batch) for r in diag.relu] == [("1", 8, 16)] and diag.relu[0].dead < 8
    # A run file does not say which parameters were frozen: the flag names both causes.
    assert diag.no_grad == ["3.weight", "3.bias"] and diag.frozen == diag.unused == []
    assert [f.message for f in diag.flags] == ["No gradient (frozen, or not used by the loss): 3.weight, 3.bias"]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("units", [12, 40_000])  # below and above COUNT_NONZERO_LIMIT
def test_dead_units_counted_exactly_for_small_and_large_outputs(batch, units):
    torch.manual_seed(0)
    x = torch.randn(batch, units).abs() + 0.1
    x[:, : units // 4] = -1.0  # a quarter of the units dead for every sample
    x[0, units // 4] = -1.0  # dead in one sample only: still live when the batch has others
    leaf = x.clone().requires_grad_(True)
    loss = torch.relu(leaf * 1.0).sum()
    [found] = dg.relu_activity(autograd_graph(loss, {}))
    assert (found.units, found.batch) == (units, batch)
    assert found.dead == units // 4 + (1 if batch == 1 else 0)
