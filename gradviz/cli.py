"""The ``gradviz`` command: the GUI without arguments, headless subcommands otherwise.

    gradviz                                   open the GUI
    gradviz info --preset lenet               layer table: shapes, derivations, parameters
    gradviz export --preset lenet -o g.svg    autograd graph of one forward + loss
    gradviz open-model model.py --name Net    open your own model, train N steps, summarise
    gradviz explain --preset neuron           the backward pass node by node, with the numbers
    gradviz view runs/exp1.gvrun              replay a run recorded with gradviz.watch (live)
    gradviz view --summary runs/exp1.gvrun    the same run summarised as text

Every problem the user can fix (unknown preset, missing or corrupt project
file, shapes that do not fit, unknown format, unwritable output) is one line
on stderr, ``gradviz: error: ...``, and exit code 2; never a traceback. Set
``GRADVIZ_DEBUG=1`` to get the traceback of an unexpected error.

Adding a subcommand is one function that registers its parser and sets
``handler`` (see ``_COMMANDS`` at the bottom).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, Sequence

__all__ = ["main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PROG = "gradviz"


class _UsageError(Exception):
    """A problem with what the user asked for: reported on one line, exit code 2.

    ``details`` (e.g. the traceback lines of the user's own model file) follow
    that line on stderr."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors as one line instead of usage + exit."""

    def error(self, message):  # argparse's hook for every argument error
        raise _UsageError(message)


# ---------------------------------------------------------------------------
# shared options


def _seed(text: str) -> int:
    """A seed torch.manual_seed accepts (a 64-bit integer); argparse reports anything else on one line."""
    try:
        value = int(text)
    except ValueError:  # argparse would say "invalid _seed value", a name from this file
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number: give an integer seed, e.g. 0") from None
    if not -(2**63) <= value < 2**64:
        raise argparse.ArgumentTypeError(f"{text} is out of range: use an integer below 2**64")
    return value


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="a built-in network, e.g. lenet (see: gradviz info --list)")
    source.add_argument("--project", metavar="FILE", help="a gradviz project file (.gvz.json)")


def _load_spec(args):
    """The NetworkSpec chosen by --preset/--project, or _UsageError saying why not."""
    from gradviz.core import presets
    from gradviz.core.project import ProjectError, load_project
    from gradviz.core.spec import ShapeError, SpecError

    try:
        spec = presets.load(args.preset) if args.preset is not None else load_project(args.project).spec
        from gradviz.core.shapes import infer_shapes

        infer_shapes(spec)  # shape problems are the user's to fix: report them by layer
    except (SpecError, ShapeError, ProjectError) as exc:
        raise _UsageError(str(exc)) from None
    return spec


# ---------------------------------------------------------------------------
# gradviz info


def _add_info(subparsers) -> None:
    parser = subparsers.add_parser(
        "info", help="print the layer table of a network", description="Layer table: output shapes, how they come about, parameter counts."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--preset", metavar="NAME", help="a built-in network, e.g. lenet")
    source.add_argument("--project", metavar="FILE", help="a gradviz project file (.gvz.json)")
    source.add_argument("--list", action="store_true", help="list the built-in networks")
    parser.set_defaults(handler=_run_info)


def _run_info(args) -> int:
    if args.list:
        from gradviz.core import presets

        for name in presets.names():
            print(f"{name:12}  {presets.DESCRIPTIONS[name]}")
        return EXIT_OK
    from gradviz.core.summary import format_summary

    print(format_summary(_load_spec(args)))
    return EXIT_OK


# ---------------------------------------------------------------------------
# gradviz export


def _add_export(subparsers) -> None:
    from gradviz.core.export import FORMATS
    from gradviz.core.vocabulary import LOSSES

    parser = subparsers.add_parser(
        "export",
        help="write the autograd graph of one forward pass and loss to a file",
        description="Build the network, run one forward pass and the loss on random data, and write the autograd graph.",
    )
    _add_model_options(parser)
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write")
    parser.add_argument("-f", "--format", choices=FORMATS, help="default: from the file suffix")
    parser.add_argument("--loss", default="mse", choices=LOSSES, help="loss function (default: mse)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for the weights and the random batch (default: 0)")
    parser.set_defaults(handler=_run_export)


def _run_export(args) -> int:
    from gradviz.core.export import format_for_path
    from gradviz.core.session import TrainingError, TrainingSession

    try:
        fmt = format_for_path(args.output, args.format)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    spec = _load_spec(args)
    try:
        graph = TrainingSession(spec, loss=args.loss, seed=args.seed).preview_graph()
    except (TrainingError, ValueError) as exc:
        raise _UsageError(str(exc)) from None
    path = _write_graph(graph, args.output, fmt)
    print(f"wrote {path} ({fmt}, {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges)")
    return EXIT_OK


def _write_graph(graph, path, fmt: str):
    """Export ``graph``; a file that cannot be written is a one-line usage error."""
    from gradviz.graph_export import export_graph

    try:
        written = export_graph(graph, path, fmt)
        if written.stem.endswith("-p1"):  # too tall for one readable PNG: numbered pages
            print(f"note: the graph is too tall for one PNG with readable text; it is in pages "
                  f"{written.name}, {written.stem[:-1]}2{written.suffix}, … (SVG keeps it in one file)")
        return written
    except OSError as exc:
        raise _UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    except ImportError as exc:
        raise _UsageError(f"{fmt} export needs PySide6 ({exc})") from None


# ---------------------------------------------------------------------------
# gradviz open-model


def _add_open_model(subparsers) -> None:
    from gradviz.core.vocabulary import LOSSES, OPTIMIZERS

    parser = subparsers.add_parser(
        "open-model",
        help="open your own PyTorch model, run training steps and summarise them",
        description=(
            "Open a model you wrote (a Python file plus a class or factory name, a torch.export .pt2 "
            "program, or a TorchScript file), run N training iterations on your example inputs with "
            "random targets, and print a summary. A Python file is executed: only open files you trust."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="a .py file, a torch.export .pt2 program or a TorchScript file")
    parser.add_argument("--name", metavar="CLS", help="class or factory function in a .py file (default: its last nn.Module class)")
    parser.add_argument("--args", default="", metavar="TEXT", help='constructor arguments as Python literals, e.g. "n_layers=4, d_model=64"')
    parser.add_argument("--weights", metavar="W", help="a state_dict file (read with torch.load(weights_only=True))")
    inputs = parser.add_mutually_exclusive_group()
    inputs.add_argument("--inputs", default="", metavar="SHAPES",
                        help='input shape(s), batch first, one per forward argument: "1,3,32,32; 1,10"')
    inputs.add_argument("--input-expr", default="", metavar="EXPR",
                        help='a Python expression (sees torch) giving the input tensor(s), e.g. "torch.randint(0, 100, (2, 16))"')
    parser.add_argument("--dtype", default=None, help="dtype of --inputs tensors, e.g. int64 for token ids (default: float32)")
    parser.add_argument("--loss", default="mse", choices=LOSSES, help="loss function (default: mse)")
    parser.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS, help="optimizer (default: sgd)")
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate (default: 0.01)")
    parser.add_argument("--steps", type=int, default=1, metavar="N", help="training iterations to run (default: 1; 0: graph only)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for the weights and the random targets (default: 0)")
    parser.add_argument("--export-graph", metavar="OUT", help="write the autograd graph of the last step (.svg, .dot, .png, .graphml, .json)")
    parser.add_argument("--collapse", metavar="auto|DEPTH", type=_collapse_choice,
                        help="export the graph with modules collapsed into boxes and alike repeats folded "
                             "(blocks.0 … blocks.23 ×24): 'auto' as the app opens it, or a module depth (1 = top level)")
    parser.set_defaults(handler=_run_open_model)


def _collapse_choice(text: str):
    """``--collapse``: ``"auto"`` or a depth >= 0."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        depth = int(text)
    except ValueError:
        depth = -1
    if depth < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a depth 0, 1, 2, …, got {text!r}")
    return depth


def _collapsed_for_export(graph, choice):
    """``graph`` as ``--collapse`` asks: boxes per module, alike repeats folded (see gradviz.core.collapse)."""
    from gradviz.core import collapse

    if choice is None:
        return graph
    wanted = collapse.readable_collapse(graph) if choice == "auto" else collapse.modules_at_depth(graph, choice)
    return collapse.collapse_graph(graph, wanted, fold=True).graph


def _run_open_model(args) -> int:
    from gradviz.core.user_model_loader import ModelLoadError
    from gradviz.core.model_io import describe_inputs
    from gradviz.core.user_model import UserModelRequest, open_user_model, parameter_counts

    if args.steps < 0:
        raise _UsageError(f"--steps must be 0 or more, got {args.steps}")
    if args.collapse is not None and not args.export_graph:  # it shapes the export only: asked alone it did nothing
        raise _UsageError("--collapse shapes the exported graph: add --export-graph OUT (e.g. graph.svg)")
    if args.dtype is not None and not args.inputs:  # it shapes --inputs only: other inputs keep their own dtype
        source = "--input-expr" if args.input_expr else "the file's example_inputs()"
        raise _UsageError(f"--dtype is the dtype of --inputs shapes; the inputs come from {source}, "
                          "in their own dtype: add --inputs SHAPES or drop --dtype")
    export_format = None
    if args.export_graph:
        from gradviz.core.export import format_for_path

        try:
            export_format = format_for_path(args.export_graph)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
    request = UserModelRequest(
        path=args.file, name=args.name, args=args.args, weights=args.weights, input_shapes=args.inputs, dtype=args.dtype or "float32",
        input_expression=args.input_expr, loss=args.loss, optimizer=args.optimizer, lr=args.lr, seed=args.seed,
    )
    try:
        opened = open_user_model(request)
    except ModelLoadError as exc:
        details = exc.user_traceback
        crash = getattr(exc, "crash", None)
        if crash is not None:  # the forward raised: say which op, and export the graph up to it
            details = (details.rstrip("\n") + "\n" if details else "") + f"failed op: {crash.describe()}\n"
            if export_format is not None:
                path = _write_graph(crash.graph, args.export_graph, export_format)
                details += f"wrote        {path} ({export_format}, the graph up to the failed op)\n"
        raise _UsageError(str(exc), details) from None
    loaded, session = opened.loaded, opened.session
    print(f"model       {loaded.name} from {loaded.path} ({loaded.kind})")
    print(f"inputs      {describe_inputs(loaded.example_inputs)}")
    returned = session.output_description or f"tensor {session.output_shape}"
    print(f"output      {returned}; loss {session.loss_name} on {session.loss_output} {session.output_shape}")
    graph, record = opened.graph, None
    for step in range(args.steps):
        try:
            record = session.run_iteration()
        except Exception as exc:  # noqa: BLE001 - their forward on a later step: say where, with their lines
            from gradviz.core.user_model import _their_lines

            raise _UsageError(f"step {step + 1}: {exc}", _their_lines(exc, loaded)) from None
        print(f"step {step + 1:<6} loss {record.loss:.6g}")
        graph = record.graph if record.graph is not None else graph
    if session.first_nonfinite is not None:  # where it started, op and line (gradviz.core.nan_origin)
        # The search made when NaN/Inf first appeared (same batch, same weights); searched again
        # after the last step, it blamed a weight the NaN had since reached, not the op that made it.
        report = session.nonfinite_report or session.find_first_nonfinite()
        for line in report.summary().splitlines():
            print(f"nan origin  {line}")
    status = opened.parameter_status()
    print(f"parameters  {parameter_counts(session, status).describe()}")
    for kind in ("frozen", "no gradient"):
        names = [name for name, s in status.items() if s == kind]
        if names:
            print(f"  {kind + ':':13} {', '.join(names[:8])}{' …' if len(names) > 8 else ''}")
    print(f"graph       {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges "
          f"({'last step' if record is not None else 'one forward pass and the loss'})")
    for note in opened.notes:
        print(f"note        {note}")
    if export_format is not None:
        shown = _collapsed_for_export(graph, args.collapse)
        if shown is not graph:
            print(f"collapsed   {shown.number_of_nodes()} boxes and nodes shown of {graph.number_of_nodes()}")
        path = _write_graph(shown, args.export_graph, export_format)
        print(f"wrote       {path} ({export_format})")
    return EXIT_OK


# ---------------------------------------------------------------------------
# gradviz explain


def _add_explain(subparsers) -> None:
    from gradviz.core.node_grads import WHOLE_TENSOR_LIMIT
    from gradviz.core.vocabulary import LOSSES

    parser = subparsers.add_parser(
        "explain",
        help="print the backward pass node by node, with the numbers (a lecture handout)",
        description=(
            "Run one forward pass, the loss and backward, and print what every autograd node received, "
            "its rule, the rule with the numbers, and what it sent on. Try --preset neuron."
        ),
    )
    _add_model_options(parser)
    parser.add_argument("--input", metavar="VALUES", help='input values, e.g. "0.5, -1" (samples separated by ";"); default: random')
    parser.add_argument("--target", metavar="VALUES", help='target values, e.g. "1" (class indices for class losses); default: random')
    parser.add_argument("--loss", default="mse", choices=LOSSES, help="loss function (default: mse)")
    parser.add_argument("--seed", type=_seed, default=0, help="seed for the weights and the random batch (default: 0)")
    parser.add_argument("--whole-tensor-limit", type=int, default=WHOLE_TENSOR_LIMIT, metavar="N",
                        help=f"keep tensors of up to N elements whole, summarise larger ones (default: {WHOLE_TENSOR_LIMIT})")
    parser.set_defaults(handler=_run_explain)


def _parse_values(text: str, option: str) -> list:
    """``"0.5, -1"`` -> ``[0.5, -1.0]``; ``"1, 2; 3, 4"`` -> ``[[1.0, 2.0], [3.0, 4.0]]``
    (``"0,5"`` is refused: one number or two? see ``text_values.refuse_decimal_comma``)."""
    from gradviz.core.text_values import refuse_decimal_comma

    try:
        refuse_decimal_comma(text, option)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    rows = []
    for row in text.split(";"):
        values = []
        for item in row.replace(" ", ",").split(","):
            if not item.strip():
                continue
            try:
                value = float(item.replace("−", "-"))
            except ValueError:
                raise _UsageError(f"{option}: {item.strip()!r} is not a number; give numbers separated by commas, samples by ';'") from None
            if not math.isfinite(value):
                # "1e999" overflows to inf and "nan" parses: either would explain a loss of inf/nan, not backward
                raise _UsageError(f"{option}: {item.strip()!r} is not a finite number; give ordinary numbers like 0.5 or -1e3")
            values.append(value)
        if not values:
            raise _UsageError(f"{option}: no numbers in {text!r}; give numbers separated by commas, samples by ';'")
        rows.append(values)
    if len({len(row) for row in rows}) > 1:
        raise _UsageError(f"{option}: every sample needs the same number of values, got {[len(r) for r in rows]}")
    return rows[0] if len(rows) == 1 else rows


def _run_explain(args) -> int:
    from gradviz.core.data import DataError, GivenData
    from gradviz.core.explain import format_backward
    from gradviz.core.session import TrainingError, TrainingSession

    spec = _load_spec(args)
    if args.whole_tensor_limit < 0:
        raise _UsageError(f"--whole-tensor-limit must be 0 or more, got {args.whole_tensor_limit}")
    data = None
    if args.input is not None or args.target is not None:
        if args.input is None:
            raise _UsageError("--target needs --input too (the values the target belongs to)")
        inputs = _parse_values(args.input, "--input")
        targets = None if args.target is None else _parse_values(args.target, "--target")
        try:
            data = GivenData(inputs, targets, seed=args.seed)
        except DataError as exc:
            raise _UsageError(str(exc)) from None
    try:
        session = TrainingSession(spec, loss=args.loss, seed=args.seed, data=data, node_gradients=True,
                                  whole_tensor_limit=args.whole_tensor_limit)
        while session.next_phase != "step":
            session.advance()
    except (TrainingError, ValueError) as exc:
        raise _UsageError(str(exc)) from None
    name = args.preset or args.project
    print(f"{name}: one forward pass, the {args.loss} loss and backward (seed {args.seed}; {session.data.describe()})")
    print()
    print(format_backward(session.current), end="")
    return EXIT_OK


# ---------------------------------------------------------------------------
# gradviz view


def _add_view(subparsers) -> None:
    parser = subparsers.add_parser(
        "view", help="replay a run file recorded with gradviz.watch (GUI; --summary for text)",
        description="Open a run file (.gvrun) written by gradviz.watch in the run viewer: the graph coloured by "
                    "gradient norms, loss, norm bars, gradient flow and heatmaps, with a slider over every recorded "
                    "iteration; new iterations appear while the training writes them. --summary prints a summary "
                    "instead (iterations, loss curve, learning rate, recorded parameters, NaN/Inf, skipped steps).",
    )
    parser.add_argument("run", metavar="RUN", help="a run file written by gradviz.watch (.gvrun)")
    parser.add_argument("--summary", action="store_true", help="print a text summary instead of opening the GUI")
    parser.set_defaults(handler=_run_view)


def _run_view(args) -> int:
    from gradviz.core.runfile import RunFileError, open_run

    # Checked here first even for the GUI: a file that is not a run is one line
    # on stderr and exit 2, not a window that opens only to say so.
    try:
        with open_run(args.run) as run:
            if args.summary:
                _print_run(run)
                return EXIT_OK
    except RunFileError as exc:
        raise _UsageError(str(exc)) from None
    return _open_run_viewer(args.run)


def _no_display() -> bool:
    """True on a Linux/BSD machine without a display (a GPU server over ssh), where
    Qt would abort the process instead of opening a window."""
    if not sys.platform.startswith(("linux", "freebsd", "openbsd")):
        return False
    if os.environ.get("QT_QPA_PLATFORM"):
        return False  # the user chose a platform (offscreen, vnc, ...)
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_run_viewer(path: str) -> int:
    if _no_display():
        raise _UsageError("no display to open the viewer on (DISPLAY is not set): use `gradviz view --summary RUN`, "
                          "or copy the run file to a machine with a display (ssh -X also works)")
    try:
        from gradviz.ui.run_viewer.app import main as view_main
    except ImportError as exc:
        print(f"{PROG}: error: cannot start the GUI: {exc}; `gradviz view --summary RUN` works without it",
              file=sys.stderr)
        return EXIT_FAILURE
    return view_main(path)


def _print_run(run) -> None:
    import math

    meta = run.meta
    print(f"run         {run.path} (format version {run.version}, written by gradviz {meta.get('gradviz', '?')})")
    print(f"model       {meta.get('model', '?')}, optimizer {meta.get('optimizer') or 'none'}, "
          f"level {run.level}, every {run.every}, world size {meta.get('world_size', '1')}")
    indices = run.indices()
    if not indices:
        print("iterations  none recorded yet")
        return
    print(f"iterations  {len(indices)} recorded ({indices[0]} … {indices[-1]})")
    losses = [(i, loss) for i, loss in run.losses() if loss is not None]
    finite = [(i, loss) for i, loss in losses if math.isfinite(loss)]
    if losses:
        first, last = losses[0], losses[-1]
        best = min(finite, key=lambda pair: pair[1]) if finite else None
        low = f"min {best[1]:.6g} at {best[0]}, " if best else ""
        print(f"loss        first {first[1]:.6g}, {low}last {last[1]:.6g} (iteration {last[0]})")
    newest = run[-1]
    if newest.lrs:
        print(f"lr          {', '.join(f'{lr:.6g}' for lr in newest.lrs)} (last iteration, per param group)")
    whole = ", ".join(run.recorded_params) or "none"
    print(f"params      {len(run.param_names)} with norms; whole tensors for {len(run.recorded_params)}: {whole}")
    if run.level == "full":
        graph = newest.graph
        size = f"{graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges" if graph is not None else "none"
        print(f"graph       {size} (last iteration); {run.graph_count()} structure(s) in the run")
    flags = run.flags()
    bad = [(i, names) for i, names, _ in flags if names]
    skipped = [i for i, _, was_skipped in flags if was_skipped]
    if bad:
        i, names = bad[0]
        print(f"nonfinite   in {len(bad)} iteration(s), first at {i}: {', '.join(names[:5])}")
    origin = run.nonfinite_origin()
    if origin is not None:
        print(f"nan origin  {origin.describe().removeprefix('First NaN/Inf: ')}")
    if skipped:
        print(f"skipped     {len(skipped)} optimizer step(s) skipped (Inf/NaN gradients), first at {skipped[0]}")
    ranks = run.ranks()
    if ranks:
        print(f"ranks       {', '.join(map(str, ranks))} wrote their own loss and gradient norms")


# ---------------------------------------------------------------------------
# gradviz (no subcommand)


def _open_gui() -> int:
    if _no_display():  # Qt would abort the process (status 134, seven lines of its own)
        raise _UsageError("no display to open the window on (DISPLAY is not set): the headless commands "
                          "(gradviz info, export, explain, open-model) work without one; ssh -X gives one")
    try:
        from gradviz.app import main as app_main
    except ImportError as exc:
        print(f"{PROG}: error: cannot start the GUI: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    result = app_main()
    return result if isinstance(result, int) else EXIT_OK


# ---------------------------------------------------------------------------

# Each entry registers one subcommand on the subparsers object.
_COMMANDS: list[Callable] = [_add_info, _add_export, _add_open_model, _add_explain, _add_view]


def build_parser() -> argparse.ArgumentParser:
    from gradviz import __version__

    parser = _Parser(
        prog=PROG,
        description="Make PyTorch autograd visible. Without a command, opens the GUI.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in _COMMANDS:
        add(subparsers)
    return parser


def _utf8_safe_streams() -> None:
    # Derivations use "·", "−" and "→"; a legacy console encoding must not
    # turn the table into a UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError):
            pass


def _one_line(text: str) -> str:
    """``text`` as one line: line breaks and other control characters (e.g. echoed from an
    argument or a file name) written as escapes, so the error stays one line on stderr."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    _utf8_safe_streams()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            return _open_gui()
        return args.handler(args)
    except _UsageError as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        if exc.details:
            print(exc.details.rstrip("\n"), file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("GRADVIZ_DEBUG"):
            raise
        print(f"{PROG}: error: unexpected {type(exc).__name__}: {_one_line(str(exc))} (set GRADVIZ_DEBUG=1 for details)", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
