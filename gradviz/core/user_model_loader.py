"""Open models people wrote, not only built ones: a Python file (class or factory),
a ``torch.export`` program (``.pt2``) or a TorchScript file, plus optional weights.

Running a Python file executes its code **in this process, with the user's rights**,
and a TorchScript file is a program too (its forward can write files): the GUI says
so before the first run of each file (``model_files.runs_code``). A ``.pt2`` is
checked before torch reads it and refused when loading it could run code
(``safe_export``). Weights are only ever read with
``torch.load(..., weights_only=True)``, which cannot execute code.

Every failure is a ``ModelLoadError`` whose ``user_traceback`` keeps only the
lines of the user's own file (their import error, their shape bug), so the
dialog shows what they can fix and not gradviz's internals.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import sys
import traceback
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from gradviz.core.interrupts import is_stop_request
from gradviz.core.model_files import EXPORT_SUFFIXES, PYTHON_SUFFIXES, SCRIPT_SUFFIXES, model_file_kind  # noqa: F401

# A model file may define ``example_inputs()`` returning a tensor or a tuple of
# tensors: gradviz then needs no input shapes from the user.
EXAMPLE_INPUTS_HOOK = "example_inputs"

_DTYPES = {
    "float32": torch.float32, "float": torch.float32, "float64": torch.float64, "double": torch.float64,
    "float16": torch.float16, "bfloat16": torch.bfloat16, "int64": torch.int64, "long": torch.int64,
    "int32": torch.int32, "int": torch.int32, "bool": torch.bool,
}


class ModelLoadError(Exception):
    """Opening a model failed. ``user_traceback`` holds the user's own traceback lines."""

    def __init__(self, message: str, *, path: str | Path | None = None, user_traceback: str = ""):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.user_traceback = user_traceback
        # When the model's forward raised: a gradviz.core.partial_graph.ForwardCrash
        # with the graph up to the failing op (shown instead of only the message).
        self.crash = None


@dataclass
class LoadedModel:
    """A user's module, ready for a ``TrainingSession``."""

    module: nn.Module
    kind: str  # "python", "export" or "torchscript"
    path: Path
    name: str  # class / factory name, or the file name
    example_inputs: tuple = ()
    notes: list[str] = field(default_factory=list)  # e.g. weights loaded, frozen params


# -- helpers shared with the GUI -------------------------------------------------

def user_traceback(exc: BaseException, path: str | Path) -> str:
    """The traceback of ``exc`` cut down to the frames in the user's file, plus the error line."""
    target = str(Path(path).resolve())
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if str(Path(f.filename).resolve()) == target]
    lines = ["Traceback (your code):\n"] if frames else []
    lines += traceback.format_list(frames)
    if isinstance(exc, SyntaxError) and exc.filename and str(Path(exc.filename).resolve()) == target:
        lines += traceback.format_exception_only(type(exc), exc)
    else:
        lines += traceback.format_exception_only(type(exc), exc)
    return "".join(lines)


def parse_call_arguments(text: str) -> tuple[tuple, dict]:
    """``"64, n_heads=4"`` → ``((64,), {"n_heads": 4})``; literals only, nothing is executed."""
    text = (text or "").strip()
    if not text:
        return (), {}
    try:
        call = ast.parse(f"f({text})", mode="eval").body
        args = tuple(ast.literal_eval(a) for a in call.args)
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (SyntaxError, ValueError) as exc:
        raise ModelLoadError(f"constructor arguments {text!r} are not Python literals ({exc})") from None
    if any(k is None for k in kwargs):
        raise ModelLoadError("constructor arguments cannot use **kwargs")
    return args, kwargs


def parse_shapes(text: str) -> list[tuple[int, ...]]:
    """``"1, 3, 32, 32; 1, 10"`` → ``[(1, 3, 32, 32), (1, 10)]`` (one shape per input)."""
    shapes = []
    for part in (text or "").split(";"):
        part = part.strip().strip("()[]")
        if not part:
            continue
        try:
            shape = tuple(int(d) for d in part.replace("×", ",").replace("x", ",").split(",") if d.strip())
        except ValueError:
            raise ModelLoadError(f"input shape {part!r} must be integers separated by commas, e.g. 1, 3, 32, 32") from None
        if not shape or any(d <= 0 for d in shape):
            raise ModelLoadError(f"input shape {part!r} must have only positive sizes")
        shapes.append(shape)
    if not shapes:
        raise ModelLoadError("give at least one input shape, e.g. 1, 3, 32, 32")
    return shapes


def make_example_inputs(shapes: str | list | None = None, dtype: str = "float32", *, expression: str | None = None,
                        seed: int = 0) -> tuple:
    """Example inputs from shapes + dtype, or from a Python expression (which is executed).

    The expression sees ``torch``; it may give one tensor or a tuple/list of them.
    Integer dtypes get random ints in [0, 10) (e.g. token ids), floats ``randn``.
    """
    generator = torch.Generator().manual_seed(seed)
    if expression and expression.strip():
        try:
            value = eval(compile(expression, "<example inputs>", "eval"), {"torch": torch, "__builtins__": __builtins__})
        except BaseException as exc:  # SystemExit too: exit() in the expression must not end gradviz
            _interrupts_go_on(exc)
            raise ModelLoadError(f"the example-input expression failed: {type(exc).__name__}: {exc}") from None
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not values or not all(isinstance(v, torch.Tensor) for v in values):
            raise ModelLoadError("the example-input expression must give a tensor or a tuple of tensors")
        return values
    if dtype not in _DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; choose one of {', '.join(_DTYPES)}")
    torch_dtype = _DTYPES[dtype]
    parsed = parse_shapes(shapes) if isinstance(shapes, str) else [tuple(s) for s in (shapes or [])]
    if not parsed:
        raise ModelLoadError("give at least one input shape, e.g. 1, 3, 32, 32")
    _check_inputs_fit(parsed, torch_dtype)
    if torch_dtype.is_floating_point:
        return tuple(torch.randn(s, generator=generator).to(torch_dtype) for s in parsed)
    if torch_dtype == torch.bool:
        return tuple(torch.rand(s, generator=generator) > 0.5 for s in parsed)
    return tuple(torch.randint(0, 10, s, generator=generator, dtype=torch_dtype) for s in parsed)


def _check_inputs_fit(shapes: list[tuple[int, ...]], dtype: torch.dtype) -> None:
    """Refuse example inputs larger than the free RAM before torch tries (and fails, or swaps)."""
    import math

    from gradviz.core.memory import available_memory, format_bytes

    needed = sum(math.prod(shape) for shape in shapes) * torch.empty((), dtype=dtype).element_size()
    free = available_memory("cpu")
    if free is not None and needed > free:
        listed = "; ".join(", ".join(str(d) for d in shape) for shape in shapes)
        raise ModelLoadError(f"input shape {listed} needs {format_bytes(needed)}, but only {format_bytes(free)} of memory is free")


@dataclass
class FileScan:
    """What a Python model file offers: the names that can make a model, the one
    opened by default, and whether it defines ``example_inputs()``."""

    candidates: list[str]
    default: str | None
    has_example_inputs: bool


def scan_python_file(path: str | Path) -> FileScan:
    """Run a user's file (it executes!) and list what it can build; see :class:`FileScan`."""
    module = import_user_file(path)
    candidates = model_candidates(module)
    classes = [c for c in candidates if inspect.isclass(getattr(module, c))]
    return FileScan(candidates, classes[-1] if classes else None, callable(getattr(module, EXAMPLE_INPUTS_HOOK, None)))


# -- python files -----------------------------------------------------------------

def import_user_file(path: str | Path):
    """Execute a user's Python file as a fresh module (its own directory importable)."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file", path=path)
    module_name = f"gradviz_user_{path.stem}_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"{path}: not a Python file that can be imported", path=path)
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent.resolve())
    added = folder not in sys.path
    if added:  # so the file can import its neighbours, as it would when run directly
        sys.path.insert(0, folder)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        _interrupts_go_on(exc)
        raise ModelLoadError(
            f"{path.name} failed while running: {type(exc).__name__}: {exc}", path=path, user_traceback=user_traceback(exc, path)
        ) from None
    finally:
        if added:
            sys.path.remove(folder)
    return module


def _interrupts_go_on(exc: BaseException) -> None:
    """Re-raise Ctrl+C and the Stop button; any other failure of the user's code,
    ``sys.exit()`` and BaseException subclasses included, becomes the caller's error.
    Caught as ``Exception`` only, ``sys.exit(0)`` in a model's forward ended gradviz
    with status 0 and no word."""
    if is_stop_request(exc):
        raise exc


def model_candidates(module) -> list[str]:
    """Names in a user module that can make a model: nn.Module subclasses defined there,
    then functions defined there (factories)."""
    classes, functions = [], []
    for name, value in vars(module).items():
        if name.startswith("_") or name == EXAMPLE_INPUTS_HOOK or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(value) and issubclass(value, nn.Module):
            classes.append(name)
        elif inspect.isfunction(value):
            functions.append(name)
    return classes + functions


def _from_python(path: Path, name: str | None, args: tuple, kwargs: dict) -> tuple[nn.Module, str, Any]:
    module = import_user_file(path)
    candidates = model_candidates(module)
    if name is None:
        # Files usually define the building blocks first and the whole model last
        # (scan_python_file makes the same choice for the dialog).
        classes = [c for c in candidates if inspect.isclass(getattr(module, c))]
        if not classes:
            listed = ", ".join(candidates) or "none"
            raise ModelLoadError(f"{path.name}: no nn.Module class found; name a factory function (found: {listed})", path=path)
        name = classes[-1]
    factory = getattr(module, name, None)
    if factory is None:
        listed = ", ".join(candidates) or "none"
        raise ModelLoadError(f"{path.name} has no class or function named {name!r} (found: {listed})", path=path)
    try:
        model = factory(*args, **kwargs)
    except BaseException as exc:  # sys.exit() in __init__ too: the user's code must not end gradviz
        _interrupts_go_on(exc)
        raise ModelLoadError(
            f"{name}(...) failed: {type(exc).__name__}: {exc}", path=path, user_traceback=user_traceback(exc, path)
        ) from None
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"{name}(...) returned a {type(model).__name__}, not a torch.nn.Module", path=path)
    return model, name, getattr(module, EXAMPLE_INPUTS_HOOK, None)


# -- the one entry point --------------------------------------------------------------

def load_user_model(
    path: str | Path,
    *,
    name: str | None = None,
    args: tuple | str = (),
    kwargs: dict | None = None,
    weights: str | Path | None = None,
    inputs: tuple | None = None,
    input_shapes: str | list | None = None,
    dtype: str = "float32",
    input_expression: str | None = None,
    check_forward: bool = True,
) -> LoadedModel:
    """Open a model file and check it runs on its example inputs.

    ``args`` may be a string of literal constructor arguments (``"64, n_heads=4"``).
    Example inputs come from ``inputs``, or ``input_expression``, or
    ``input_shapes`` + ``dtype``. With ``check_forward`` a forward pass runs
    once so that shape bugs in the user's forward surface here, with their lines.
    """
    path = Path(path)
    if isinstance(args, str):
        args, parsed_kwargs = parse_call_arguments(args)
        kwargs = {**parsed_kwargs, **(kwargs or {})}
    kwargs = kwargs or {}
    suffix = path.suffix.lower()
    inputs_hook = None
    notes: list[str] = []
    if not path.exists():
        raise ModelLoadError(f"{path}: no such file", path=path)
    if suffix in PYTHON_SUFFIXES:
        model, name, inputs_hook = _from_python(path, name, tuple(args), kwargs)
        kind = "python"
    elif suffix in EXPORT_SUFFIXES:
        model, kind, name = _from_export(path), "export", path.name
        notes.append("a torch.export program runs as it was exported: dropout and BatchNorm behave as in the mode it was exported in")
    elif suffix in SCRIPT_SUFFIXES:
        model, kind, name = _from_torchscript(path), "torchscript", path.name
    else:
        raise ModelLoadError(
            f"{path.name}: unknown model file type {suffix!r}; use a .py file, a torch.export .pt2, or a TorchScript file", path=path
        )
    loaded = LoadedModel(module=model, kind=kind, path=path, name=name, notes=notes)
    if weights is not None:
        loaded.notes.append(load_weights(model, weights))
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    if frozen:
        loaded.notes.append(f"{len(frozen)} frozen parameter(s): {', '.join(frozen[:5])}{' …' if len(frozen) > 5 else ''}")
    if inputs is None and (input_shapes or input_expression):
        inputs = make_example_inputs(input_shapes, dtype, expression=input_expression)
    elif inputs is None and callable(inputs_hook):
        try:
            value = inputs_hook()
        except BaseException as exc:
            _interrupts_go_on(exc)
            raise ModelLoadError(
                f"{path.name}: {EXAMPLE_INPUTS_HOOK}() failed: {type(exc).__name__}: {exc}", path=path,
                user_traceback=user_traceback(exc, path),
            ) from None
        inputs = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    loaded.example_inputs = tuple(inputs) if inputs is not None else ()
    if check_forward and loaded.example_inputs:
        check_runs(loaded)
    return loaded


def _crash_report(loaded: LoadedModel) -> Any:
    """The graph up to the op that failed (gradviz.core.partial_graph), or None."""
    from gradviz.core.partial_graph import trace_until_crash

    try:
        return trace_until_crash(loaded.module, loaded.example_inputs)
    except Exception:  # noqa: BLE001 - a report on a failure must not fail the report
        return None


def check_runs(loaded: LoadedModel) -> Any:
    """Run one forward on the example inputs; a failure names the user's lines.

    Buffers (BatchNorm running statistics, step counters) are put back
    afterwards: checking a model must not change it, least of all loaded weights.
    """
    buffers = {name: b.detach().clone() for name, b in loaded.module.named_buffers()}
    try:
        with torch.no_grad():
            return loaded.module(*loaded.example_inputs)
    except BaseException as exc:
        _interrupts_go_on(exc)
        shapes = ", ".join(str(tuple(t.shape)) for t in loaded.example_inputs if isinstance(t, torch.Tensor))
        error = ModelLoadError(
            f"{loaded.name}.forward failed on inputs of shape {shapes}: {type(exc).__name__}: {exc}",
            path=loaded.path, user_traceback=user_traceback(exc, loaded.path) if loaded.kind == "python" else "",
        )
        error.crash = _crash_report(loaded)
        raise error from None
    finally:
        with torch.no_grad():
            for name, buffer in loaded.module.named_buffers():
                if name in buffers:
                    buffer.copy_(buffers[name])


def _from_export(path: Path) -> nn.Module:
    from gradviz.core.safe_export import export_archive_problem

    # torch.export.load can run code from the archive (pickles, exec'd guards):
    # check what it holds first, and refuse rather than ask (see safe_export).
    problem = export_archive_problem(path)
    if problem is not None:
        raise ModelLoadError(f"{path.name} was not opened: {problem}", path=path)
    try:
        program = torch.export.load(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path.name} is not a readable torch.export program: {type(exc).__name__}: {exc}", path=path) from None
    module = program.module()
    # Exported programs keep parameters as plain attributes of the GraphModule:
    # make them trainable so gradients flow into them like in the original model.
    for parameter in module.parameters():
        if parameter.is_floating_point():
            parameter.requires_grad_(True)
    # torch.export makes train()/eval() raise: the program's behaviour (dropout,
    # BatchNorm) is fixed at export time. Training sessions switch modes around
    # every forward, so fall back to nn.Module's, which only set the flags.
    for name in ("train", "eval"):
        if name in vars(module):
            delattr(module, name)
    return module


def _from_torchscript(path: Path) -> nn.Module:
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream, but users still have such files.
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(
            f"{path.name} is not a readable TorchScript file: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            path=path,
        ) from None


def load_weights(model: nn.Module, weights: str | Path) -> str:
    """Load a ``state_dict`` file (safely: ``weights_only=True``) and say what was loaded."""
    weights = Path(weights)
    if not weights.is_file():
        raise ModelLoadError(f"weights file {weights}: no such file", path=weights)
    try:
        with warnings.catch_warnings():  # torch's notes on the pickle protocol: the refusal below says it all
            warnings.simplefilter("ignore")
            state = torch.load(str(weights), map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]  # an empty file's error has no text
        raise ModelLoadError(
            f"weights file {weights.name} cannot be read safely (weights_only=True): {type(exc).__name__}: {first}"
            .rstrip(": "), path=weights,
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelLoadError(f"weights file {weights.name} holds a {type(state).__name__}, not a state_dict", path=weights)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # size mismatches
        first = str(exc).strip().splitlines()
        detail = "; ".join(line.strip() for line in first[1:4]) or first[0]
        raise ModelLoadError(f"weights file {weights.name} does not fit the model: {detail}", path=weights) from None
    problems = []
    if result.missing_keys:
        problems.append(f"missing from the file: {', '.join(result.missing_keys[:5])}")
    if result.unexpected_keys:
        problems.append(f"not in the model: {', '.join(result.unexpected_keys[:5])}")
    if problems:
        raise ModelLoadError(f"weights file {weights.name} does not match the model ({'; '.join(problems)})", path=weights)
    return f"weights loaded from {weights.name} ({len(state)} tensors)"
