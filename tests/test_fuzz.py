"""Fuzzing (issue 14): random and mutated project JSON, layer parameters, names, shapes and command lines.

Whatever the input, gradviz answers with a result or a typed gradviz error (SpecError, ShapeError,
ProjectError, MemoryLimitError), and the CLI with exit 0 or exit 2 and one ``gradviz: error:`` line;
never a raw exception, a traceback or exit 1. What it accepts works: a spec that validates and has
inferred shapes builds, runs forward to exactly those shapes, and exports to Python that compiles
and computes the same function. Derandomized with modest example counts, so it stays fast.
"""
import json
import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradviz import LayerSpec, NetworkSpec, ProjectError, ShapeError, SpecError, build_model, presets
from gradviz.cli import main
from gradviz.core.codegen import to_python
from gradviz.core.layers import layer_kinds
from gradviz.core.memory import estimate_memory
from gradviz.core.names import layer_name_problem, network_name_problem
from gradviz.core.project import project_from_json
from gradviz.core.shapes import infer_shapes

pytestmark = pytest.mark.usefixtures("one_torch_thread")

import os
from gradviz.core.layers import validate_network
_SCALE = int(os.environ.get("GRADVIZ_FUZZ_SCALE", "1"))  # raise it to hunt for bugs: GRADVIZ_FUZZ_SCALE=20
FUZZ = settings(max_examples=40 * _SCALE, derandomize=_SCALE == 1, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
SMALL_ENOUGH_TO_RUN = 20_000_000  # bytes: accepted specs above this are only estimated, not built


# -- value strategies ---------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10, 10), st.integers(), st.integers(10**20, 10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
param_values = st.one_of(
    json_scalars, st.integers(-3, 40), st.floats(-2, 2),
    st.lists(st.integers(-2, 40), max_size=4).map(tuple),
    st.lists(st.one_of(st.integers(0, 9), st.floats(0, 9), st.text(max_size=2)), max_size=3).map(tuple),
)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
any_names = st.one_of(identifiers, st.text(max_size=12), st.sampled_from(
    ["class", "None", "lambda", "parameters", "to", "cuda", "train", "_steps", "forward", "type", "match", "torch", "F"]))
layer_names = identifiers.filter(lambda n: layer_name_problem(n) is None)


def _project(spec_dict) -> str:
    return json.dumps({"format": "gradviz-project", "version": 1, "spec": spec_dict, "extra": {}}, allow_nan=True)


def _accepted_spec_works(spec: NetworkSpec) -> None:
    """An accepted spec: shapes infer, and a small one builds, runs to those shapes and exports."""
    try:
        shapes = infer_shapes(spec)
    except (SpecError, ShapeError):
        return
    if estimate_memory(spec).total_bytes > SMALL_ENOUGH_TO_RUN:
        return
    model = build_model(spec, seed=0).eval()
    with torch.no_grad():
        out = model(torch.randn(spec.input_shape))
    expected = shapes[-1].output_shape if shapes else tuple(spec.input_shape)
    assert tuple(out.shape) == tuple(expected), (spec.to_json(), tuple(out.shape), expected)
    compile(to_python(spec), "<to_python>", "exec")


# -- project JSON -------------------------------------------------------------------------------------------

@FUZZ
@given(document=json_values)
def test_random_json_is_a_project_or_a_project_error(document):
    try:
        project_from_json(json.dumps(document, allow_nan=True))
    except ProjectError:
        pass


@FUZZ
@given(
    preset=st.sampled_from(["lenet", "mlp", "resnet_tiny"] if "resnet_tiny" in presets.names() else presets.names()),
    edits=st.lists(st.tuples(st.sampled_from(["param", "name", "kind", "drop", "shape", "layers", "extra"]),
                             st.integers(0, 50), st.text(max_size=10), json_values), min_size=1, max_size=4),
)
def test_mutated_projects_load_or_give_a_project_error(preset, edits):
    spec_dict = presets.load(preset).to_dict()
    document = {"format": "gradviz-project", "version": 1, "spec": spec_dict, "extra": {}}
    for what, index, text, value in edits:
        layer = spec_dict["layers"][index % len(spec_dict["layers"])]
        if what == "param":
            params = layer.setdefault("params", {})
            keys = list(params) or [text]
            params[keys[index % len(keys)]] = value
        elif what == "name":
            layer["name"] = value if index % 2 else text
        elif what == "kind":
            layer["kind"] = value if index % 3 == 0 else sorted(layer_kinds())[index % len(layer_kinds())]
        elif what == "drop":
            layer.pop(["kind", "name", "params"][index % 3], None)
        elif what == "shape":
            spec_dict["input_shape"] = value if index % 2 else [max(1, index)] * (1 + index % 4)
        elif what == "layers":
            layer["layers"] = value if index % 2 else [dict(layer)]
        else:
            document["extra"] = value
    try:
        project = project_from_json(json.dumps(document, allow_nan=True))
    except ProjectError:
        return
    _accepted_spec_works(project.spec)


# -- layer parameters and shapes -----------------------------------------------------------------------------

def _near_valid(decl):
    """Values around what the catalogue allows for one parameter, and now and then garbage."""
    low = int(decl.min) if decl.min is not None else -3
    small = st.integers(low - 1, max(low, 0) + 9)
    by_type = {
        "int": small,
        "float": st.one_of(st.floats(decl.min if decl.min is not None else -1, decl.max if decl.max is not None else 1),
                           st.sampled_from([math.nan, math.inf, -0.5, 1.5])),
        "bool": st.booleans(),
        "size": st.one_of(st.integers(0, 6), st.lists(st.integers(0, 6), min_size=1, max_size=3).map(tuple)),
        "shape": st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
    }
    return st.one_of(*[by_type[decl.type]] * 7, param_values)


@st.composite
def layer_params(draw, kind_name):
    kind = layer_kinds()[kind_name]
    params = {decl.name: draw(_near_valid(decl)) for decl in kind.params if draw(st.booleans())}
    if draw(st.sampled_from([False] * 9 + [True])):
        params["bogus"] = 1
    return params


@FUZZ
@given(data=st.data(), kind=st.sampled_from([k for k, v in layer_kinds().items() if not v.container]),
       shape=st.lists(st.integers(1, 12), min_size=1, max_size=4))
def test_random_parameters_are_accepted_and_work_or_give_a_spec_error(data, kind, shape):
    params = data.draw(layer_params(kind))
    if data.draw(st.sampled_from([True, True, True, False])):  # mostly: sizes that fit the input, so the layer gets built and run
        rank = {"Conv1d": 3, "Conv2d": 4, "MaxPool2d": 4, "AvgPool2d": 4, "AdaptiveAvgPool2d": 4, "BatchNorm2d": 4}.get(kind)
        shape = (shape * 4)[:rank] if rank else shape
        fitted = {"in_channels": shape[1] if len(shape) > 1 else 1, "in_features": shape[-1],
                  "num_features": shape[1] if len(shape) > 1 else 1, "normalized_shape": tuple(shape[-1:])}
        params.update({k: v for k, v in fitted.items() if k in {d.name for d in layer_kinds()[kind].params}})
    spec = NetworkSpec([LayerSpec(kind, "layer", params)], tuple(shape))
    try:
        validate_network(spec)
    except SpecError as exc:
        assert exc.layer_name == "layer"
        return
    _accepted_spec_works(spec)


@FUZZ
@given(name=any_names, network=any_names)
def test_names_are_accepted_and_work_or_give_a_spec_error(name, network):
    try:
        spec = NetworkSpec.from_dict({"name": network, "input_shape": [2, 4], "layers": [
            {"kind": "Linear", "name": name, "params": {"in_features": 4, "out_features": 3}}]})
        validate_network(spec)
    except SpecError:
        assert layer_name_problem(name) or network_name_problem(network)
        return
    _accepted_spec_works(spec)


# -- valid specs export to Python that compiles and computes the same ------------------------------------------

@st.composite
def valid_specs(draw):
    taken: set[str] = set()

    def name():
        value = draw(layer_names.filter(lambda n: n not in taken))
        taken.add(value)
        return value

    def features_layers(features: int, depth: int) -> tuple[list[LayerSpec], int]:
        layers = []
        for _ in range(draw(st.integers(1, 4))):
            choice = draw(st.sampled_from(["Linear", "ReLU", "Tanh", "Sigmoid", "GELU", "LeakyReLU", "Dropout",
                                           "LayerNorm", "BatchNorm1d", "Softmax", "LogSoftmax", "Residual"]))
            if choice == "Linear":
                out = draw(st.integers(1, 12))
                layers.append(LayerSpec("Linear", name(), {"in_features": features, "out_features": out,
                                                           "bias": draw(st.booleans())}))
                features = out
            elif choice == "Residual" and depth < 2:
                inner, inner_out = features_layers(features, depth + 1)
                if inner_out != features:
                    inner.append(LayerSpec("Linear", name(), {"in_features": inner_out, "out_features": features}))
                layers.append(LayerSpec("Residual", name(), layers=inner))
            elif choice == "LeakyReLU":
                layers.append(LayerSpec(choice, name(), {"negative_slope": draw(st.floats(0, 1))}))
            elif choice == "Dropout":
                layers.append(LayerSpec(choice, name(), {"p": draw(st.floats(0, 1))}))
            elif choice == "LayerNorm":
                layers.append(LayerSpec(choice, name(), {"normalized_shape": (features,)}))
            elif choice == "BatchNorm1d":
                layers.append(LayerSpec(choice, name(), {"num_features": features}))
            elif choice in ("Softmax", "LogSoftmax"):
                layers.append(LayerSpec(choice, name(), {"dim": draw(st.sampled_from([-1, 1]))}))
            elif choice != "Residual":
                layers.append(LayerSpec(choice, name()))
        return layers, features

    batch = draw(st.integers(2, 3))
    layers: list[LayerSpec] = []
    if draw(st.booleans()):
        channels, side = draw(st.integers(1, 3)), draw(st.integers(6, 12))
        shape = (batch, channels, side, side)
        out_channels, kernel = draw(st.integers(1, 4)), draw(st.sampled_from([1, 3, (3, 1), (2, 3)]))
        padding = draw(st.sampled_from([0, 1]))
        layers.append(LayerSpec("Conv2d", name(), {"in_channels": channels, "out_channels": out_channels,
                                                   "kernel_size": kernel, "padding": padding}))
        pool = draw(st.sampled_from([None, "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "BatchNorm2d"]))
        if pool == "AdaptiveAvgPool2d":
            layers.append(LayerSpec(pool, name(), {"output_size": draw(st.sampled_from([1, 2, (2, 1)]))}))
        elif pool == "BatchNorm2d":
            layers.append(LayerSpec(pool, name(), {"num_features": out_channels}))
        elif pool:
            layers.append(LayerSpec(pool, name(), {"kernel_size": 2}))
        layers.append(LayerSpec("Flatten", name()))
        probe = NetworkSpec(list(layers), shape)
        features = infer_shapes(probe)[-1].output_shape[1]
    else:
        features = draw(st.integers(1, 12))
        shape = (batch, features)
    more, _ = features_layers(features, 0)
    network = draw(st.one_of(st.just("Net"), identifiers.filter(lambda n: network_name_problem(n) is None)))
    return NetworkSpec(layers + more, shape, name=network)


@settings(FUZZ, max_examples=30 * _SCALE)
@given(spec=valid_specs())
def test_to_python_of_random_valid_specs_compiles_builds_and_matches(spec):
    validate_network(spec)
    source = to_python(spec)
    namespace: dict = {"__name__": "exported"}
    exec(compile(source, "<to_python>", "exec"), namespace)
    exported = namespace[spec.name]()
    built = build_model(spec, seed=0)
    assert [(n, p.shape) for n, p in exported.named_parameters()] == [(n, p.shape) for n, p in built.named_parameters()]
    exported.load_state_dict(built.state_dict())
    exported.eval(), built.eval()
    x = torch.randn(spec.input_shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(exported(x), built(x), atol=1e-5, equal_nan=True)


# -- the command line ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    from gradviz import save_project

    folder = tmp_path_factory.mktemp("fuzz_cli")
    save_project(folder / "ok.gvz.json", presets.load("mlp"))
    (folder / "corrupt.gvz.json").write_text('{"format": "gradviz-project", "version": 1, "spec": {')
    (folder / "huge.gvz.json").write_text(
        _project(presets.load("mlp").to_dict()).replace('"out_features": 10', '"out_features": ' + "9" * 5000, 1))
    (folder / "model.py").write_text(
        "import torch\nclass Net(torch.nn.Module):\n"
        "    def __init__(self, n=3):\n        super().__init__()\n        self.fc = torch.nn.Linear(n, 2)\n"
        "    def forward(self, x):\n        return self.fc(x)\n")
    (folder / "junk.pt2").write_bytes(b"not a zip")
    (folder / "junk.pt").write_bytes(b"not a zip either")
    return folder


def _cli_tokens(folder):
    files = [str(folder / name) for name in ("ok.gvz.json", "corrupt.gvz.json", "huge.gvz.json", "model.py",
                                              "junk.pt2", "junk.pt", "missing.gvz.json")]
    outputs = [str(folder / name) for name in ("g.svg", "g.dot", "g.json", "g.graphml", "g.xyz", "nodir/g.svg")]
    values = st.one_of(
        st.sampled_from(files + outputs + presets.names() + ["mse", "cross_entropy", "nll", "adam", "sgd", "int64",
                                                             "bogus", "0", "1", "2", "-1", "nan", "inf", "1e999",
                                                             "9" * 40, "4, 3", "2,3", "0, 3", "x", "n=4", "n=", "1/0",
                                                             "torch.randn(4, 3)", "torch.randn(4, 5)", ""]),
        st.text(max_size=8),
    )
    options = st.sampled_from(["--preset", "--project", "--list", "-o", "--output", "-f", "--format", "--loss",
                               "--seed", "--name", "--args", "--weights", "--inputs", "--input-expr", "--dtype",
                               "--optimizer", "--lr", "--steps", "--export-graph", "--help", "--bogus"])
    command = st.sampled_from(["info", "export", "open-model", "--version", "nonsense"])
    return st.tuples(command, st.lists(st.one_of(options, values), max_size=7)).map(lambda t: [t[0], *t[1]])


@settings(FUZZ, max_examples=60 * _SCALE)
@given(data=st.data())
def test_cli_exits_0_or_2_with_one_error_line(cli_files, capsys, data):
    argv = data.draw(_cli_tokens(cli_files))
    if "--steps" in argv:  # keep runs short: a step count is at most what we say
        index = argv.index("--steps")
        assume(index + 1 < len(argv) and argv[index + 1] in ("0", "1", "2", "-1", "x", "nan"))
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), (argv, code, err)
    assert "Traceback" not in err and "unexpected" not in err, (argv, err)
    if code == 2:
        assert err.startswith("gradviz: error: "), (argv, err)
        assert len(err.strip().splitlines()) == 1 or ".py" in " ".join(argv), (argv, err)  # + the user's own lines
