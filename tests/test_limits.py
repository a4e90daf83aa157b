"""What a spec may hold (gradviz.core.limits): nesting depth and layer count, at load and at edit."""
import json

import pytest

from gradviz.core.layers import validate_network
from gradviz.core import edits
from gradviz.core.limits import MAX_LAYERS, MAX_NESTING_DEPTH, check_spec_limits
from gradviz.core.project import ProjectError, load_project, project_from_json
from gradviz.core.spec import LayerSpec, NetworkSpec, SpecError


def nested_spec(depth: int) -> NetworkSpec:
    """``depth`` Residual blocks, each inside the previous one, around one ReLU (built without recursion)."""
    layer = LayerSpec("ReLU", "relu")
    for i in range(depth):
        layer = LayerSpec("Residual", f"block{i}", layers=[layer])
    return NetworkSpec([layer], (1, 4))


def nested_project_text(depth: int) -> str:
    text = '{"kind": "Linear", "name": "fc", "params": {"in_features": 4, "out_features": 4}}'
    for i in range(depth):  # built as text: json.dumps itself recurses out on deep data
        text = f'{{"kind": "Residual", "name": "block{i}", "params": {{}}, "layers": [{text}]}}'
    return f'{{"format": "gradviz-project", "version": 1, "spec": {{"name": "Net", "input_shape": [1, 4], "layers": [{text}]}}, "extra": {{}}}}'


@pytest.mark.parametrize("depth", [MAX_NESTING_DEPTH + 1, 250, 1000, 5000])
def test_deeply_nested_project_is_a_project_error(tmp_path, depth):
    path = tmp_path / "deep.gvz.json"
    path.write_text(nested_project_text(depth))
    with pytest.raises(ProjectError) as info:
        load_project(path)
    message = str(info.value)
    assert "deep.gvz.json" in message
    assert "nest" in message
    if depth <= 250:  # readable JSON: the message names the depth found and the limit
        assert f"{MAX_NESTING_DEPTH + 1} blocks deep" in message and f"at most {MAX_NESTING_DEPTH}" in message


def test_json_nested_past_the_parser_is_a_typed_error():
    bomb = '{"format": "gradviz-project", "version": 1, "spec": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(ProjectError, match="nest(s|ed) too deep"):
        project_from_json(bomb)
    with pytest.raises(SpecError, match="nest(s|ed) too deep"):
        NetworkSpec.from_json("[" * 100_000 + "]" * 100_000)


def test_the_limit_itself_loads_copies_builds_and_trains():
    from gradviz.core.build import build_model
    from gradviz.core.session import TrainingSession

    project = project_from_json(nested_project_text(MAX_NESTING_DEPTH))
    spec = project.spec
    assert spec.copy() == spec
    build_model(spec)
    session = TrainingSession(spec, record="light")
    assert session.run_iteration().complete


def test_specs_made_in_code_hit_the_limit_not_the_recursion_limit():
    from gradviz.core.build import build_model
    from gradviz.core.session import TrainingSession

    spec = nested_spec(250)
    for attempt in (lambda: validate_network(spec), lambda: build_model(spec), lambda: TrainingSession(spec)):
        with pytest.raises(SpecError, match=f"at most {MAX_NESTING_DEPTH}"):
            attempt()


def test_edits_cannot_nest_past_the_limit():
    spec = nested_spec(MAX_NESTING_DEPTH)
    innermost = (0,) * MAX_NESTING_DEPTH  # the path of the deepest block
    assert edits.layer_at(spec, innermost).kind == "Residual"
    with pytest.raises(SpecError, match="nested"):
        edits.insert_layer(spec, innermost, 0, LayerSpec("Residual", "one_more", layers=[LayerSpec("ReLU", "r2")]))
    # Moving a block into the deepest one nests it too deep as well.
    wide = NetworkSpec([*spec.layers, LayerSpec("Residual", "other", layers=[LayerSpec("ReLU", "r3")])], (1, 4))
    with pytest.raises(SpecError, match="nested"):
        edits.move_layer(wide, (1,), innermost, 0)
    # A plain layer there is fine: it holds nothing.
    edits.insert_layer(spec, innermost, 0, LayerSpec("ReLU", "fine"))


def test_too_many_layers_is_a_typed_error():
    layers = [{"kind": "ReLU", "name": f"r{i}", "params": {}} for i in range(MAX_LAYERS + 1)]
    text = json.dumps({"format": "gradviz-project", "version": 1, "spec": {"input_shape": [1, 4], "layers": layers}})
    with pytest.raises(ProjectError, match=f"at most {MAX_LAYERS:,}"):
        project_from_json(text)
    ok = NetworkSpec([LayerSpec("ReLU", f"r{i}") for i in range(MAX_LAYERS)], (1, 4))
    check_spec_limits(ok)
    with pytest.raises(SpecError, match="at most"):
        edits.duplicate_layer(ok, (0,))
