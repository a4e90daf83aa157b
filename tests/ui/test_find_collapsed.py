"""Find (Ctrl+F) finds what the collapsed graph shows: a box is named after its module,
so typing that name finds it, also for a module without parameters of its own (a
language-model head whose weight is tied to the embedding, a module called three times)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import gradviz
from gradviz.core.collapse import box_key, modules_at_depth
from tests.ui.graph_views import shown_graph_view

pytestmark = pytest.mark.gui


class TiedLM(nn.Module):
    """GPT-2's ends: the head's weight is the token embedding's (``lm_head`` owns no parameter)."""

    def __init__(self, vocab=20, width=8):
        super().__init__()
        self.wte = nn.Embedding(vocab, width)
        self.shared = nn.Sequential(nn.Linear(width, width), nn.Tanh())
        self.lm_head = nn.Linear(width, vocab, bias=False)
        self.lm_head.weight = self.wte.weight

    def forward(self, idx):
        x = self.wte(idx)
        for _ in range(3):  # one block called three times
            x = x + self.shared(x)
        return self.lm_head(x)


def marked_boxes(view) -> set:
    model = view.item.model
    return {model.keys[i] for i in np.flatnonzero(model.matched)}


def test_find_names_the_boxes_a_collapsed_graph_shows(qtbot):
    torch.manual_seed(0)
    graph = gradviz.trace_model(TiedLM(), torch.randint(0, 20, (2, 5)), loss_fn=lambda o: o.pow(2).mean()).graph
    view = shown_graph_view(qtbot)
    with qtbot.waitSignal(view.ready, timeout=30_000):
        view.set_graph(graph)
    view.set_collapsed(modules_at_depth(graph, 1))
    assert view.wait_until_ready(30_000)
    shown = set(view.shown_graph())
    assert box_key("lm_head") in shown
    assert view.search("lm_head") > 0  # was 0: the box reads "lm_head", Find found nothing
    assert view.shown_key(view.current_match()) == box_key("lm_head")
    assert marked_boxes(view) == {box_key("lm_head")}
    # every call of the shared block is marked, not only the one its parameters went to
    calls = {k for k in shown if str(k).startswith(box_key("shared"))}
    assert len(calls) == 3
    view.search("shared")
    assert marked_boxes(view) == calls
    # expanded, the module's ops are found by its name too
    view.expand_all()
    assert view.wait_until_ready(30_000)
    found = view.search("lm_head")
    assert found and all(graph.nodes[k].get("module") == "lm_head" for k in view.search_matches())
