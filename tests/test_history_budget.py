"""The history is bounded in bytes (issue 14, item 12): the budget's derivation, and a
model whose records are large never lets the kept records pass it."""
import pytest
import torch
import torch.nn as nn

from gradviz.core.history import (
    FLOOR_BYTES, MIN_FULL_RECORDS, TRAINING_COPIES, History, history_budget, record_bytes,
)
from gradviz.core.session import TrainingSession

GB = 2**30


def test_budget_is_a_quarter_of_ram_when_plenty_is_free():
    assert history_budget(10**6, total=16 * GB, available=15 * GB) == 4 * GB


def test_budget_never_takes_more_than_half_of_what_is_free_after_training():
    model = 1 * GB
    assert history_budget(model, total=16 * GB, available=6 * GB) == (6 * GB - TRAINING_COPIES * model) // 2
    assert history_budget(model, total=16 * GB, available=2 * GB) == FLOOR_BYTES  # nothing left: the floor
    assert history_budget(10**6, total=16 * GB, available=15 * GB, fraction=0.1) == int(0.1 * 16 * GB)


def test_budget_setting_from_the_environment(monkeypatch):
    monkeypatch.setenv("GRADVIZ_HISTORY_FRACTION", "0.5")
    assert history_budget(0, total=8 * GB, available=8 * GB) == 4 * GB
    monkeypatch.setenv("GRADVIZ_HISTORY_FRACTION", "7")  # not a share of RAM: the default
    assert history_budget(0, total=8 * GB, available=8 * GB) == 2 * GB


def test_budget_of_this_machine_is_positive_and_below_its_ram():
    from gradviz.core.history import memory_info

    total, _ = memory_info()
    budget = history_budget(10**6)
    assert budget >= FLOOR_BYTES and (total is None or budget <= total)


class Wide(nn.Module):
    """1 M parameters (4 MB): a full record holds 12 MB of parameter copies."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(1000, 1000)
        self.head = nn.Linear(1000, 1)

    def forward(self, x):
        return self.head(torch.relu(self.fc(x)))


def test_large_records_never_pass_the_byte_budget(one_torch_thread):
    model = Wide()
    param_bytes = sum(p.element_size() * p.nelement() for p in model.parameters())
    budget = 5 * 3 * param_bytes  # room for about five full records, fewer than MIN_FULL_RECORDS
    session = TrainingSession(model, inputs=torch.randn(2, 1000), max_history=100, max_history_bytes=budget)
    assert session.history.max_bytes == budget
    assert not session.history.full_snapshots and "parameters you look at" in session.history.note
    session.watch_parameters(["fc.weight"])
    for _ in range(8):
        record = session.run_iteration()
        assert session.history.nbytes <= budget
        assert sum(record_bytes(r) for r in session.history) == session.history.nbytes
    assert set(record.params_after) == {"fc.weight"} and set(record.grads) == {"fc.weight"}
    assert "history" in session.history.describe() and "of" in session.history.describe()


def test_full_records_are_dropped_oldest_first_to_fit(one_torch_thread):
    model = Wide()
    record_size = 3 * sum(p.element_size() * p.nelement() for p in model.parameters())
    budget = (MIN_FULL_RECORDS + 2) * record_size + 2**20  # full records fit, a dozen of them
    session = TrainingSession(model, inputs=torch.randn(2, 1000), max_history=100, max_history_bytes=budget)
    assert session.history.full_snapshots
    for _ in range(MIN_FULL_RECORDS + 5):
        session.run_iteration()
        assert session.history.nbytes <= budget
    kept = list(session.history)
    assert len(kept) < MIN_FULL_RECORDS + 5 and kept[-1].index == MIN_FULL_RECORDS + 4  # the oldest went
    assert [r.index for r in kept] == list(range(kept[0].index, kept[-1].index + 1))
    assert all(r.params_after for r in kept)


def test_a_record_bigger_than_the_whole_budget_keeps_no_copies():
    history = History(10, max_bytes=10_000)

    class Record:
        params_before = {"w": torch.zeros(10_000)}
        grads, params_after, grad_norms, node_grad_norms = {}, {}, {}, {}
        creation_order, backward_order, graph = [], [], None

    record = Record()
    history._append(record)
    assert history.nbytes <= 10_000 and record.params_before == {} and "budget" in history.note


def test_default_sessions_get_a_byte_budget(lenet_spec):
    session = TrainingSession(lenet_spec)
    assert session.history.max_bytes is not None and session.history.full_snapshots
