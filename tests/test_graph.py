"""Tests for gradviz.core.graph: autograd_graph, ForwardRecorder, trace_model."""
from __future__ import annotations

import gc
import sys
import weakref

import networkx as nx
import pytest
import torch
from torch import nn
from torch.nn.modules import module as torch_module

import gradviz
from gradviz.core.graph import ForwardRecorder, autograd_graph, detach_graph, trace_model
from tutorial_net import TutorialNet as LeNet


class Block(nn.Module):
    """Residual block: nested modules, an in-place ReLU module and an in-place op."""

    def __init__(self, width):
        super().__init__()
        self.fc1 = nn.Linear(width, width)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(width, width)

    def forward(self, x):
        h = self.act(self.fc1(x))
        h = self.fc2(h)
        h.mul_(0.5)  # in-place op in the block's own forward
        return h + x


class ResNetish(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.stem = nn.Linear(3, width)
        self.layer1 = nn.Sequential(Block(width), Block(width))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        x = self.layer1(self.stem(x))
        x = torch.tanh(x)  # top-level op: no submodule
        return self.head(x)


def lenet_loss(seed=0):
    torch.manual_seed(seed)
    model = LeNet()
    loss = nn.MSELoss()(model(torch.randn(1, 1, 32, 32)), torch.randn(1, 10))
    return model, loss


def only(graph, **attrs):
    return [n for n, d in graph.nodes(data=True) if all(d.get(k) == v for k, v in attrs.items())]


def single_successor(graph, node):
    succ = list(graph.successors(node))
    assert len(succ) == 1, succ
    return succ[0]


# -- autograd_graph ---------------------------------------------------------


def test_lenet_output_chain_and_param_names():
    model, loss = lenet_loss()
    graph = gradviz.autograd_graph(loss, model)

    assert graph.graph["roots"] == ["out0"]
    assert graph.nodes["out0"]["kind"] == "output"
    (mse,) = graph.predecessors("out0")
    assert graph.nodes[mse]["label"] == "MseLossBackward0"
    assert graph.nodes[mse]["kind"] == "op"
    (addmm,) = graph.predecessors(mse)
    assert graph.nodes[addmm]["label"] == "AddmmBackward0"
    inputs = {graph.nodes[p]["name"] for p in graph.predecessors(addmm) if graph.nodes[p]["kind"] == "param"}
    assert inputs == {"fc3.bias"}

    params = only(graph, kind="param")
    assert len(params) == 10
    named = dict(model.named_parameters())
    assert sorted(graph.nodes[p]["name"] for p in params) == sorted(named)
    for p in params:
        data = graph.nodes[p]
        assert data["label"] == "AccumulateGrad"
        assert data["shape"] == tuple(named[data["name"]].shape)
    assert only(graph, kind="leaf") == []  # the input does not require grad


def test_node_per_distinct_autograd_node():
    model, loss = lenet_loss()
    graph = autograd_graph(loss, model)
    fns = graph.graph["fn"]
    assert len({id(f) for f in fns.values()}) == len(fns) == graph.number_of_nodes() - 1
    for key, fn in fns.items():
        assert graph.nodes[key]["label"] == type(fn).__name__
    # walking next_functions independently finds the same set
    reached, stack = set(), [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) not in reached:
            reached.add(id(fn))
            stack.extend(f for f, _ in fn.next_functions if f is not None)
    assert reached == {id(f) for f in fns.values()}


def test_params_matched_by_identity_not_value():
    w = torch.randn(3, requires_grad=True)
    twin = w.detach().clone().requires_grad_(True)  # equal values, different tensor
    y = (w * 2).sum()
    graph = autograd_graph(y, {"twin": twin})
    (acc,) = only(graph, label="AccumulateGrad")
    assert graph.nodes[acc]["kind"] == "leaf"
    assert graph.nodes[acc]["name"] in (None, "")

    graph = autograd_graph(y, {"w": w})
    (acc,) = only(graph, label="AccumulateGrad")
    assert graph.nodes[acc]["kind"] == "param"
    assert graph.nodes[acc]["name"] == "w"


def test_leaf_vs_param_and_shapes():
    lin = nn.Linear(3, 2)
    x = torch.randn(5, 3, requires_grad=True)
    y = lin(x).sum()
    graph = autograd_graph(y, lin)
    (leaf,) = only(graph, kind="leaf")
    assert graph.nodes[leaf]["shape"] == (5, 3)
    assert graph.nodes[leaf]["label"] == "AccumulateGrad"
    assert {graph.nodes[p]["name"] for p in only(graph, kind="param")} == {"weight", "bias"}
    # same graph with params=None: all AccumulateGrads are leaves
    assert len(only(autograd_graph(y), kind="leaf")) == 3


def test_params_as_dict_or_module_agree():
    model, loss = lenet_loss()
    by_module = autograd_graph(loss, model)
    by_dict = autograd_graph(loss, dict(model.named_parameters()))
    assert dict(by_module.nodes(data="name")) == dict(by_dict.nodes(data="name"))


def test_multiple_roots_get_output_nodes():
    w = torch.randn(2, 3, requires_grad=True)
    h = w.exp()
    a = h.sum()
    b = h * 3
    graph = autograd_graph([a, b, a], {"w": w})
    assert graph.graph["roots"] == ["out0", "out1", "out2"]
    assert [graph.nodes[k]["kind"] for k in graph.graph["roots"]] == ["output"] * 3
    assert graph.nodes["out0"]["label"] == "loss" and graph.nodes["out0"]["shape"] == ()
    assert graph.nodes["out1"]["shape"] == (2, 3)
    assert "output" in graph.nodes["out1"]["label"] and "(2, 3)" in graph.nodes["out1"]["label"]
    # the shared exp and the twice-given root are not duplicated
    assert len(only(graph, label="ExpBackward0")) == 1
    assert len(only(graph, label="SumBackward0")) == 1
    assert single_successor(graph, only(graph, label="AccumulateGrad")[0]) == only(graph, label="ExpBackward0")[0]
    assert set(graph.successors(only(graph, label="SumBackward0")[0])) == {"out0", "out2"}


def test_root_without_grad_fn_is_rejected():
    with pytest.raises(ValueError):
        autograd_graph(torch.randn(3))
    with pytest.raises(ValueError):
        autograd_graph(torch.randn(3, requires_grad=True))  # a leaf has no grad_fn


def test_none_next_functions_are_skipped():
    x = torch.randn(3)  # no grad: its next_functions entry is None
    w = torch.randn(3, requires_grad=True)
    y = x * w
    assert any(f is None for f, _ in y.grad_fn.next_functions)
    graph = autograd_graph(y)
    (mul,) = only(graph, label="MulBackward0")
    preds = list(graph.predecessors(mul))
    assert len(preds) == 1
    assert graph.nodes[preds[0]]["kind"] == "leaf"
    # slot is the entry's position in next_functions, counting the None
    assert graph.edges[preds[0], mul]["slot"] == 1
    assert None not in graph


def test_edges_point_forward_with_input_nr_and_slot():
    w = torch.randn(2, 3, requires_grad=True)
    first, second = w.unbind(0)
    y = second * 2 + first.sin()
    graph = autograd_graph(y)
    fns = graph.graph["fn"]
    key_of = {id(f): k for k, f in fns.items()}
    # every edge u -> v: v's next_functions lists u at position slot with input_nr
    for u, v, data in graph.edges(data=True):
        if graph.nodes[v]["kind"] == "output":
            continue
        fn_u, nr = fns[v].next_functions[data["slot"]]
        assert fn_u is fns[u]
        assert data["input_nr"] == nr
    (unbind,) = only(graph, label="UnbindBackward0")
    (mul,) = only(graph, label="MulBackward0")
    (sin,) = only(graph, label="SinBackward0")
    assert graph.edges[unbind, mul]["input_nr"] == 1  # second output of unbind
    assert graph.edges[unbind, sin]["input_nr"] == 0
    # forward direction: the leaf feeds unbind, not the other way round
    (acc,) = only(graph, kind="leaf")
    assert graph.has_edge(acc, unbind) and not graph.has_edge(unbind, acc)
    assert graph.in_degree(acc) == 0 and graph.out_degree("out0") == 0
    assert graph.edges[key_of[id(y.grad_fn)], "out0"]["input_nr"] == y.output_nr


def test_output_edge_input_nr_for_multi_output_root():
    w = torch.randn(4, requires_grad=True)
    a, b = w.split(2)
    graph = autograd_graph([a, b])
    (split,) = only(graph, kind="op")
    assert graph.edges[split, "out0"]["input_nr"] == 0
    assert graph.edges[split, "out1"]["input_nr"] == 1


def test_duplicate_producer_gives_one_edge_with_all_slots():
    w = torch.randn(3, requires_grad=True)
    h = w.exp()
    y = h * h
    graph = autograd_graph(y)
    (exp,) = only(graph, label="ExpBackward0")
    (mul,) = only(graph, label="MulBackward0")
    assert graph.number_of_edges(exp, mul) == 1
    assert graph.edges[exp, mul]["slot"] == 0
    assert graph.edges[exp, mul]["slots"] == (0, 1)


def test_graph_structure_is_consistent_networkx():
    model, loss = lenet_loss()
    graph = autograd_graph(loss, model)
    rebuilt = nx.DiGraph(**graph.graph)
    rebuilt.add_nodes_from(graph.nodes(data=True))
    rebuilt.add_edges_from(graph.edges(data=True))
    assert nx.utils.graphs_equal(graph, rebuilt)
    for u, v in graph.edges:
        assert u in graph.pred[v] and v in graph.succ[u]
        assert graph.pred[v][u] is graph.succ[u][v]
    assert sum(d for _, d in graph.in_degree) == graph.number_of_edges()
    assert nx.is_directed_acyclic_graph(graph)
    assert list(nx.topological_sort(graph))[-1] == "out0"
    graph.remove_node("out0")  # the result is a normal, mutable DiGraph
    assert "out0" not in graph


def test_saved_tensors():
    w = torch.randn(2, 3, requires_grad=True)
    x = torch.randn(2, 3)
    y = (w * x).sum(dim=1, keepdim=True)
    graph = autograd_graph(y, saved_tensors=True)
    (mul,) = only(graph, label="MulBackward0")
    (summed,) = only(graph, label="SumBackward1")
    # prefix stripped, tensors as shapes, plain values as they are
    assert graph.nodes[mul]["saved"]["other"] == (2, 3)
    saved_sum = graph.nodes[summed]["saved"]
    assert saved_sum["keepdim"] is True
    assert saved_sum["dim"] == (1,)
    assert saved_sum["self_sym_sizes"] == (2, 3)
    assert "saved" not in graph.nodes[only(graph, kind="leaf")[0]]
    assert "saved" not in autograd_graph(y).nodes[mul]


def test_saved_tensors_after_backward_skips_freed_buffers():
    w = torch.randn(3, requires_grad=True)
    y = w.exp().sum()
    y.backward()  # frees ExpBackward0's saved result
    graph = autograd_graph(y, saved_tensors=True)
    (exp,) = only(graph, label="ExpBackward0")
    assert "result" not in graph.nodes[exp]["saved"]
    (summed,) = only(graph, label="SumBackward0")
    assert graph.nodes[summed]["saved"]["self_sym_sizes"] == (3,)  # not a buffer: still there


def test_lenet_saved_values_are_plain_data():
    model, loss = lenet_loss()
    graph = autograd_graph(loss, model, saved_tensors=True)
    (conv,) = [n for n in only(graph, label="ConvolutionBackward0") if "input" in graph.nodes[n]["saved"]
               and graph.nodes[n]["saved"]["input"] == (1, 1, 32, 32)]
    assert graph.nodes[conv]["saved"]["stride"] == (1, 1)

    def plain(value):
        if isinstance(value, tuple):
            return all(plain(v) for v in value)
        return value is None or isinstance(value, (bool, int, float, str))

    for _, data in graph.nodes(data=True):
        assert all(plain(v) for v in data.get("saved", {}).values())


def test_100k_node_chain_walks_iteratively():
    depth = 100_000
    assert depth > sys.getrecursionlimit()
    x = torch.ones(1, requires_grad=True)
    y = x
    for _ in range(depth):
        y = y * 1.0001
    graph = autograd_graph(y)
    # depth MulBackward0 + AccumulateGrad + output
    assert graph.number_of_nodes() == depth + 2
    assert graph.number_of_edges() == depth + 1
    assert len(only(graph, label="MulBackward0")) == depth
    (leaf,) = only(graph, kind="leaf")
    assert nx.has_path(graph, leaf, "out0")


def test_detach_graph_releases_autograd_graph():
    packed = []

    def pack(t):
        # Store a detached alias: saving the output tensor itself would form a
        # Python <-> C++ cycle that keeps it alive regardless of gradviz.
        alias = t.detach()
        packed.append(weakref.ref(alias))
        return alias

    w = torch.randn(1000, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = w.exp().sin().sum()
    graph = autograd_graph(y, saved_tensors=True)
    del y
    gc.collect()
    assert packed and all(ref() is not None for ref in packed)  # pinned by graph.graph["fn"]

    assert detach_graph(graph) is graph
    gc.collect()
    assert "fn" not in graph.graph
    assert all(ref() is None for ref in packed)
    assert graph.number_of_nodes() == 5 and graph.graph["roots"] == ["out0"]


# -- ForwardRecorder / trace_model -----------------------------------------


def linear_modules_by_weight(graph):
    """{module name: AddmmBackward0 key} found structurally via each Linear's weight."""
    found = {}
    for p in only(graph, kind="param"):
        name = graph.nodes[p]["name"]
        if name.endswith(".weight"):
            t = single_successor(graph, p)
            assert graph.nodes[t]["label"] == "TBackward0"
            found[name[: -len(".weight")]] = (t, single_successor(graph, t))
    return found


def test_module_ownership_nested_and_inplace():
    torch.manual_seed(0)
    model = ResNetish()
    x = torch.randn(5, 3)
    with ForwardRecorder(model) as rec:
        loss = model(x).pow(2).mean()
    graph = autograd_graph(loss, model, module_of=rec.module_of)

    linears = linear_modules_by_weight(graph)
    assert set(linears) == {"stem", "layer1.0.fc1", "layer1.0.fc2", "layer1.1.fc1", "layer1.1.fc2", "head"}
    for name, (t, addmm) in linears.items():
        assert graph.nodes[t]["module"] == name
        assert graph.nodes[addmm]["module"] == name

    for block in ("layer1.0", "layer1.1"):
        _, fc1 = linears[f"{block}.fc1"]
        relu = single_successor(graph, fc1)
        assert graph.nodes[relu]["label"] == "ReluBackward0"  # nn.ReLU(inplace=True)
        assert graph.nodes[relu]["module"] == f"{block}.act"
        _, fc2 = linears[f"{block}.fc2"]
        mul = single_successor(graph, fc2)
        assert graph.nodes[mul]["label"] == "MulBackward0"  # h.mul_(0.5)
        assert graph.nodes[mul]["module"] == block
        add = single_successor(graph, mul)
        assert graph.nodes[add]["label"] == "AddBackward0"
        assert graph.nodes[add]["module"] == block

    (tanh,) = only(graph, label="TanhBackward0")
    assert graph.nodes[tanh]["module"] == ""
    for label in ("PowBackward0", "MeanBackward0"):  # the loss, outside the model
        (node,) = only(graph, label=label)
        assert graph.nodes[node]["module"] == ""
    for n in only(graph, kind="param"):
        assert "module" not in graph.nodes[n]


def test_module_of_accepts_node_keys():
    torch.manual_seed(0)
    model = ResNetish()
    with ForwardRecorder(model) as rec:
        out = model(torch.randn(2, 3)).sum()
    by_node = {fn: rec.module_of[id(fn)] for fn in rec.creation_order}
    a = autograd_graph(out, model, module_of=rec.module_of)
    b = autograd_graph(out, model, module_of=by_node)
    assert dict(a.nodes(data="module")) == dict(b.nodes(data="module"))
    assert "layer1.1.fc2" in dict(a.nodes(data="module")).values()


def test_custom_function_inside_module_is_owned():
    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2

    class Custom(nn.Module):
        def forward(self, x):
            return Double.apply(x)

    model = nn.Sequential(nn.Linear(3, 3), Custom())
    with ForwardRecorder(model) as rec:
        out = model(torch.randn(2, 3))
    graph = autograd_graph(out, model, module_of=rec.module_of)
    (double,) = only(graph, label="DoubleBackward")
    assert graph.nodes[double]["module"] == "1"


def test_history_from_before_recording_has_no_module():
    model = nn.Linear(3, 3)
    x = torch.randn(2, 3, requires_grad=True)
    pre = x * 2  # made before the recorder: belongs to no module
    with ForwardRecorder(model) as rec:
        out = model(pre).sum()
    assert id(pre.grad_fn) not in rec.module_of
    assert pre.grad_fn not in rec.creation_order
    graph = autograd_graph(out, model, module_of=rec.module_of)
    (mul,) = only(graph, label="MulBackward0")
    assert graph.nodes[mul]["module"] == ""


def test_recorder_removes_hooks_and_mode_on_exception():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Linear(3, 3), Boom())
    hooks_before = (len(torch_module._global_forward_pre_hooks), len(torch_module._global_forward_hooks))
    with pytest.raises(RuntimeError, match="boom"):
        with ForwardRecorder(model):
            model(torch.randn(1, 3))
    assert (len(torch_module._global_forward_pre_hooks), len(torch_module._global_forward_hooks)) == hooks_before
    assert torch._C._len_torch_function_stack() == 0
    # and recording again still works from a clean state
    model = nn.Sequential(nn.Linear(3, 3))
    with ForwardRecorder(model) as rec:
        model(torch.randn(1, 3))
    assert sorted(rec.module_of.values()) == ["0", "0"]  # TBackward0, AddmmBackward0


def test_recorder_ignores_other_models_modules():
    model = nn.Sequential(nn.Linear(3, 3))
    other = nn.Linear(3, 3)
    with ForwardRecorder(model) as rec:
        out = other(model(torch.randn(1, 3))).sum()
    graph = autograd_graph(out, module_of=rec.module_of)
    modules = sorted(m for n, m in graph.nodes(data="module") if graph.nodes[n]["kind"] == "op")
    assert modules == ["", "", "", "0", "0"]  # other's T and Addmm and the sum; model's T and Addmm


def test_trace_model_lenet_creation_order():
    torch.manual_seed(0)
    model = LeNet()
    traced = trace_model(model, torch.randn(1, 1, 32, 32), loss_fn=nn.MSELoss(), target=torch.randn(1, 10))
    graph = traced.graph
    assert traced.output.shape == (1, 10)
    assert traced.root.dim() == 0 and traced.root.grad_fn is not None
    assert len(only(graph, kind="param")) == 10

    ops = only(graph, kind="op")
    order = traced.creation_order
    assert sorted(order) == sorted(ops)  # every op exactly once
    position = {k: i for i, k in enumerate(order)}
    for u, v in graph.edges:
        if u in position and v in position:
            assert position[u] < position[v], (graph.nodes[u]["label"], graph.nodes[v]["label"])
    first, last = graph.nodes[order[0]], graph.nodes[order[-1]]
    assert (first["label"], first["module"]) == ("ConvolutionBackward0", "conv1")
    assert (last["label"], last["module"]) == ("MseLossBackward0", "")
    assert [graph.nodes[k]["module"] for k in order if graph.nodes[k]["label"] == "AddmmBackward0"] == [
        "fc1", "fc2", "fc3"]


def test_trace_model_without_loss_and_with_saved():
    torch.manual_seed(0)
    model = ResNetish()
    traced = trace_model(model, torch.randn(2, 3), saved_tensors=True)
    assert traced.root is traced.output
    assert graph_output_shape(traced.graph) == (2, 2)
    assert any("saved" in d for _, d in traced.graph.nodes(data=True))
    assert len(traced.creation_order) == len(only(traced.graph, kind="op"))


def graph_output_shape(graph):
    return graph.nodes[graph.graph["roots"][0]]["shape"]


# -- the recorder runs nothing per torch op ---------------------------------


class Probe(nn.Module):
    """Notes whether a torch function mode is active inside a module's forward."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.modes_seen: list[int] = []

    def forward(self, x):
        self.modes_seen.append(torch._C._len_torch_function_stack())
        return self.fc(x)


def test_recorder_installs_no_per_op_callback():
    model = Probe()
    with ForwardRecorder(model) as rec:
        out = model(torch.randn(2, 3)).sum()
    assert model.modes_seen == [0]  # no TorchFunctionMode: module hooks only
    graph = autograd_graph(out, model, module_of=rec.module_of, calls_of=rec.call_of)
    (addmm,) = only(graph, label="AddmmBackward0")
    assert graph.nodes[addmm]["module"] == "fc" and graph.nodes[addmm]["calls"] == (("", 1), ("fc", 1))


class HiddenAux(nn.Module):
    """A functional result the forward keeps aside (not returned by any module call)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.aux = None

    def forward(self, x):
        self.aux = torch.sigmoid(x).mean()  # reachable only from the loss built later
        return torch.tanh(self.fc(x))


def test_op_hidden_from_module_outputs_is_owned_by_its_call():
    model = nn.Sequential(nn.Linear(3, 3), HiddenAux())
    with ForwardRecorder(model) as rec:
        out = model(torch.randn(2, 3))
    loss = out.sum() + model[1].aux
    graph = autograd_graph(loss, model, module_of=rec.module_of, calls_of=rec.call_of)
    (sigmoid,) = only(graph, label="SigmoidBackward0")
    (mean,) = only(graph, label="MeanBackward0")
    (tanh,) = only(graph, label="TanhBackward0")
    for key in (sigmoid, mean, tanh):
        assert graph.nodes[key]["module"] == "1"
        assert graph.nodes[key]["calls"] == (("", 1), ("1", 1))
    (total,) = only(graph, label="AddBackward0")  # the loss: after the recorder, no module, no calls
    assert graph.nodes[total]["module"] == "" and "calls" not in graph.nodes[total]


class TwoHeads(nn.Module):
    """Multiple outputs, a module called twice and weights tied between two layers."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(4, 4)
        self.act = nn.ReLU()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight

    def forward(self, x):
        h = self.act(self.enc(x))
        return {"a": self.act(self.a(h)), "b": self.b(h)}


def test_trace_model_multiple_outputs_twice_called_and_tied():
    torch.manual_seed(0)
    model = TwoHeads()
    traced = trace_model(model, torch.randn(2, 4), loss_fn=lambda out: out["a"].sum() + out["b"].pow(2).sum())
    graph = traced.graph
    relus = sorted(graph.nodes[k]["calls"] for k in only(graph, label="ReluBackward0"))
    assert relus == [(("", 1), ("act", 1)), (("", 1), ("act", 2))]
    addmm_modules = sorted(graph.nodes[k]["module"] for k in only(graph, label="AddmmBackward0"))
    assert addmm_modules == ["a", "b", "enc"]
    (tied,) = [k for k in only(graph, kind="param") if graph.nodes[k]["name"] == "a.weight"]
    assert sorted(graph.nodes[t]["module"] for t in graph.successors(tied)) == ["a", "b"]
    ops = only(graph, kind="op")
    assert sorted(traced.creation_order) == sorted(ops)  # the loss's ops too, via note()
    assert graph.nodes[traced.creation_order[-1]]["label"] == "AddBackward0"


def test_recorder_results_hold_no_reference_cycle():
    """The Nodes (and the tensors they saved) go as soon as the last reference does, not at the next GC pass."""
    import gc

    class Square(nn.Module):
        def forward(self, x):
            h = x * 2
            self.kept = weakref.ref(h)  # saved by the product below, held only by the autograd graph
            return h * h

    model = nn.Sequential(nn.Linear(3, 3), Square())
    # As it was afterwards: GUI tests hand collection to a GUI-thread timer (gc disabled);
    # switching it back on would let a worker thread collect Qt objects (a deadlock).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        with ForwardRecorder(model) as rec:
            out = model(torch.randn(2, 3))
        module_of = rec.module_of
        probe = weakref.ref(rec)
        assert model[1].kept() is not None
        del rec, out
        assert probe() is None and model[1].kept() is None  # refcounting alone freed them
        assert module_of.resolve is not None
    finally:
        if was_enabled:
            gc.enable()


def test_add_output_shapes_gives_each_op_its_output_shape():
    from gradviz.core.graph import add_output_shapes, autograd_graph, detach_graph

    x = torch.randn(4, 2, requires_grad=True)
    layer = torch.nn.Linear(2, 3)
    left, right = torch.tanh(layer(x)).split([1, 2], dim=1)
    loss = (left.sum() + right.mean())
    graph = detach_graph(add_output_shapes(autograd_graph(loss, layer)))
    shapes = {graph.nodes[k]["label"]: graph.nodes[k].get("output_shape") for k in graph
              if graph.nodes[k]["kind"] == "op"}
    assert shapes["AddmmBackward0"] == (4, 3) and shapes["TanhBackward0"] == (4, 3)
    assert shapes["SumBackward0"] == () and shapes["AddBackward0"] == ()
    assert shapes["SplitWithSizesBackward0"] == (4, 1)  # several outputs: the first one's
    assert all("output_shape" not in a for _, a in graph.nodes(data=True) if a["kind"] != "op")


@pytest.mark.parametrize("model_name", ["resnetish", "resnet_tiny"])
def test_a_recorder_that_does_not_walk_gives_the_same_graph_and_forward_ops(model_name):
    """``walk=False`` (a full record's forward): no exit walk, the graph resolves
    each Node's module by sequence number; the graph, its ``module``/``calls`` and
    the forward's ops in creation order are those of a walking recorder."""
    from gradviz.core.session import _forward_and_loss_keys

    torch.manual_seed(0)
    if model_name == "resnetish":
        model, x = ResNetish(), torch.randn(5, 3)
    else:
        spec = gradviz.presets.load("resnet_tiny")
        model, x = gradviz.build_model(spec, seed=0), torch.randn(2, *spec.input_shape[1:])
    x.requires_grad_(True)
    older = x * 1  # an op before the forward: neither the forward's nor the loss's by creation

    def build(walk):
        with ForwardRecorder(model, walk=walk) as rec:
            out = model(older)
        loss = out.pow(2).mean()
        graph = autograd_graph(loss, model, module_of=rec.module_of, calls_of=rec.call_of)
        return graph, _forward_and_loss_keys(graph, rec), rec

    walked, walked_keys, walked_rec = build(True)
    lazy, lazy_keys, lazy_rec = build(False)
    assert dict(lazy.nodes(data=True)) == dict(walked.nodes(data=True))
    assert list(lazy.edges(data=True)) == list(walked.edges(data=True))
    assert lazy_keys == walked_keys
    forward, loss_ops = lazy_keys
    assert [lazy.nodes[k]["label"] for k in loss_ops] == ["MulBackward0", "PowBackward0", "MeanBackward0"]
    assert lazy_rec.creation_order == [] and len(forward) == len(walked_rec.creation_order)
