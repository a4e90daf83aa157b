"""Reading and writing parameter values as the text people type.

"5" and "2, 3" for sizes, "1, 1, 32, 32" for shapes, "1e-5" for floats, empty
for "use the default" (optional parameters). Every failure raises ``ValueError``
with a message that says what was typed and what is expected, ready to show.
No Qt here: the editors call these, tests call them directly.
"""
from __future__ import annotations

import math
import re

_SEPARATORS = re.compile(r"[,\s×]+")


def format_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """"1, 1, 32, 32" / "(2, 3)" / "2 × 3" → a tuple of ints."""
    cleaned = text.strip().strip("()[]").strip()
    if not cleaned:
        raise ValueError(f"{what}: empty; type a whole number like 5, or one per dimension like 2, 3")
    parts = [part for part in _SEPARATORS.split(cleaned) if part]
    numbers = []
    for part in parts:
        try:
            numbers.append(int(part))
        except ValueError:
            raise ValueError(f"{what}: {part!r} is not a whole number (typed {text.strip()!r})") from None
    return tuple(numbers)


def parse_size(text: str, what: str, *, optional: bool = False):
    """A SIZE parameter: one int, or a tuple of ints (one per spatial dimension)."""
    if not text.strip():
        if optional:
            return None
        raise ValueError(f"{what}: a value is required; type a whole number like 5, or one per dimension like 2, 3")
    numbers = parse_int_list(text, what)
    return numbers[0] if len(numbers) == 1 else numbers


def parse_shape(text: str, what: str, *, optional: bool = False):
    """A SHAPE parameter: always a tuple, even for one dimension ("10" → (10,))."""
    if not text.strip() and optional:
        return None
    return parse_int_list(text, what)


def parse_float(text: str, what: str, *, optional: bool = False):
    cleaned = text.strip()
    if not cleaned:
        if optional:
            return None
        raise ValueError(f"{what}: a number is required, e.g. 0.5 or 1e-5")
    try:
        number = float(cleaned.replace("−", "-"))
    except ValueError:
        raise ValueError(f"{what}: {cleaned!r} is not a number; use e.g. 0.5 or 1e-5") from None
    if not math.isfinite(number):
        raise ValueError(f"{what}: {cleaned!r} is not a finite number")
    return number


def parse_input_shape(text: str) -> tuple[int, ...]:
    """The network's input shape, batch included: "1, 1, 32, 32"."""
    shape = parse_int_list(text, "input shape")
    if len(shape) < 2:
        raise ValueError(f"input shape {format_value(shape)}: needs the batch size first, e.g. 1, 1, 32, 32 or 4, 2")
    if any(d <= 0 for d in shape):
        raise ValueError(f"input shape {format_value(shape)}: every size must be at least 1")
    return shape
