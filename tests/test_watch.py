"""gradviz.watch: what a watched training loop records, read back with gradviz.open_run."""
from __future__ import annotations

import math
import sqlite3
import warnings

import pytest
import torch
from torch import nn

import gradviz
from gradviz.core.runfile import RecordedIteration, RunWriter
from gradviz.core.session import IterationRecord
from gradviz.core.watch import HostCopies, RecordingStoppedWarning, WatchError, default_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Net(nn.Module):
    """Two layers; ``branch`` switches an extra op on, which changes the graph's structure."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.mid = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 3)
        self.branch = False

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = self.mid(h)
        if self.branch:
            h = torch.tanh(h)
        return self.fc2(h)


def _batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)


def _loop(model, optimizer, run, steps, *, scheduler=None, clip=None, before_step=None):
    """A plain training loop; returns what it saw per iteration so tests can compare."""
    seen = []
    criterion = nn.CrossEntropyLoss()
    for i in range(steps):
        x, y = _batch(i)
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        lrs = [g["lr"] for g in optimizer.param_groups]
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        after = {n: p.detach().clone() for n, p in model.named_parameters()}
        run.step(loss)
        seen.append({"loss": loss.item(), "grads": grads, "before": before, "after": after, "lrs": lrs})
    return seen


def test_records_loss_norms_updates_and_lr_of_adamw_with_scheduler_and_clipping(tmp_path):
    torch.manual_seed(0)
    model = Net()
    optimizer = torch.optim.AdamW([
        {"params": [*model.fc1.parameters(), *model.mid.parameters()], "lr": 1e-2},
        {"params": model.fc2.parameters(), "lr": 5e-3},
    ])
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    path = tmp_path / "exp.gvrun"
    with gradviz.watch(model, optimizer, path=path) as run:
        seen = _loop(model, optimizer, run, 5, scheduler=scheduler, clip=0.05)

    with gradviz.open_run(path) as opened:
        records = opened.records()
        assert opened.indices() == [0, 1, 2, 3, 4]
        assert opened.recorded_params == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    for record, want in zip(records, seen):
        assert isinstance(record, IterationRecord) and isinstance(record, RecordedIteration)
        assert record.complete and record.optimizer_name == "AdamW" and record.record_level == "full"
        assert record.loss == pytest.approx(want["loss"])
        # the lr each group's step used, schedule included
        assert record.lrs == pytest.approx(want["lrs"]) and record.lr == pytest.approx(want["lrs"][0])
        # gradients as the optimizer saw them: after clipping
        for name, grad in want["grads"].items():
            assert record.grad_norms[name] == pytest.approx(grad.norm().item(), rel=1e-5)
        total = math.sqrt(sum(n * n for n in record.grad_norms.values()))
        assert total <= 0.05 * 1.001
        for name in want["after"]:
            update = want["after"][name] - want["before"][name]
            assert record.update_norms[name] == pytest.approx(update.norm().item(), rel=1e-4, abs=1e-9)
            assert record.weight_norms[name] == pytest.approx(want["after"][name].norm().item(), rel=1e-5)
            assert record.update_ratios[name] == pytest.approx(update.norm().item() / want["after"][name].norm().item(), rel=1e-4)
        for name in opened.recorded_params:
            assert torch.equal(record.params_before[name], want["before"][name])
            assert torch.equal(record.grads[name], want["grads"][name])
            assert torch.equal(record.params_after[name], want["after"][name])
        assert "mid.weight" not in record.params_after  # not selected: norms only
        assert record.step_skipped is False and record.nonfinite == [] and record.no_grad == []
    assert [r.lrs for r in records][::2] == [pytest.approx([1e-2, 5e-3]), pytest.approx([5e-3, 2.5e-3]),
                                             pytest.approx([2.5e-3, 1.25e-3])]


def test_graph_has_module_ownership_and_is_stored_again_only_when_its_structure_changes(tmp_path):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "g.gvrun"
    with gradviz.watch(model, optimizer, path=path) as run:
        _loop(model, optimizer, run, 3)
        model.branch = True
        _loop(model, optimizer, run, 2)
    with gradviz.open_run(path) as opened:
        assert opened.graph_count() == 2
        records = opened.records()
    first, changed = records[0].graph, records[3].graph
    assert records[1].graph is first and records[2].graph is first and records[4].graph is changed
    labels = {a["label"] for _, a in changed.nodes(data=True)}
    assert "TanhBackward0" in labels and "TanhBackward0" not in {a["label"] for _, a in first.nodes(data=True)}
    modules = {a["module"] for _, a in first.nodes(data=True) if a["kind"] == "op"}
    assert {"fc1", "mid", "fc2"} <= modules
    params = {a["name"] for _, a in first.nodes(data=True) if a["kind"] == "param"}
    assert params == {name for name, _ in model.named_parameters()}
    assert sorted(records[0].creation_order) == sorted(k for k, a in first.nodes(data=True) if a["kind"] == "op")
    assert records[0].output_shape == (16, 3)


def test_every_n_records_only_every_nth_iteration(tmp_path):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "every.gvrun"
    with gradviz.watch(model, optimizer, path=path, every=3) as run:
        seen = _loop(model, optimizer, run, 8)
    with gradviz.open_run(path) as opened:
        assert opened.indices() == [0, 3, 6]
        assert opened.every == 3
        assert [loss for _, loss in opened.losses()] == pytest.approx([seen[i]["loss"] for i in (0, 3, 6)])
        assert opened.record(6).update_norms["fc1.weight"] == pytest.approx(
            (seen[6]["after"]["fc1.weight"] - seen[6]["before"]["fc1.weight"]).norm().item(), rel=1e-5)


def test_light_level_records_norms_only(tmp_path):
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    path = tmp_path / "light.gvrun"
    with gradviz.watch(model, optimizer, path=path, level="light") as run:
        _loop(model, optimizer, run, 2)
    with gradviz.open_run(path) as opened:
        record = opened[-1]
        assert opened.level == "light" and opened.recorded_params == [] and opened.graph_count() == 0
    assert record.graph is None and record.params_after == {} and record.grads == {}
    assert set(record.grad_norms) == set(record.update_norms) == {n for n, _ in model.named_parameters()}



@pytest.mark.parametrize("level", ["light", "full"])
def test_a_sparse_gradient_is_recorded_as_the_dense_gradient_it_adds(tmp_path, level):
    """nn.Embedding(sparse=True): its norm stopped the recording at iteration 0 (the fused
    norm takes dense tensors only), and so did writing it to the run file."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(50, 8, sparse=True), nn.Flatten(), nn.Linear(24, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / f"{level}.gvrun"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RecordingStoppedWarning fails the test
        with gradviz.watch(model, optimizer, path=path, level=level, params="all") as run:
            for _ in range(2):
                optimizer.zero_grad()
                loss = model(torch.randint(0, 50, (4, 3))).pow(2).mean()
                loss.backward()
                dense = model[0].weight.grad.to_dense()
                optimizer.step()
                run.step(loss)
    with gradviz.open_run(path) as opened:
        assert len(opened) == 2
        record = opened[-1]
        assert record.grad_norms["0.weight"] == pytest.approx(float(dense.norm()), rel=1e-6)
        if level == "full":
            torch.testing.assert_close(record.grads["0.weight"], dense)

def test_params_selection_all_list_and_unknown_name(tmp_path):
    model = Net()
    assert default_params(model) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    with gradviz.watch(model, None, tmp_path / "a.gvrun", params="all") as run:
        assert run.recorded_params == [n for n, _ in model.named_parameters()]
    with gradviz.watch(model, None, tmp_path / "b.gvrun", params=["mid.bias"]) as run:
        assert run.recorded_params == ["mid.bias"]
    with pytest.raises(WatchError, match="no parameter named 'mid.gain'.*fc1.weight"):
        gradviz.watch(model, None, tmp_path / "c.gvrun", params=["mid.gain"])


def test_without_optimizer_records_gradients_and_no_update(tmp_path):
    model = Net()
    path = tmp_path / "noopt.gvrun"
    with gradviz.watch(model, path=path) as run:
        x, y = _batch(0)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        run.step(loss)
    record = gradviz.open_run(path)[0]
    assert record.step_skipped is None and record.update_norms == {} and record.lrs == []
    assert record.grad_norms["fc2.bias"] == pytest.approx(model.fc2.bias.grad.norm().item(), rel=1e-5)
    assert "fc2.bias" in record.grads and record.params_before == {}


def test_grad_scaler_skipped_step_is_recorded_with_the_nonfinite_gradients(tmp_path):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 4)
    path = tmp_path / "amp.gvrun"
    with gradviz.watch(model, optimizer, path=path) as run:
        for i, poison in enumerate((False, True, False)):
            x, y = _batch(i)
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = nn.functional.cross_entropy(model(x), y)
            if poison:
                loss = loss * torch.tensor(float("inf"))
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            kept = model.fc1.weight.detach().clone()
            scaler.step(optimizer)
            scaler.update()
            run.step(loss)
            if poison:
                assert torch.equal(model.fc1.weight, kept)  # GradScaler really skipped it
    with gradviz.open_run(path) as opened:
        records = opened.records()
        assert [r.step_skipped for r in records] == [False, True, False]
        assert [skipped for _, _, skipped in opened.flags()] == [False, True, False]
    assert records[1].update_norms == {}
    assert "loss" in records[1].nonfinite and math.isinf(records[1].loss)
    assert any(name in records[1].nonfinite for name, _ in model.named_parameters())
    assert records[0].nonfinite == [] and records[2].nonfinite == []
    assert records[2].graph is not None


def test_nan_loss_is_flagged_and_read_back_as_nan(tmp_path):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "nan.gvrun"
    with gradviz.watch(model, optimizer, path=path, level="light") as run:
        x, y = _batch(0)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y) * torch.tensor(float("nan"))
        loss.backward()
        optimizer.step()
        run.step(loss)
    record = gradviz.open_run(path)[0]
    assert math.isnan(record.loss) and record.nonfinite[0] == "loss"
    assert "fc1.weight" in record.nonfinite


def test_unused_and_frozen_parameters_are_no_grad(tmp_path):
    model = Net()
    model.mid.bias.requires_grad_(False)
    extra = nn.Linear(2, 2)
    holder = nn.ModuleDict({"net": model, "unused": extra})
    optimizer = torch.optim.SGD([p for p in holder.parameters() if p.requires_grad], lr=0.1)
    path = tmp_path / "nograd.gvrun"
    with gradviz.watch(holder, optimizer, path=path) as run:
        x, y = _batch(0)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)  # the holder's forward is never called
        loss.backward()
        optimizer.step()
        run.step(loss)
    record = gradviz.open_run(path)[0]
    assert set(record.no_grad) == {"net.mid.bias", "unused.weight", "unused.bias"}
    assert "unused.weight" not in record.grad_norms and record.nonfinite == []
    # no module recorder ran (the holder was not called): the graph is still there, without owners
    assert record.graph is not None


def test_tied_weights_and_a_module_called_twice(tmp_path):
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(10, 6)
            self.block = nn.Linear(6, 6)
            self.head = nn.Linear(6, 10, bias=False)
            self.head.weight = self.embed.weight  # tied

        def forward(self, tokens):
            h = self.embed(tokens)
            h = self.block(torch.relu(self.block(h)))  # called twice
            return self.head(h)

    model = Tied()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    path = tmp_path / "tied.gvrun"
    with gradviz.watch(model, optimizer, path=path, params="all") as run:
        for i in range(2):
            tokens = torch.randint(0, 10, (4, 5), generator=torch.Generator().manual_seed(i))
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
            loss.backward()
            optimizer.step()
            run.step(loss)
    with gradviz.open_run(path) as opened:
        assert opened.param_names == ["embed.weight", "block.weight", "block.bias"]  # the tied one once
        record = opened[-1]
    assert torch.equal(record.params_after["embed.weight"], model.embed.weight.detach())
    block_ops = [a for _, a in record.graph.nodes(data=True) if a.get("module") == "block"]
    assert len([a for a in block_ops if a["label"] == "AddmmBackward0"]) == 2


def test_data_parallel_wrapper_is_looked_through(tmp_path):
    model = Net()
    wrapped = nn.DataParallel(model)  # on a CPU-only machine it just calls the module
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    with gradviz.watch(wrapped, optimizer, tmp_path / "dp.gvrun") as run:
        _loop(wrapped, optimizer, run, 1)
    with gradviz.open_run(tmp_path / "dp.gvrun") as opened:
        assert opened.param_names[0] == "fc1.weight"
        assert opened.meta["model"] == "Net"


def test_deferred_writes_land_at_the_next_step_with_the_values_of_their_own_iteration(tmp_path):
    """The GPU path (copies overlap the next iteration, written at the next
    step), run with CPU tensors."""
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    path = tmp_path / "deferred.gvrun"
    run = gradviz.watch(model, optimizer, path, defer_writes=True, params="all")
    seen = _loop(model, optimizer, run, 1)
    with gradviz.open_run(path) as reader:
        assert len(reader) == 0  # iteration 0 waits for the next step
        seen += _loop(model, optimizer, run, 1)
        assert [r.index for r in reader.refresh()] == [0]
        run.close()
        assert [r.index for r in reader.refresh()] == [1]
        records = reader.records()
    for record, want in zip(records, seen):
        for name in want["after"]:
            assert torch.equal(record.params_after[name], want["after"][name])
            assert torch.equal(record.params_before[name], want["before"][name])
        assert record.loss == pytest.approx(want["loss"])


def test_host_copies_are_independent_of_the_source():
    copies = HostCopies()
    source = torch.arange(4.0)
    copy = copies.copy("k", source)
    source.add_(1)
    copies.ready()
    assert copy.tolist() == [0.0, 1.0, 2.0, 3.0]


# ---------------------------------------------------------------------------
# bad input


def test_model_without_parameters_is_a_watch_error(tmp_path):
    with pytest.raises(WatchError, match="has no parameters"):
        gradviz.watch(nn.ReLU(), None, tmp_path / "r.gvrun")
    assert not (tmp_path / "r.gvrun").exists()


def test_unwritable_path_is_a_watch_error_at_start(tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(WatchError, match="cannot record to"):
        gradviz.watch(Net(), None, blocker / "run.gvrun")


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root can write into read-only folders")
def test_read_only_folder_is_a_watch_error_at_start(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WatchError, match="cannot record to"):
            gradviz.watch(Net(), None, folder / "run.gvrun")
    finally:
        folder.chmod(0o700)


def test_existing_file_is_kept_unless_overwrite(tmp_path):
    path = tmp_path / "x.gvrun"
    path.write_text("precious")
    with pytest.raises(WatchError, match="already exists.*overwrite=True"):
        gradviz.watch(Net(), None, path)
    assert path.read_text() == "precious"
    gradviz.watch(Net(), None, path, overwrite=True).close()
    assert gradviz.open_run(path).indices() == []


def test_bad_options_are_watch_errors(tmp_path):
    with pytest.raises(WatchError, match="level"):
        gradviz.watch(Net(), None, tmp_path / "a.gvrun", level="heavy")
    with pytest.raises(WatchError, match="every"):
        gradviz.watch(Net(), None, tmp_path / "a.gvrun", every=0)
    with pytest.raises(WatchError, match="nn.Module"):
        gradviz.watch("model", None, tmp_path / "a.gvrun")


def test_fsdp_is_refused_clearly(tmp_path):
    FullyShardedDataParallel = type("FullyShardedDataParallel", (nn.Module,), {})  # detected by class, like the real one
    model = nn.Sequential(nn.Linear(2, 2))
    model.add_module("shard", FullyShardedDataParallel())
    with pytest.raises(WatchError, match="FSDP.*not supported"):
        gradviz.watch(model, None, tmp_path / "f.gvrun")


def test_disk_full_mid_run_warns_once_stops_recording_and_training_goes_on(tmp_path, monkeypatch):
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "full.gvrun"
    run = gradviz.watch(model, optimizer, path)
    _loop(model, optimizer, run, 2)

    def disk_full(self, sql, parameters=()):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(RunWriter, "execute", disk_full)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seen = _loop(model, optimizer, run, 3)  # must not raise
        run.close()
    stopped = [w for w in caught if issubclass(w.category, RecordingStoppedWarning)]
    assert len(stopped) == 1 and "database or disk is full" in str(stopped[0].message)
    assert "training goes on" in str(stopped[0].message)
    assert not run.recording and len(seen) == 3
    monkeypatch.undo()
    assert gradviz.open_run(path).indices() == [0, 1]


def test_other_ranks_record_nothing_by_default(tmp_path, monkeypatch):
    from gradviz.core import watch as watch_module

    monkeypatch.setattr(watch_module, "_distributed", lambda: (1, 2))  # rank 1 of 2
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with gradviz.watch(model, optimizer, tmp_path / "rank1.gvrun") as run:
        assert not run.recording and run.rank == 1
        _loop(model, optimizer, run, 2)
    assert not (tmp_path / "rank1.gvrun").exists()


def test_the_stored_graph_names_the_users_source_line_of_each_op(tmp_path):
    """Node → source line for watched runs too: the graph in the run file carries, on each
    op of the model's forward, the file, line and code of this test's Net.forward."""
    import inspect

    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    path = tmp_path / "src.gvrun"
    with gradviz.watch(model, optimizer, path=path) as run:
        _loop(model, optimizer, run, 2)
    with gradviz.open_run(path) as opened:
        graph = opened.records()[0].graph
    lines, start = inspect.getsourcelines(Net.forward)
    relu_line = start + next(i for i, text in enumerate(lines) if "torch.relu" in text)
    found = {a["label"]: a["source"] for _, a in graph.nodes(data=True) if a.get("source")}
    assert found["ReluBackward0"]["line"] == relu_line and found["ReluBackward0"]["file"].endswith("test_watch.py")
    assert "torch.relu(self.fc1(x))" in found["ReluBackward0"]["code"]


@pytest.mark.parametrize("loss", ["not a loss", torch.ones(3), True])
def test_a_loss_that_is_no_number_is_the_callers_error_at_once(tmp_path, loss):
    """run.step("not a loss") or a per-sample loss vector stopped the whole recording with
    a RecordingStoppedWarning, as if the disk had failed: it is a WatchError on the spot,
    and the recording goes on."""
    from gradviz.core.watch import WatchError

    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with gradviz.watch(model, optimizer, path=tmp_path / "run.gvrun") as run:
            with pytest.raises(WatchError, match=r"run.step\(loss\) needs the loss"):
                run.step(loss)
            assert run.recording
            real = model(torch.randn(4, 3)).pow(2).mean()
            real.backward()
            optimizer.step()
            run.step(real)
    with gradviz.open_run(tmp_path / "run.gvrun") as opened:
        assert len(opened) == 1
