"""Parameter copies of full records go into the memory of dropped records' copies
(gradviz.core.snapshot_pool): the records say exactly what fresh copies would, and a
copy anyone can still see (its record, its dict, a view, a numpy array) is never reused."""
import gc

import torch
import torch.nn as nn

from gradviz.core.session import TrainingSession
from gradviz.core.snapshot_pool import MIN_POOLED_BYTES, SnapshotPool


def _net():
    # 160x120 and 120x3 weights (76.8 KB, 1.4 KB): one copy big enough to be pooled, the others not
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(120, 160), nn.Tanh(), nn.Linear(160, 3))


def _session(recycle: bool) -> TrainingSession:
    session = TrainingSession(_net(), input_shape=(4, 120), optimizer="sgd_momentum", lr=0.05, max_history=2)
    if not recycle:
        session._snapshots.max_bytes = 0
    return session


def test_records_made_in_recycled_memory_equal_fresh_copies():
    recycled, fresh = _session(True), _session(False)
    for _ in range(8):
        a, b = recycled.run_iteration(), fresh.run_iteration()
        for name in ("params_before", "grads", "params_after"):
            got, expected = getattr(a, name), getattr(b, name)
            assert list(got) == list(expected)
            for key in got:
                torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
                assert got[key].stride() == expected[key].stride() and not got[key].requires_grad
        del a, b
    # max_history 2: record 0 is dropped when record 2 is kept, so records 3 to 7 are
    # made in recycled memory: the big weight's three copies (the small ones are fresh)
    assert recycled._snapshots.reused == 5 * 3
    assert fresh._snapshots.reused == 0


def test_a_record_someone_still_holds_is_never_overwritten():
    session = _session(True)
    held = session.run_iteration()  # the app shows it, say
    dict_only = session.run_iteration().params_after  # a view keeps only the dict
    session.run_iteration()
    view = session.history[-1].grads["0.weight"][1:]  # a slice of a copy
    array = session.history[-1].params_before["0.weight"].numpy()  # and a numpy array on another
    expected = {
        "held": {k: t.clone() for k, t in held.params_before.items()},
        "dict": {k: t.clone() for k, t in dict_only.items()},
        "view": view.clone(),
        "array": array.copy(),
    }
    for _ in range(6):
        session.run_iteration()
        gc.collect()
    for k, t in held.params_before.items():
        assert torch.equal(t, expected["held"][k])
    for k, t in dict_only.items():
        assert torch.equal(t, expected["dict"][k])
    assert torch.equal(view, expected["view"])
    assert (array == expected["array"]).all()


def test_pool_copies_like_to_cpu_and_keeps_at_most_its_budget():
    n = MIN_POOLED_BYTES // 4  # float32 elements of the smallest pooled copy
    pool = SnapshotPool(max_bytes=4 * n)

    class Record:
        pass

    record = Record()
    first = pool.copy({"a": torch.arange(float(n)), "b": torch.ones(n, 2).t()})
    assert first["b"].stride() == (1, 2) and torch.equal(first["b"], torch.ones(2, n))
    pool.recycle(record, first)
    del record
    pointer_a = first["a"].data_ptr()
    del first
    second = pool.copy({"a": torch.arange(float(n)) * 2, "b": torch.zeros(n, 2).t()})
    assert second["a"].data_ptr() == pointer_a  # within the budget: reused
    assert pool.reused == 1  # the budget was spent: "b" is a fresh copy
    assert torch.equal(second["a"], torch.arange(float(n)) * 2) and torch.equal(second["b"], torch.zeros(2, n))
    assert second["b"].stride() == (1, 2)
