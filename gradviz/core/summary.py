"""The model summary table: one row per layer with output shape, derivation and parameter count.

Shared by the CLI (``gradviz info``) and the GUI's model summary panel, so both
explain a network the same way. Built from :func:`gradviz.infer_shapes`: pure
arithmetic on the spec, no forward pass.
"""
from __future__ import annotations

from dataclasses import dataclass

from gradviz.core.shapes import LayerShape, format_shape, infer_shapes
from gradviz.core.spec import NetworkSpec

__all__ = ["SummaryRow", "format_summary", "summary_table", "total_params"]

BYTES_PER_PARAM = 4  # float32, what build_model creates


@dataclass(frozen=True)
class SummaryRow:
    """One layer of the summary.

    ``position`` is the 1-based index path ("4", "4.2" for the second layer
    inside the Residual block 4); ``depth`` is 0 for top-level layers.
    ``num_params`` of a Residual block includes its inner layers.
    """

    position: str
    depth: int
    name: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    derivation: str
    num_params: int
    params_derivation: str


def summary_table(spec: NetworkSpec) -> list[SummaryRow]:
    """The rows for ``spec``, inner layers of a Residual right after their block.

    Raises ``SpecError``/``ShapeError`` (naming the layer) like ``infer_shapes``.
    """
    rows: list[SummaryRow] = []

    def add(shapes: list[LayerShape], prefix: str, depth: int) -> None:
        for i, shape in enumerate(shapes, start=1):
            position = f"{prefix}{i}"
            rows.append(
                SummaryRow(
                    position=position,
                    depth=depth,
                    name=shape.name,
                    kind=shape.kind,
                    input_shape=tuple(shape.input_shape),
                    output_shape=tuple(shape.output_shape),
                    derivation=shape.derivation,
                    num_params=shape.num_params,
                    params_derivation=shape.params_derivation,
                )
            )
            add(shape.children, f"{position}.", depth + 1)

    add(infer_shapes(spec), "", 0)
    return rows


def total_params(rows: list[SummaryRow]) -> int:
    """Parameters of the whole network (top-level rows only: blocks already count their inner layers)."""
    return sum(row.num_params for row in rows if row.depth == 0)



def _size_text(num_bytes: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if num_bytes < 1024 or unit == "GiB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1024
    return ""  # not reached


def format_summary(spec: NetworkSpec) -> str:
    """The summary as a plain-text table with totals, for terminals and logs."""
    rows = summary_table(spec)
    header = ("#", "layer", "kind", "output shape", "derivation", "params", "parameter count")
    table = [header]
    for row in rows:
        indent = "  " * row.depth
        table.append(
            (
                row.position,
                indent + row.name,
                row.kind,
                format_shape(row.output_shape),
                row.derivation,
                f"{row.num_params:,}",
                row.params_derivation,
            )
        )
    widths = [max(len(line[col]) for line in table) for col in range(len(header))]
    right_aligned = {5}  # numbers line up on the right

    def render(line) -> str:
        cells = [
            cell.rjust(width) if col in right_aligned else cell.ljust(width)
            for col, (cell, width) in enumerate(zip(line, widths))
        ]
        return "  ".join(cells).rstrip()

    total = total_params(rows)
    out_shape = rows[-1].output_shape if rows else tuple(spec.input_shape)
    lines = [
        f"{spec.name}: input {format_shape(spec.input_shape)} -> output {format_shape(out_shape)}",
        render(table[0]),
        "  ".join("-" * w for w in widths),
    ]
    lines.extend(render(line) for line in table[1:])
    lines.append("")
    lines.append(
        f"total parameters: {total:,} ({_size_text(total * BYTES_PER_PARAM)} as float32)"
    )
    lines.append(f"layers: {len(rows)}")
    return "\n".join(lines)
