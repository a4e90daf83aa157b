"""The core session tells its listeners what happened (gradviz.core.events), without Qt."""
import sys
import threading

import pytest

from gradviz.core.events import EmitterGroup, EventEmitter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_emitter_calls_each_callback_once_and_survives_a_failing_one(monkeypatch):
    seen, hooked = [], []
    monkeypatch.setattr(sys, "excepthook", lambda *info: hooked.append(info[0]))
    emitter = EventEmitter(source="me", type="ping")

    def bad(event):
        raise ValueError("observer bug")

    emitter.connect(bad)
    emitter.connect(seen.append)
    emitter.connect(seen.append)  # twice: still called once
    event = emitter.emit(n=3)
    assert [e.n for e in seen] == [3] and event.type == "ping" and event.source == "me"
    assert hooked == [ValueError]
    emitter.disconnect(seen.append)
    emitter.emit(n=4)
    assert len(seen) == 1
    with pytest.raises(AttributeError):
        _ = event.missing


def test_group_connects_to_every_emitter():
    group = EmitterGroup(None, "a", "b")
    seen = []
    group.connect(lambda e: seen.append(e.type))
    group.a.emit()
    group["b"].emit()
    assert seen == ["a", "b"] and group.names == ("a", "b")


def test_session_emits_phase_iteration_reset_settings_and_graph_events(lenet_spec):
    from gradviz.core.session import PHASES, SESSION_EVENTS, TrainingSession

    session = TrainingSession(lenet_spec)
    seen = []
    session.events.connect(lambda e: seen.append((e.type, threading.current_thread().name)))
    assert set(session.events.names) == set(SESSION_EVENTS)

    worker = threading.Thread(target=session.run_iteration, name="worker")
    worker.start()
    worker.join()
    assert [t for t, _ in seen] == ["phase_done"] * len(PHASES) + ["iteration_recorded"]
    assert {name for _, name in seen} == {"worker"}  # on the thread that ran the phase

    seen.clear()
    records = []
    session.events.iteration_recorded.connect(lambda e: records.append(e.record))
    session.run_iteration()
    assert records == [session.history[-1]]

    seen.clear()
    session.set_lr(0.5)
    session.set_optimizer("adam")
    session.set_loss("l1")
    session.reset()
    assert [t for t, _ in seen] == ["settings_changed", "settings_changed", "settings_changed",
                                    "graph_invalidated", "reset"]
    assert len(session.history) == 0
