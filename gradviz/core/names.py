"""Which names a layer and a network may have.

A layer name becomes a module attribute (``self.conv1``) in the built model and
in the exported Python; a network name becomes a class name. So a name must be
a Python identifier that is not a keyword, and a layer name must not clash
with what ``nn.Module`` (or gradviz's chain) already defines: ``to``,
``parameters``, ``train`` … would replace a method and break the model. Pure
data, no torch: names are checked on every keystroke in the builder.
"""
from __future__ import annotations

import keyword

__all__ = ["RESERVED_LAYER_NAMES", "RESERVED_NETWORK_NAMES", "layer_name_problem", "network_name_problem"]

# nn.Module's public attributes (torch 2.x) plus gradviz's own on built models
# (build.Net/_Chain: spec, layers). Names starting with "_" are refused as a
# whole: that is where nn.Module keeps its state (_parameters, _modules …)
# and where later torch versions add more. build_model also checks the torch
# it runs with, so a method added by a newer torch is still caught there.
RESERVED_LAYER_NAMES = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children", "compile", "cpu",
    "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward", "get_buffer", "get_extra_state",
    "get_parameter", "get_submodule", "half", "ipu", "layers", "load_state_dict", "modules", "mtia", "named_buffers",
    "named_children", "named_modules", "named_parameters", "parameters", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "spec", "state_dict", "to", "to_empty",
    "train", "training", "type", "xpu", "zero_grad",
})

# Names the exported Python (codegen.to_python) uses at module level: a class
# of that name would shadow them.
RESERVED_NETWORK_NAMES = frozenset({"torch", "nn", "F", "super", "print"})


def _identifier_problem(name, what: str) -> str | None:
    if not isinstance(name, str) or not name:
        return f"a {what} name cannot be empty"
    if not name.isidentifier():
        return f"{name!r} is not a valid {what} name: use letters, digits and _, not starting with a digit"
    # Soft keywords (match, case, type, _) stay allowed: `self.match = ...` and `class match:` compile.
    if keyword.iskeyword(name):
        return f"{name!r} is not a valid {what} name: it is a Python keyword; pick another name"
    return None


def layer_name_problem(name) -> str | None:
    """Why ``name`` cannot name a layer (one line), or None when it can."""
    problem = _identifier_problem(name, "layer")
    if problem:
        return problem
    if name.startswith("_"):
        return f"{name!r} starts with _, which torch.nn.Module keeps for itself; pick a name starting with a letter"
    if name in RESERVED_LAYER_NAMES:
        return f"{name!r} is reserved by torch.nn.Module (a method or attribute of every model); pick another name"
    return None


def network_name_problem(name) -> str | None:
    """Why ``name`` cannot name a network (its class name), or None when it can."""
    problem = _identifier_problem(name, "network")
    if problem:
        return problem
    if name in RESERVED_NETWORK_NAMES or (name.startswith("__") and name.endswith("__")):
        return f"{name!r} would hide a name the exported Python uses; pick another network name"
    return None
