"""Is a ``torch.export`` archive (``.pt2``) safe to load? Checked before torch reads it.

``torch.export.load`` is not a data reader: an archive can make it run code.
It unpickles weights and constants marked ``"use_pickle": true`` (and the
legacy ``*.pt`` blobs, and sample inputs that fail the safe reader) with
``weights_only=False``; it ``pickle.loads`` opaque objects; it resolves graph
node targets to *any* callable reachable from ``torch`` (``torch.os.system``);
it ``exec``s the saved guard code; and it ``sympy.sympify``s (``eval``) the
saved symbolic-shape expressions. Archives that ``torch.export.save`` writes
for ordinary models use none of this beyond plain tensors, aten operators,
``sympy`` constructors and simple guards, so that is all we accept; anything
else is refused with the entry that makes it unsafe. Nothing from the archive
is executed or unpickled unsafely here: JSON is parsed and expressions are
only parsed (``ast``), never evaluated.
"""
from __future__ import annotations

import ast
import io
import json
import warnings
import zipfile
from pathlib import Path

__all__ = ["export_archive_problem"]

_MODELS_DIR = "models/"
_WEIGHTS_CONFIG = "data/weights/{}_weights_config.json"
_CONSTANTS_CONFIG = "data/constants/{}_constants_config.json"
_SAMPLE_INPUTS = "data/sample_inputs/{}.pt"
_LEGACY_BLOBS = ("data/weights/{}.pt", "data/constants/{}.pt")
# Compiled native code (AOTInductor shared libraries) is loaded and run as is.
_NATIVE_CODE_DIRS = ("data/aotinductor/",)
_TENSOR_CONSTANT_PREFIX = "tensor_"

# Non-aten graph targets torch.export itself writes (symbolic-shape arithmetic, getitem).
_PLAIN_TARGETS = frozenset(
    [f"_operator.{name}" for name in (
        "eq", "ne", "le", "ge", "lt", "gt", "neg", "pos", "mul", "add", "sub", "floordiv", "mod", "pow",
        "truediv", "and_", "or_", "lshift", "rshift", "getitem",
    )]
    + ["math.trunc", "math.floor", "math.ceil"]
    + [f"torch.{name}" for name in ("sym_not", "sym_int", "sym_float", "sym_ite", "sym_max", "sym_min", "sym_sqrt", "sym_sum")]
)
# What saved guard code may use (it is exec'd by torch): inputs L[...], their sizes, math tests.
_GUARD_NAMES = frozenset({"L", "math", "inf"})
_GUARD_METHODS = frozenset({"size", "stride", "storage_offset", "dim", "numel", "isnan", "isinf", "inf"})


class _Unsafe(Exception):
    pass


def export_archive_problem(path: str | Path) -> str | None:
    """Why loading this ``.pt2`` could run code or is not a current export archive; None when it is safe."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = {_inside_root(name): name for name in archive.namelist()}
            _check(archive, entries)
    except _Unsafe as exc:
        return str(exc)
    except zipfile.BadZipFile:
        return "it is not a readable torch.export program (not a zip file)"
    except (OSError, ValueError, KeyError, RecursionError, UnicodeDecodeError) as exc:
        return f"its contents cannot be checked ({type(exc).__name__}: {exc})"
    return None


def _inside_root(name: str) -> str:
    # torch writes every entry under one folder named after the file ("model/...").
    return name.split("/", 1)[1] if "/" in name else name


def _read_json(archive: zipfile.ZipFile, entries: dict, name: str):
    try:
        return json.loads(archive.read(entries[name]).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _Unsafe(f"its entry {name} is not valid JSON ({exc})") from None


def _check(archive: zipfile.ZipFile, entries: dict) -> None:
    if "archive_format" not in entries:
        raise _Unsafe(
            "it is in the pre-2.8 torch.export format, which is read through pickle (it can run code); "
            "re-save it with torch.export.save in a current torch"
        )
    for name in entries:
        if name.startswith(_NATIVE_CODE_DIRS):
            raise _Unsafe(f"it contains compiled native code ({name}), which would run when loaded")
    models = [name[len(_MODELS_DIR):-len(".json")] for name in entries if name.startswith(_MODELS_DIR) and name.endswith(".json")]
    if not models:
        raise _Unsafe("it contains no exported program (no models/*.json)")
    for model in models:
        for legacy in _LEGACY_BLOBS:
            if legacy.format(model) in entries:
                raise _Unsafe(f"it stores {legacy.format(model)} as a pickle, which can run code when loaded")
        for config_name, what in ((_WEIGHTS_CONFIG, "weight"), (_CONSTANTS_CONFIG, "constant")):
            config_path = config_name.format(model)
            if config_path not in entries:
                raise _Unsafe(f"its entry {config_path} is missing")
            _check_payloads(_read_json(archive, entries, config_path), config_path, what)
        sample = _SAMPLE_INPUTS.format(model)
        if sample in entries:
            _check_sample_inputs(archive.read(entries[sample]), sample)
        program = _read_json(archive, entries, f"{_MODELS_DIR}{model}.json")
        _check_program(program, f"{_MODELS_DIR}{model}.json")


def _check_payloads(config, where: str, what: str) -> None:
    items = config.get("config") if isinstance(config, dict) else None
    if not isinstance(items, dict):
        raise _Unsafe(f"its entry {where} has no 'config' object")
    for fqn, meta in items.items():
        if not isinstance(meta, dict):
            raise _Unsafe(f"its entry {where} describes {fqn!r} with a {type(meta).__name__}, not an object")
        if meta.get("use_pickle"):
            raise _Unsafe(f"its {what} {fqn!r} is stored as a pickle (\"use_pickle\": true in {where}), which can run code when loaded")
        path_name = meta.get("path_name")
        if what == "constant" and not (isinstance(path_name, str) and path_name.startswith(_TENSOR_CONSTANT_PREFIX)):
            raise _Unsafe(f"its constant {fqn!r} is a pickled object ({path_name!r} in {where}), which can run code when loaded")


def _check_sample_inputs(data: bytes, where: str) -> None:
    import torch

    # torch.export.load retries this blob with weights_only=False when the safe reader refuses it.
    try:
        with warnings.catch_warnings():  # torch's note on the pickle protocol: the refusal says it all
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any refusal means torch would fall back to the unsafe reader
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _Unsafe(f"its sample inputs ({where}) cannot be read without unpickling code ({first[:200]})") from None


def _check_program(program, where: str) -> None:
    stack = [program]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            target = value.get("target")
            if isinstance(target, str) and "inputs" in value:
                _check_target(target, where)
            expr = value.get("expr_str")
            if isinstance(expr, str):
                _check_sympy_text(expr, where)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    guards = program.get("guards_code", []) if isinstance(program, dict) else []
    for guard in guards if isinstance(guards, list) else [guards]:
        _check_guard(guard, where)


def _check_target(target: str, where: str) -> None:
    if target in _PLAIN_TARGETS:
        return
    parts = target.split(".")
    if target.startswith("torch.ops.") and len(parts) >= 4 and not any(p.startswith("__") or not p.isidentifier() for p in parts):
        return
    raise _Unsafe(f"its program ({where}) calls {target!r}, which is not a torch operator")


def _sympy_constructors() -> frozenset:
    import sympy

    from torch.utils._sympy import functions as torch_functions

    names = set()
    for namespace in (vars(sympy), vars(torch_functions)):
        for name, value in namespace.items():
            if not name.startswith("_") and isinstance(value, type) and issubclass(value, sympy.Basic):
                names.add(name)
    return frozenset(names)


_CONSTRUCTORS: frozenset | None = None


def _check_sympy_text(text: str, where: str) -> None:
    """Symbolic sizes are srepr text (``Mul(Integer(2), Symbol('s0', integer=True))``) that torch
    ``sympify``s, i.e. evaluates: allow only sympy constructors, numbers and symbol names."""
    global _CONSTRUCTORS
    if _CONSTRUCTORS is None:
        _CONSTRUCTORS = _sympy_constructors()
    tree = _parse(text, where, "a symbolic size")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in _CONSTRUCTORS):
                raise _Unsafe(f"its program ({where}) has a symbolic size {text[:80]!r} that calls something other than sympy")
        elif isinstance(node, ast.Name):
            if node.id not in _CONSTRUCTORS and node.id not in ("True", "False", "oo", "zoo", "nan"):
                raise _Unsafe(f"its program ({where}) has a symbolic size {text[:80]!r} naming {node.id!r}")
        elif isinstance(node, ast.Constant):
            _check_constant(node.value, text, where)
        elif not isinstance(node, (ast.Expression, ast.keyword, ast.Load, ast.UnaryOp, ast.USub, ast.UAdd, ast.Tuple)):
            raise _Unsafe(f"its program ({where}) has a symbolic size {text[:80]!r} that is not a plain expression")


def _check_guard(guard, where: str) -> None:
    if not isinstance(guard, str):
        raise _Unsafe(f"its program ({where}) has a guard that is not text")
    tree = _parse(guard, where, "a guard")
    allowed = (
        ast.Expression, ast.Compare, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Load, ast.Constant,
        ast.Name, ast.Attribute, ast.Call, ast.cmpop, ast.boolop, ast.operator, ast.unaryop, ast.Tuple,
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise _Unsafe(f"its program ({where}) has a guard {guard[:80]!r} that is not a plain comparison")
        if isinstance(node, ast.Name) and node.id not in _GUARD_NAMES:
            raise _Unsafe(f"its program ({where}) has a guard {guard[:80]!r} naming {node.id!r}")
        if isinstance(node, ast.Attribute) and node.attr not in _GUARD_METHODS:
            raise _Unsafe(f"its program ({where}) has a guard {guard[:80]!r} using .{node.attr}")
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Attribute):
            raise _Unsafe(f"its program ({where}) has a guard {guard[:80]!r} calling a function")
        if isinstance(node, ast.Constant):
            _check_constant(node.value, guard, where)


def _check_constant(value, text: str, where: str) -> None:
    # Text is pasted into generated code by torch: only identifier-like strings cannot break out of it.
    if isinstance(value, str) and not (value.isidentifier() and value.isascii()):
        raise _Unsafe(f"its program ({where}) has text {value[:40]!r} in {text[:80]!r} that is not a plain name")
    if not isinstance(value, (str, int, float, bool, type(None))):
        raise _Unsafe(f"its program ({where}) has a constant of type {type(value).__name__} in {text[:80]!r}")


def _parse(text: str, where: str, what: str) -> ast.AST:
    try:
        return ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise _Unsafe(f"its program ({where}) has {what} that is not an expression: {text[:80]!r}") from None
