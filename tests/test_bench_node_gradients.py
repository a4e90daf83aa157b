"""Smoke test of bench/node_gradients.py: it runs on the tiniest case. No timing is asserted."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

pytestmark = [pytest.mark.slow, pytest.mark.bench]


def test_node_gradients_bench_runs():
    from bench import node_gradients

    [row] = node_gradients.run(cases=(("neuron", None),), rounds=1, block=1)
    assert row["graph_nodes"] == 7 and row["raw_ms"] > 0 and row["node_gradients_ratio"] > 0
    assert "neuron" in node_gradients.format_table([row])
