"""The run viewer (File → Open Run…, ``gradviz view RUN``): a run written by
gradviz.watch replayed iteration by iteration, live while it is written."""
from __future__ import annotations

import gc
import math
import shutil
import sqlite3
import threading

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import gradviz  # noqa: E402
from gradviz.core.display.run_flow import layer_norms  # noqa: E402
from gradviz.core.display.run_timeline import Timeline  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Net(nn.Module):
    """Three layers; ``branch`` adds an op, which changes the graph's structure."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.mid = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 3)
        self.branch = False

    def forward(self, x):
        h = self.mid(torch.relu(self.fc1(x)))
        if self.branch:
            h = torch.tanh(h)
        return self.fc2(h)


class Writer:
    """A training loop recording with gradviz.watch, one iteration per ``steps`` call."""

    def __init__(self, path, **watch_kwargs):
        torch.manual_seed(0)
        self.model = Net()
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-2)
        self.run = gradviz.watch(self.model, self.optimizer, path=path, **watch_kwargs)
        self.done = 0

    def steps(self, n: int) -> None:
        for _ in range(n):
            g = torch.Generator().manual_seed(self.done)
            x, y = torch.randn(16, 4, generator=g), torch.randint(0, 3, (16,), generator=g)
            self.optimizer.zero_grad()
            loss = nn.functional.cross_entropy(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            self.run.step(loss)
            self.done += 1

    def close(self) -> None:
        self.run.close()


def write_run(path, steps: int = 4, **watch_kwargs):
    writer = Writer(path, **watch_kwargs)
    writer.steps(steps)
    writer.close()
    return path


def train_watched(path, model, optimizer, inputs, loss_of, steps: int, before=None, **watch_kwargs):
    """A plain training loop recording with gradviz.watch: ``steps`` iterations of
    ``loss_of(model(inputs()))``; ``before(i)``, if given, runs first in iteration i."""
    with gradviz.watch(model, optimizer, path=path, **watch_kwargs) as run:
        for i in range(steps):
            if before is not None:
                before(i)
            optimizer.zero_grad()
            loss = loss_of(model(inputs()))
            loss.backward()
            optimizer.step()
            run.step(loss)
    return path


@pytest.fixture
def make_window(qtbot):
    windows = []

    def make(path=None, **kwargs):
        from PySide6.QtCore import Qt

        from gradviz.ui.run_viewer.window import RunWindow

        gc.collect()  # on the GUI thread: see the window fixture in test_training_ui.py
        window = RunWindow(**kwargs)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)  # qtbot closes it; the test still reads it
        qtbot.addWidget(window)
        window.resize(1280, 720)
        window.show()
        windows.append(window)
        if path is not None:
            window.open(path)
            qtbot.waitUntil(lambda: not window.viewer.loading, timeout=20_000)
        return window

    yield make
    for window in windows:
        window.viewer.close_run()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(30_000)


# -- the selection model, without Qt ---------------------------------------------------------


def test_live_follows_new_iterations_and_a_chosen_one_stays():
    timeline = Timeline([0, 1, 2])
    assert timeline.live and timeline.selected == 2
    assert timeline.extend([3, 4]) is True and timeline.selected == 4  # live: moved along
    assert timeline.select_position(1) is True and not timeline.live and timeline.selected == 1
    assert timeline.extend([5]) is False and timeline.selected == 1  # chosen: stays
    assert timeline.iterations == [0, 1, 2, 3, 4, 5]
    assert timeline.go_live() is True and timeline.selected == 5
    assert "Live" in timeline.describe() and "6 recorded (0–5)" in timeline.describe()


def test_timeline_clamps_ignores_old_iterations_and_finds_the_nearest_recorded():
    timeline = Timeline([0, 10, 20])  # every=10
    timeline.select_iteration(15)
    assert timeline.selected == 10 and timeline.position == 1
    timeline.select_position(99)
    assert timeline.selected == 20 and not timeline.live  # the newest, chosen: not following
    timeline.extend([10, 30])  # 10 is known: ignored
    assert timeline.iterations == [0, 10, 20, 30] and timeline.selected == 20
    empty = Timeline()
    assert empty.selected is None and empty.position is None and not empty.select_position(0)
    assert "no iteration recorded yet" in empty.describe()


def test_the_selection_model_and_chart_maths_need_no_qt():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import gradviz.core.display.run_timeline, gradviz.core.display.run_flow, "
            "gradviz.core.display.run_graph_marks, gradviz.core.display.run_ranks; print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_layer_norms_combine_each_layers_parameters_in_model_order():
    names = ["conv.weight", "conv.bias", "frozen.weight", "head.weight", "scale"]
    norms = {"conv.weight": 3.0, "conv.bias": 4.0, "head.weight": math.inf, "scale": 2.0}
    assert layer_norms(names, norms) == [("conv", 5.0), ("frozen", None), ("head", math.inf), ("scale", 2.0)]


def test_graph_marks_weight_each_parameters_edge_by_its_gradient_norm(tmp_path):
    from gradviz.core.display.run_graph_marks import graph_marks
    from gradviz.core.display.graph_steps import param_keys

    run = gradviz.open_run(write_run(tmp_path / "r.gvrun", 2))
    record = run[-1]
    marks = graph_marks(record.graph, record)
    keys = param_keys(record.graph)
    assert set(keys) == set(run.param_names)
    for name, key in keys.items():
        (edge,) = [e for e in marks.edge_weights if e[0] == key]
        assert marks.edge_weights[edge] == pytest.approx(record.grad_norms[name])
        assert marks.stats[key]["norm"] == pytest.approx(record.grad_norms[name])
    assert marks.flagged == []
    record.nonfinite = ["mid.weight"]
    assert graph_marks(record.graph, record).flagged == [keys["mid.weight"]]
    run.close()


def test_run_reads_light_records_and_polls_without_caching(tmp_path):
    path = tmp_path / "poll.gvrun"
    writer = Writer(path, params="all")
    writer.steps(2)
    run = gradviz.open_run(path)
    writer.steps(3)
    assert run.poll() == [2, 3, 4] and run.poll() == [] and run.indices() == [0, 1, 2, 3, 4]
    light, whole = run.read(3, tensors=False), run.read(3)
    assert not light.params_before and not light.grads and not light.params_after
    assert set(whole.grads) == set(run.param_names)
    assert light.grad_norms == whole.grad_norms and light.loss == whole.loss and light.graph is whole.graph
    assert run.read(3) is not whole  # read, not cached: a long run does not pile up in memory
    assert run.record(3) is run.record(3)  # record() still caches
    writer.close()
    run.close()


# -- the window ----------------------------------------------------------------------------------


def test_open_run_shows_every_recorded_iteration(make_window, tmp_path, qtbot):
    path = write_run(tmp_path / "exp1.gvrun", 5, params=["fc1.weight", "fc2.bias"])
    window = make_window(path)
    viewer = window.viewer
    assert viewer.error == ""
    run = gradviz.open_run(path)
    assert viewer.timeline.iterations == run.indices() == [0, 1, 2, 3, 4]
    assert viewer.slider.minimum() == 0 and viewer.slider.maximum() == 4  # every recorded iteration
    assert viewer.timeline.live and viewer.selected_record().index == 4
    assert "exp1.gvrun" in viewer.title.text() and "AdamW" in viewer.title.text()
    assert not viewer.ranks_label.isVisible()  # one process: no per-rank numbers

    viewer.slider.setValue(1)  # what dragging does
    assert not viewer.timeline.live and not viewer.live_button.isChecked()
    record = run.record(1)
    assert viewer.selected_record().index == 1
    # The norm bars, the loss curve, the flow plot and the heatmaps show that iteration.
    assert viewer.norms.bar_values == pytest.approx(record.grad_norms)
    xs, ys = viewer.norms.loss_points()
    assert xs == [0, 1, 2, 3, 4] and ys == pytest.approx([loss for _, loss in run.losses()])
    assert dict(viewer.flow.curve_values()) == pytest.approx(dict(layer_norms(run.param_names, record.grad_norms)))
    assert viewer.gradients.current_param() == "fc1.weight"
    grad = record.grads["fc1.weight"].double().numpy()
    assert np.allclose(np.nanmax(np.abs(viewer.gradients.image("grad"))), np.abs(grad).max())
    update = (record.params_after["fc1.weight"] - record.params_before["fc1.weight"]).double().numpy()
    assert np.allclose(np.nanmax(np.abs(viewer.gradients.image("update"))), np.abs(update).max())
    # The graph: the run's stored graph, each parameter's edge by its gradient norm.
    view = viewer.graph_view
    record = viewer.run.record(1)
    assert view.graph() is record.graph
    qtbot.waitUntil(view.is_ready, timeout=20_000)
    from gradviz.core.display.graph_steps import param_keys

    fc2_weight = param_keys(record.graph)["fc2.weight"]
    weights = viewer.marks.edge_weights
    assert [w for (u, _), w in weights.items() if u == fc2_weight] == [pytest.approx(record.grad_norms["fc2.weight"])]
    drawn = view.item.model.edge_weight  # what the view draws: the parameters' edges, nothing else
    assert int((~np.isnan(drawn)).sum()) == len(weights) == len(run.param_names)
    run.close()


def test_only_a_few_whole_records_stay_in_memory(make_window, tmp_path):
    from gradviz.ui.run_viewer.viewer import FULL_RECORDS_KEPT

    path = write_run(tmp_path / "long.gvrun", FULL_RECORDS_KEPT + 4, params="all")
    viewer = make_window(path).viewer
    for position in range(len(viewer.timeline)):
        viewer.slider.setValue(position)
        assert viewer.gradients.shown()[0].index == position  # each one shown whole
    assert viewer.kept_whole == list(range(4, FULL_RECORDS_KEPT + 4))
    assert all(not r.grads for r in viewer.records)  # the light records hold no tensors
    assert viewer.norms.loss_points()[0] == list(range(FULL_RECORDS_KEPT + 4))


def test_new_iterations_appear_while_the_run_is_written(make_window, tmp_path, qtbot):
    """The training writes from another thread; the slider keeps its place unless Live."""
    path = tmp_path / "live.gvrun"
    writer = Writer(path)
    writer.steps(2)
    go = [threading.Event() for _ in range(2)]
    failures = []

    def train():
        try:
            for event in go:
                assert event.wait(60)
                writer.steps(3)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            failures.append(exc)
        finally:
            writer.close()

    window = make_window(path)
    viewer = window.viewer
    assert viewer.timeline.iterations == [0, 1]
    assert not viewer.watcher.polling  # the file system reports changes here
    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        viewer.slider.setValue(0)  # looking at iteration 0: not live
        go[0].set()
        qtbot.waitUntil(lambda: viewer.slider.maximum() == 4, timeout=10_000)
        assert viewer.timeline.selected == 0 and viewer.slider.value() == 0  # kept its place
        assert viewer.norms.loss_points()[0] == [0, 1, 2, 3, 4]  # the loss curve grew

        window.actions["actionRunLive"].trigger()
        assert viewer.timeline.live and viewer.selected_record().index == 4
        go[1].set()
        qtbot.waitUntil(lambda: viewer.timeline.selected == 7, timeout=10_000)  # live: followed
        assert viewer.slider.value() == viewer.slider.maximum() == 7
        assert viewer.norms.bar_values == pytest.approx(viewer.run.record(7).grad_norms)
    finally:
        for event in go:
            event.set()
        thread.join(60)
    assert not failures


_WRITER_PROCESS = """
import sys, torch
sys.path.insert(0, {root!r})
from tests.ui.test_run_viewer import Writer
torch.set_num_threads(1)
writer = Writer({path!r})
writer.steps(2)
print("ready", flush=True)
sys.stdin.readline()  # the test says "go" once the viewer shows the first two
writer.steps(3)
writer.close()
"""


def test_another_process_training_shows_up_live(make_window, tmp_path, qtbot):
    """The real setup: the training is another process; the two share only the file."""
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "proc.gvrun"
    root = str(Path(__file__).resolve().parents[2])
    script = _WRITER_PROCESS.format(root=root, path=str(path))
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, cwd=root)

    def go() -> None:
        if process.poll() is None and not process.stdin.closed:
            process.stdin.write("go\n")
            process.stdin.close()
    try:
        assert process.stdout.readline().strip() == "ready"
        window = make_window(path)
        viewer = window.viewer
        assert viewer.timeline.iterations == [0, 1] and viewer.timeline.live
        go()
        qtbot.waitUntil(lambda: viewer.timeline.selected == 4, timeout=30_000)
        assert process.wait(60) == 0
        assert viewer.timeline.iterations == [0, 1, 2, 3, 4] and viewer.error == ""
    finally:
        go()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_refresh_that_fails_says_out_of_date_and_recovers(make_window, tmp_path, monkeypatch):
    from gradviz.core.runfile import RunFileError

    path = tmp_path / "flaky.gvrun"
    writer = Writer(path)
    writer.steps(2)
    viewer = make_window(path).viewer
    writer.steps(1)
    poll = viewer.run.poll
    monkeypatch.setattr(viewer.run, "poll", lambda: (_ for _ in ()).throw(RunFileError(f"{path} is corrupt (test)")))
    assert viewer.refresh() == 0
    assert viewer.error_label.isVisible() and "is corrupt (test)" in viewer.error and "out of date" in viewer.status.text()
    assert viewer.selected_record().index == 1  # what was read stays on screen
    monkeypatch.setattr(viewer.run, "poll", poll)
    assert viewer.refresh() == 1
    assert viewer.error == "" and not viewer.error_label.isVisible() and "out of date" not in viewer.status.text()
    writer.close()


def test_a_run_with_no_iteration_yet_waits_for_the_first(make_window, tmp_path, qtbot):
    path = tmp_path / "empty.gvrun"
    writer = Writer(path)  # the file exists from watch() on; no iteration committed yet
    viewer = make_window(path).viewer
    assert viewer.error == "" and len(viewer.timeline) == 0 and viewer.selected_record() is None
    assert "No iteration recorded yet" in viewer.no_graph.text() and "no iteration recorded yet" in viewer.history_label.text()
    writer.steps(1)
    qtbot.waitUntil(lambda: viewer.timeline.selected == 0, timeout=10_000)
    assert viewer.graph_stack.currentWidget() is viewer.graph_view
    writer.close()


def test_polling_stands_in_where_watching_the_file_fails(make_window, tmp_path, qtbot):
    path = tmp_path / "polled.gvrun"
    writer = Writer(path)
    writer.steps(1)
    window = make_window(path, force_polling=True)
    assert window.viewer.watcher.polling
    writer.steps(2)
    writer.close()
    qtbot.waitUntil(lambda: window.viewer.timeline.selected == 2, timeout=10_000)
    assert "every 1 s" in window.viewer.status.text()


def test_a_changed_graph_structure_shows_the_newer_graph(make_window, tmp_path, qtbot):
    path = tmp_path / "branch.gvrun"
    writer = Writer(path)
    writer.steps(2)
    writer.model.branch = True
    writer.steps(2)
    writer.close()
    window = make_window(path)
    viewer = window.viewer
    labels = {a.get("label") for _, a in viewer.graph_view.graph().nodes(data=True)}
    assert "TanhBackward0" in labels
    assert viewer.graph_version() == (2, 2) and "graph version 2 of 2" in viewer.status.text()
    viewer.select_iteration(0)
    labels = {a.get("label") for _, a in viewer.graph_view.graph().nodes(data=True)}
    assert "TanhBackward0" not in labels and viewer.graph_version() == (1, 2)


def _example(file: str, name: str):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / file
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)(), module.example_inputs


class TwiceAndTwoOutputs(nn.Module):
    """One module called twice, and two outputs (the loop sums them)."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(6, 6)
        self.left = nn.Linear(6, 2)
        self.right = nn.Linear(6, 3)

    def forward(self, x):
        h = torch.relu(self.shared(torch.relu(self.shared(x))))
        return self.left(h), self.right(h)


@pytest.mark.parametrize("case", ["transformer", "resnet", "twice"])
def test_models_from_elsewhere_replay(make_window, tmp_path, qtbot, case):
    """Tied weights (the transformer's embedding is its head), BatchNorm and skips
    (a hand-built resnet), a module called twice with two outputs."""
    torch.manual_seed(0)
    if case == "transformer":
        model, inputs = _example("transformer_block.py", "TinyTransformer")
        loss_of = lambda out: out.logsumexp(-1).mean()  # noqa: E731
    elif case == "resnet":
        model, inputs = _example("small_resnet.py", "SmallResNet")
        loss_of = lambda out: out.pow(2).mean()  # noqa: E731
    else:
        model, inputs = TwiceAndTwoOutputs(), lambda: torch.randn(4, 6)
        loss_of = lambda out: out[0].sum() + out[1].pow(2).sum()  # noqa: E731
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    path = train_watched(tmp_path / f"{case}.gvrun", model, optimizer, inputs, loss_of, 3, params="all")
    window = make_window(path)
    viewer = window.viewer
    assert viewer.error == "" and viewer.timeline.iterations == [0, 1, 2]
    names = [n for n, _ in model.named_parameters()]  # tied weights: once
    record = viewer.selected_record()
    assert set(viewer.norms.bar_values) == set(names)
    assert viewer.norms.bar_values == pytest.approx(record.grad_norms)
    layers = [layer for layer, _ in viewer.flow.curve_values()]
    assert len(layers) == len(set(layers)) and set(layers) <= {n.rpartition(".")[0] or n for n in names}
    qtbot.waitUntil(viewer.graph_view.is_ready, timeout=30_000)
    from gradviz.core.display.graph_steps import param_keys

    marked = {u for u, _ in viewer.marks.edge_weights}
    assert marked == {param_keys(record.graph)[n] for n in names if n in param_keys(record.graph)} and marked
    viewer.slider.setValue(0)
    assert viewer.gradients.shown()[0].index == 0


def test_nan_iterations_are_flagged_on_the_graph(make_window, tmp_path, qtbot):
    path = tmp_path / "nan.gvrun"
    writer = Writer(path)
    writer.steps(1)
    with torch.no_grad():
        writer.model.mid.weight[0, 0] = float("nan")  # from here on the forward pass makes NaN
    writer.steps(1)
    writer.close()
    window = make_window(path)
    viewer = window.viewer
    record = viewer.selected_record()
    assert record.index == 1 and record.nonfinite
    qtbot.waitUntil(viewer.graph_view.is_ready, timeout=20_000)
    assert viewer.marks.flagged and viewer.graph_view.flagged_nodes() == set(viewer.marks.flagged)
    viewer.slider.setValue(0)
    assert viewer.graph_view.flagged_nodes() == set()  # iteration 0 was clean
    assert viewer.norms.loss_points()[0] == [0]  # a NaN loss is no point on the curve


def test_a_rank_whose_gradients_differ_is_named(make_window, tmp_path):
    """As ``watch(..., ranks="all")`` writes under DDP: each rank's loss and norms (two ranks faked here)."""
    from gradviz.core.display.run_ranks import check_ranks

    path = write_run(tmp_path / "ranks.gvrun", 2)
    run = gradviz.open_run(path)
    conn = sqlite3.connect(path)
    for record in run.records():
        norms = np.array([record.grad_norms[n] for n in run.param_names])
        off = norms.copy()
        if record.index == 1:
            off[run.param_names.index("mid.weight")] *= 1.5  # rank 1 went its own way
        for rank, values in ((0, norms), (1, off)):
            conn.execute("INSERT INTO rank_stats VALUES (?, ?, ?, ?)", (record.index, rank, record.loss, values.tobytes()))
    conn.commit()
    conn.close()
    run.close()
    viewer = make_window(path).viewer
    check = check_ranks(viewer.selected_record())
    assert check.ranks == [0, 1] and not check.agree and check.worst[:2] == (1, "mid.weight")
    assert check.worst[2] == pytest.approx(1 / 3)
    assert viewer.ranks_label.isVisible() and "rank 1: ‖grad‖ of mid.weight differs by 33.3%" in viewer.ranks_label.text()
    assert viewer.ranks_label.property("role") == "errorText"
    viewer.select_iteration(0)
    assert "agree across ranks" in viewer.ranks_label.text() and viewer.ranks_label.property("role") == "muted"


def test_a_light_run_says_what_it_lacks(make_window, tmp_path):
    window = make_window(write_run(tmp_path / "light.gvrun", 3, level="light"))
    viewer = window.viewer
    assert viewer.error == "" and viewer.timeline.iterations == [0, 1, 2]
    assert viewer.graph_stack.currentWidget() is viewer.no_graph and "light level" in viewer.no_graph.text()
    assert viewer.norms.bar_values == pytest.approx(viewer.run.record(2).grad_norms)


def _future_version(path):
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
    conn.commit()
    conn.close()


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _not_a_run(path):
    path.write_text("not a run\n" * 50)


@pytest.mark.parametrize("damage", [_not_a_run, _truncated, _future_version])
def test_a_bad_file_shows_its_error_and_the_window_goes_on(make_window, tmp_path, qtbot, damage):
    from gradviz.core.runfile import RunFileError

    good = write_run(tmp_path / "good.gvrun", 2)
    bad = tmp_path / "bad.gvrun"
    shutil.copy(good, bad)
    damage(bad)
    with pytest.raises(RunFileError) as expected:
        gradviz.open_run(bad)
    failures = []
    window = make_window()
    viewer = window.viewer
    viewer.failed.connect(failures.append)
    window.open(bad)
    qtbot.waitUntil(lambda: not viewer.loading, timeout=20_000)
    assert failures == [str(expected.value)]
    assert viewer.error_label.isVisible() and str(expected.value) in viewer.error_label.text()
    assert "\n" not in viewer.error and window.isVisible()
    # The window keeps working: a good run opens and the error goes away.
    window.open(good)
    qtbot.waitUntil(lambda: not viewer.loading, timeout=20_000)
    assert viewer.error == "" and not viewer.error_label.isVisible() and viewer.timeline.iterations == [0, 1]


def test_an_iteration_with_a_damaged_tensor_says_so_and_the_others_still_show(make_window, tmp_path):
    path = write_run(tmp_path / "damaged.gvrun", 3, params=["fc1.weight"])
    conn = sqlite3.connect(path)
    conn.execute("UPDATE tensors SET data = x'00' WHERE iteration = 1 AND kind = 'grad'")  # bytes cut short
    conn.commit()
    conn.close()
    viewer = make_window(path).viewer
    assert viewer.error == ""
    viewer.slider.setValue(1)
    assert "iteration 1 holds an unreadable tensor" in viewer.error and viewer.error_label.isVisible()
    viewer.slider.setValue(0)
    assert viewer.gradients.shown()[0].index == 0 and viewer.error == ""


def test_main_window_has_open_run_listed_with_its_shortcut(qtbot, tmp_path, monkeypatch):
    from gradviz.ui import MainWindow
    from gradviz.ui.run_viewer import window as run_window

    gc.collect()
    main = MainWindow()
    qtbot.addWidget(main)
    action = main.actions["actionOpenRun"]
    assert action in main.menus["file"].actions()
    assert ("Open Run", "Ctrl+Shift+R") in main.shortcut_rows()
    path = write_run(tmp_path / "menu.gvrun", 2)
    monkeypatch.setattr(run_window, "choose_run_file", lambda parent: str(path))
    action.trigger()
    (opened,) = main.run_windows
    try:
        qtbot.waitUntil(lambda: opened.viewer.run is not None, timeout=20_000)
        assert opened.viewer.timeline.iterations == [0, 1] and opened.parent() is main
    finally:
        opened.close()
    from gradviz.ui.worker import wait_for_idle

    wait_for_idle(30_000)


def test_run_window_shortcuts_are_listed_and_unambiguous(make_window):
    from collections import defaultdict

    from PySide6.QtGui import QAction

    window = make_window()
    rows = dict(window.shortcut_rows())
    assert rows["Open Run"] == "Ctrl+Shift+R" and rows["Live"] == "Ctrl+L"
    owners = defaultdict(list)
    for action in window.findChildren(QAction):  # the graph view's own (Ctrl+E, Ctrl+F) too
        for shortcut in action.shortcuts():
            if not shortcut.isEmpty():
                owners[shortcut.toString()].append(action.objectName())
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}


def test_charts_follow_a_theme_change(make_window, tmp_path, qtbot):
    from PySide6.QtWidgets import QApplication

    from gradviz.ui import theme

    viewer = make_window(write_run(tmp_path / "theme.gvrun", 2)).viewer
    background = lambda: viewer.flow.plot_widget.backgroundBrush().color().name()  # noqa: E731
    assert background() == theme.colours("light")["base"]
    try:
        theme.apply(QApplication.instance(), "dark")
        qtbot.waitUntil(lambda: background() == theme.colours("dark")["base"], timeout=5_000)
    finally:
        theme.apply(QApplication.instance(), "light")
    qtbot.waitUntil(lambda: background() == theme.colours("light")["base"], timeout=5_000)


def test_gradviz_view_opens_the_viewer_and_summary_prints(tmp_path, monkeypatch, capsys):
    from gradviz.cli import main
    from gradviz.ui.run_viewer import app

    path = write_run(tmp_path / "cli.gvrun", 2)
    opened = []
    monkeypatch.setattr(app, "main", lambda p: opened.append(p) or 0)
    assert main(["view", str(path)]) == 0 and opened == [str(path)]
    assert main(["view", "--summary", str(path)]) == 0 and "iterations  2 recorded (0 … 1)" in capsys.readouterr().out
    bad = tmp_path / "bad.gvrun"
    bad.write_text("nope\n" * 40)
    assert main(["view", str(bad)]) == 2 and opened == [str(path)]  # no window for a bad file
    assert capsys.readouterr().err.strip() == f"gradviz: error: {bad} is not a gradviz run file (not a SQLite database)"
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    assert main(["view", str(path)]) == 2 and opened == [str(path)]  # Qt would abort the process
    assert "--summary" in capsys.readouterr().err


class LogNet(nn.Module):
    """Healthy for the first iterations; ``broken`` makes its forward take log(0)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.broken = False

    def forward(self, x):
        h = self.fc(x)
        if self.broken:
            h = torch.log(torch.relu(h - 100.0))  # @runlog
        return h


def test_where_nan_started_is_named_and_one_click_shows_its_op(make_window, tmp_path, qtbot):
    from PySide6.QtCore import Qt

    torch.manual_seed(0)
    model = LogNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)

    def break_from_iteration_2(i):
        model.broken = i >= 2

    path = train_watched(tmp_path / "nanorigin.gvrun", model, optimizer, lambda: torch.randn(8, 4),
                         lambda out: out.mean(), 5, before=break_from_iteration_2)
    window = make_window(path)
    viewer = window.viewer
    label = viewer.findChild(type(viewer.nan_label), "runNanOrigin")
    assert label is viewer.nan_label and viewer._nan_row.isVisible()
    assert label.text().startswith("⚠ First NaN/Inf: iteration 2 — forward log at test_run_viewer.py")
    assert "log of a value ≤ 0" in label.text()
    assert window.actions["actionRunGoToNan"].isEnabled()
    assert ("Go to first NaN", "Ctrl+Shift+N") in [(n.replace("&", ""), k) for n, k in window.shortcut_rows()]
    assert viewer.selected_record().index == 4  # live: the newest; the origin's node is not flagged there
    qtbot.waitUntil(viewer.graph_view.is_ready, timeout=20_000)
    key = viewer.nan_origin.key
    assert "nonfinite_origin" not in viewer.graph_view.graph().nodes[key]  # the same graph as iteration 2's

    qtbot.mouseClick(viewer.findChild(type(viewer.nan_button), "runNanOriginButton"), Qt.MouseButton.LeftButton)
    assert viewer.selected_record().index == 2 and not viewer.timeline.live
    view = viewer.graph_view
    qtbot.waitUntil(lambda: key in view.flagged_nodes() and view.selected_node() == key, timeout=20_000)
    assert view.graph().nodes[key]["label"] == "LogBackward0"
    view.toolbar.details_button.setChecked(True)
    text = view.details.toPlainText()
    assert "NaN/Inf starts here" in text and "log of a value ≤ 0" in text

    viewer.slider.setValue(0)  # before the log was taken: another graph, nothing flagged
    assert view.flagged_nodes() == set()
    viewer.select_iteration(3)  # same structure as 2, but not where it started: no diagnosis on the node
    assert "nonfinite_origin" not in view.graph().nodes[key]


def test_a_run_without_nan_shows_no_origin_line(make_window, tmp_path):
    window = make_window(write_run(tmp_path / "clean.gvrun", steps=2))
    assert not window.viewer._nan_row.isVisible() and window.viewer.nan_origin is None
    assert not window.actions["actionRunGoToNan"].isEnabled()


class DeadReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(16, 3)
        with torch.no_grad():
            self.fc1.bias.fill_(-50.0)  # every unit's input is negative: all dead

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_the_diagnostics_dock_shows_dead_relu_units_of_a_watched_run(make_window, tmp_path, qtbot):
    torch.manual_seed(0)
    model = DeadReLU()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    path = train_watched(tmp_path / "dead.gvrun", model, optimizer, lambda: torch.randn(8, 4),
                         lambda out: out.pow(2).mean(), 2)
    window = make_window(path)
    dock = window.findChild(type(window.diagnostics_dock), "runDiagnosticsDock")
    assert dock is window.diagnostics_dock and not dock.isVisible()
    window.actions["actionRunDiagnostics"].trigger()
    assert dock.isVisible()
    panel = window.diagnostics_panel
    qtbot.waitUntil(lambda: panel.flag_messages() != [], timeout=10_000)
    dead = [m for m in panel.flag_messages() if "Dead ReLU units: act: 16 of 16" in m]
    assert dead, panel.flag_messages()
    qtbot.waitUntil(window.viewer.graph_view.is_ready, timeout=20_000)
    row = panel.flag_messages().index(dead[0])
    panel.click_flag(row)
    view = window.viewer.graph_view
    assert view.graph().nodes[view.selected_node()]["label"] == "ReluBackward0"
    assert ("Diagnostics", "Ctrl+Shift+D") in [(n.replace("&", ""), k) for n, k in window.shortcut_rows()]


def test_the_graph_pane_is_as_wide_as_its_labels_need(make_window, tmp_path, qtbot):
    """A small CNN's graph in the run window at 1600×1000: its pane widens (within
    GRAPH_SHARE, the charts keeping CHARTS_LEAST_PX) until the labels are at the
    text size (a fixed 27 % drew DigitsNet's at 9 px, zoom 0.68). A handle dragged
    by the user wins."""
    from gradviz.ui.run_viewer.viewer import CHARTS_LEAST_PX, GRAPH_SHARE

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    path = train_watched(tmp_path / "cnn.gvrun", model, optimizer, lambda: torch.randn(4, 1, 8, 8),
                         lambda out: out.pow(2).mean(), 2)
    window = make_window(path)
    window.resize(1600, 1000)
    viewer = window.viewer
    view = viewer.graph_view
    qtbot.waitUntil(lambda: window.width() == 1600 and view.is_ready(), timeout=20_000)
    # fitted at the labels' own size (zoom 1), or within 5 % of it
    qtbot.waitUntil(lambda: view.canvas.scale_factor() >= 0.95, timeout=10_000)
    graph, charts = viewer.splitter.sizes()
    assert GRAPH_SHARE[0] * 1600 - 2 <= graph <= GRAPH_SHARE[1] * 1600 + 2 and charts >= CHARTS_LEAST_PX
    viewer.splitter.splitterMoved.emit(300, 1)  # the user's drag: their sizes stay
    viewer.splitter.setSizes([300, 1300])
    window.resize(1500, 1000)
    qtbot.waitUntil(lambda: window.width() == 1500, timeout=5000)
    assert viewer.splitter.sizes()[0] < GRAPH_SHARE[0] * 1500  # Qt scaled the drag; no share of ours applied
