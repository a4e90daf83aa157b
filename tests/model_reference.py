"""What a session over a user's model must record, computed without any session:
plain PyTorch, the loss on the first floating output, and ``gradviz.autograd_graph``."""
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F

import gradviz
from gradviz.core.model_io import class_view, loss_output

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def reference_graph(module, inputs, loss_name):
    output = module(*inputs)
    tensor = output if isinstance(output, torch.Tensor) else loss_output(output)[0]
    if loss_name == "cross_entropy":
        logits = class_view(tensor)
        loss = F.cross_entropy(logits, torch.zeros(logits.shape[:-1], dtype=torch.long))
    else:
        loss = F.mse_loss(tensor, torch.zeros_like(tensor))
    return gradviz.autograd_graph(loss, module)


def graph_signature(graph):
    """What must match: op labels with their counts, parameter names, node and edge counts."""
    ops = Counter(a["label"] for _, a in graph.nodes(data=True) if a["kind"] == "op")
    params = sorted(a["name"] for _, a in graph.nodes(data=True) if a["kind"] == "param")
    return ops, params, graph.number_of_nodes(), graph.number_of_edges()
