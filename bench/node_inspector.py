"""Benchmark: how long the node inspector takes to show one node, against the core's explanation of it.

For each preset, one iteration is recorded with ``node_gradients=True``; then
every recorded node is shown in a :class:`NodeInspector` (widgets built and
laid out, events processed) and, as the peer in the same run, explained by
:func:`gradviz.core.explain.explain_node` alone. Reported per preset: the mean
and worst CPU milliseconds per node for the inspector, the ratio to the core
explanation, and the share of the replay's per-node time at classroom pace
(``BACKWARD_NODE_MS``) the mean takes. The inspector follows a faster replay
at most every ``FOLLOW_INTERVAL_MS`` (``gradviz.ui.training.inspection``).

    QT_QPA_PLATFORM=offscreen python bench/node_inspector.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PRESETS = ("neuron", "tiny_mlp", "lenet", "resnet_tiny")


def measure(app, name: str, repeats: int = 3) -> dict:
    import torch

    from gradviz.core.explain import explain_node
    from gradviz.core.presets import load
    from gradviz.core.session import TrainingSession
    from gradviz.ui.training.animator import BACKWARD_NODE_MS
    from gradviz.ui.training.node_inspector import NodeInspector

    torch.set_num_threads(1)
    session = TrainingSession(load(name), node_gradients=True)
    while session.next_phase != "step":
        session.advance()
    record = session.current
    inspector = NodeInspector()
    inspector.resize(900, 420)
    inspector.show()
    shown, explained = [], []
    for _ in range(repeats):
        for key in record.node_gradients:
            start = time.process_time()
            explain_node(record, key)
            explained.append(time.process_time() - start)
            start = time.process_time()
            inspector.show_node(record, key)
            app.processEvents()
            shown.append(time.process_time() - start)
    mean = statistics.mean(shown)
    return {
        "preset": name,
        "nodes": len(record.node_gradients),
        "inspector_ms": round(mean * 1000, 1),
        "worst_ms": round(max(shown) * 1000, 1),
        "ratio_to_explain": round(mean / max(statistics.mean(explained), 1e-9), 1),
        "share_of_replay_step": round(mean * 1000 / BACKWARD_NODE_MS, 3),
    }


def main() -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv)
    for name in PRESETS:
        print(measure(app, name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
