"""Graphs for the layout benchmark: real autograd graphs and synthetic look-alikes.

Real graphs come from small torch models (LeNet, a ResNet-style CNN, a
transformer-encoder stack) through :func:`gradviz.autograd_graph`, or, where
that is not importable, through a tiny local walker with the same conventions.

Synthetic graphs (:func:`synthetic_autograd_graph`) imitate autograd graphs of
any size: a deep main chain of ops with parameters hanging off it, residual
skips and attention-like fan-out/fan-in, keyed and ordered the way
``autograd_graph`` walks from the loss. They are deterministic for a seed.
"""
from __future__ import annotations

import random

import networkx as nx


# ---------------------------------------------------------------------------
# real models


def autograd_graph_of(loss, model) -> nx.DiGraph:
    """The autograd graph behind ``loss``, via gradviz if it is there."""
    try:
        from gradviz import autograd_graph
    except (ImportError, AttributeError):
        return _local_autograd_graph(loss, model)
    return autograd_graph(loss, model)


def _local_autograd_graph(loss, model) -> nx.DiGraph:
    """Minimal stand-in for ``gradviz.autograd_graph`` (same keys and attributes)."""
    names = {id(p): name for name, p in model.named_parameters()}
    key_of, fns, edges = {}, [], []
    stack = [loss.grad_fn]
    key_of[loss.grad_fn] = "n0"
    fns.append(loss.grad_fn)
    while stack:
        fn = stack.pop()
        for producer, _ in fn.next_functions:
            if producer is None:
                continue
            if producer not in key_of:
                key_of[producer] = f"n{len(fns)}"
                fns.append(producer)
                stack.append(producer)
            edges.append((key_of[producer], key_of[fn]))
    graph = nx.DiGraph()
    for fn in fns:
        label = type(fn).__name__
        if label == "AccumulateGrad":
            name = names.get(id(fn.variable), "")
            kind = "param" if name else "leaf"
            graph.add_node(key_of[fn], kind=kind, label=label, name=name, shape=tuple(fn.variable.shape))
        else:
            graph.add_node(key_of[fn], kind="op", label=label)
    graph.add_node("out0", kind="output", label="loss", shape=())
    graph.add_edges_from(edges)
    graph.add_edge(key_of[loss.grad_fn], "out0")
    return graph


def lenet_graph() -> nx.DiGraph:
    """LeNet-5 (conv 1->6->16, fc 400->120->84->10) with an MSE loss."""
    import torch
    from torch import nn

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(400, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = nn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            x = nn.functional.max_pool2d(torch.relu(self.conv2(x)), 2)
            x = torch.flatten(x, 1)
            x = torch.relu(self.fc1(x))
            x = torch.relu(self.fc2(x))
            return self.fc3(x)

    torch.manual_seed(0)
    model = LeNet()
    loss = nn.functional.mse_loss(model(torch.randn(1, 1, 32, 32)), torch.randn(1, 10))
    return autograd_graph_of(loss, model)


def resnet_graph(blocks=(3, 4, 6, 3), width: int = 8) -> nx.DiGraph:
    """A ResNet-34-style CNN (basic blocks, batch norm, downsampling skips)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.down = None
            if stride != 1 or c_in != c_out:
                self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            skip = x if self.down is None else self.down(x)
            return torch.relu(out + skip)

    layers = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    c = width
    for stage, n_blocks in enumerate(blocks):
        c_out = width * 2**stage
        for i in range(n_blocks):
            layers.append(Block(c, c_out, 2 if (i == 0 and stage > 0) else 1))
            c = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]
    torch.manual_seed(0)
    model = nn.Sequential(*layers)
    loss = nn.functional.cross_entropy(model(torch.randn(2, 3, 16, 16)), torch.tensor([1, 2]))
    return autograd_graph_of(loss, model)


def transformer_graph(n_layers: int = 4, d_model: int = 32, n_heads: int = 4) -> nx.DiGraph:
    """A transformer-encoder stack with an embedding and a classification head."""
    import torch
    from torch import nn

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, d_model)
            layer = nn.TransformerEncoderLayer(d_model, n_heads, 2 * d_model, dropout=0.0, batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.head = nn.Linear(d_model, 5)

        def forward(self, tokens):
            return self.head(self.encoder(self.embed(tokens)).mean(dim=1))

    torch.manual_seed(0)
    model = Model()
    model.train()
    loss = nn.functional.cross_entropy(model(torch.randint(0, 50, (2, 7))), torch.tensor([0, 3]))
    return autograd_graph_of(loss, model)


# ---------------------------------------------------------------------------
# synthetic


class _Builder:
    """Builds a forward data-flow graph op by op, like a network would."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.graph = nx.DiGraph()
        self.n_params = 0

    def op(self, label: str, *inputs: str) -> str:
        key = f"t{self.graph.number_of_nodes()}"
        self.graph.add_node(key, kind="op", label=label)
        for source in inputs:
            if source is not None:
                self.graph.add_edge(source, key)
        return key

    def param(self, kind: str, shape: tuple) -> str:
        self.n_params += 1
        key = f"t{self.graph.number_of_nodes()}"
        name = f"layer{self.n_params}.{kind}"
        self.graph.add_node(key, kind="param", label="AccumulateGrad", name=name, shape=shape)
        return key

    def linear(self, x: str) -> str:
        d_in, d_out = self.rng.choice([64, 128, 256]), self.rng.choice([64, 128, 256])
        weight_t = self.op("TBackward0", self.param("weight", (d_out, d_in)))
        return self.op("AddmmBackward0", self.param("bias", (d_out,)), x, weight_t)

    def conv(self, x: str) -> str:
        c = self.rng.choice([16, 32, 64])
        return self.op("ConvolutionBackward0", x, self.param("weight", (c, c, 3, 3)), self.param("bias", (c,)))

    def norm(self, x: str) -> str:
        label = self.rng.choice(["NativeLayerNormBackward0", "NativeBatchNormBackward0"])
        c = self.rng.choice([64, 128])
        return self.op(label, x, self.param("weight", (c,)), self.param("bias", (c,)))

    def activation(self, x: str) -> str:
        return self.op(self.rng.choice(["ReluBackward0", "GeluBackward0", "TanhBackward0"]), x)

    def reshape(self, x: str) -> str:
        return self.op(self.rng.choice(["ViewBackward0", "TransposeBackward0", "PermuteBackward0"]), x)

    def attention(self, x: str) -> str:
        q, k, v = self.linear(x), self.linear(x), self.linear(x)
        scores = self.op("BmmBackward0", self.reshape(q), self.op("TransposeBackward0", self.reshape(k)))
        probs = self.op("SoftmaxBackward0", self.op("DivBackward0", scores))
        return self.linear(self.reshape(self.op("BmmBackward0", probs, self.reshape(v))))

    def block(self, x: str, depth: int = 0) -> str:
        kinds = ["linear", "conv", "norm", "activation", "reshape"]
        if depth < 2:
            kinds += ["residual", "attention"]
        kind = self.rng.choice(kinds)
        if kind == "residual":
            inner = x
            for _ in range(self.rng.randint(2, 5)):
                inner = self.block(inner, depth + 1)
            return self.op("AddBackward0", inner, x)
        return getattr(self, kind)(x)


def synthetic_autograd_graph(n_nodes: int, seed: int = 0) -> nx.DiGraph:
    """An autograd-like DAG of about ``n_nodes`` nodes (a few more, never fewer).

    Same conventions as ``gradviz.autograd_graph``: kinds ``op``/``param``/
    ``output``, keys ``n0``, ``n1``, ... in the order of a DFS from the loss,
    edges from producer to consumer.
    """
    builder = _Builder(random.Random(seed))
    x = builder.conv(builder.op("ViewBackward0", builder.param("embedding", (1000, 64))))
    while builder.graph.number_of_nodes() < n_nodes - 2:
        x = builder.block(x)
    loss = builder.op("MseLossBackward0", x)
    forward = builder.graph
    forward.add_node("out", kind="output", label="loss", shape=())
    forward.add_edge(loss, "out")
    return _renumber_like_autograd(forward, loss)


def _renumber_like_autograd(forward: nx.DiGraph, loss: str) -> nx.DiGraph:
    """Re-key and re-insert nodes in the order autograd_graph's walk meets them."""
    key_of = {loss: "n0"}
    walk = [loss]
    stack = [loss]
    edges = []
    while stack:
        node = stack.pop()
        for producer in forward.predecessors(node):
            if producer not in key_of:
                key_of[producer] = f"n{len(walk)}"
                walk.append(producer)
                stack.append(producer)
            edges.append((key_of[producer], key_of[node]))
    graph = nx.DiGraph()
    graph.add_nodes_from((key_of[v], forward.nodes[v]) for v in walk)
    graph.add_node("out0", **forward.nodes["out"])
    graph.add_edges_from(edges)
    graph.add_edge("n0", "out0")
    return graph
