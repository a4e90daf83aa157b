"""gradviz: make PyTorch's autograd visible.

Everything listed in ``__all__`` is importable from ``gradviz`` directly and is a
public contract (people script against these names). The imports are lazy so
that ``import gradviz`` is cheap: torch, networkx and Qt load only when a name
that needs them is first used.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # model description (spec layer)
    "LayerSpec": "gradviz.core.spec",
    "NetworkSpec": "gradviz.core.spec",
    "SpecError": "gradviz.core.spec",
    "ShapeError": "gradviz.core.spec",
    "layer_kinds": "gradviz.core.layers",
    "infer_shapes": "gradviz.core.shapes",
    "build_model": "gradviz.core.build",
    "spec_from_module": "gradviz.core.build",
    "to_python": "gradviz.core.codegen",
    "save_project": "gradviz.core.project",
    "load_project": "gradviz.core.project",
    "ProjectError": "gradviz.core.project",
    # autograd engine
    "autograd_graph": "gradviz.core.graph",
    "trace_model": "gradviz.core.graph",
    "trace_backward": "gradviz.core.trace",
    "BackwardTrace": "gradviz.core.trace",
    "TrainingSession": "gradviz.core.session",
    "TrainingError": "gradviz.core.session",
    "make_data": "gradviz.core.data",
    "DataError": "gradviz.core.data",
    "resolve_device": "gradviz.core.devices",
    "summary_table": "gradviz.core.summary",
    "format_summary": "gradviz.core.summary",
    "available_devices": "gradviz.core.devices",
    "DeviceError": "gradviz.core.devices",
    "layered_layout": "gradviz.core.layout",
    "export_graph": "gradviz.graph_export",
    "load_user_model": "gradviz.core.user_model_loader",
    "ModelLoadError": "gradviz.core.user_model_loader",
    # recording users' own training loops
    "watch": "gradviz.core.watch",
    "WatchError": "gradviz.core.watch",
    "RecordingStoppedWarning": "gradviz.core.watch",
    "open_run": "gradviz.core.runfile",
    "RunFileError": "gradviz.core.runfile",
}

__all__ = sorted(_EXPORTS) + ["presets", "__version__"]


def __getattr__(name: str):
    if name == "presets":
        return importlib.import_module("gradviz.core.presets")
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'gradviz' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # cache: the next lookup skips __getattr__
    return value


def __dir__():
    return __all__
