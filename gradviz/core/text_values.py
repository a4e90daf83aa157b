"""Reading and writing parameter values as the text people type.

"5" and "2, 3" for sizes, "1, 1, 32, 32" for shapes, "1e-5" for floats, empty
for "use the default" (optional parameters). Every failure raises ``ValueError``
with a message that says what was typed and what is expected, ready to show.
No Qt here: the editors call these, tests call them directly. A value that
does not parse is never rounded, clamped or cut to one that does.
"""
from __future__ import annotations

import math
import re

from gradviz.core.layers import FLOAT, INT, SHAPE, ParamDecl, range_problem

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


# A comma right between two digits ("0,5"): a decimal comma to half of Europe, two numbers to
# the parser. Read as two it was taken without a word (the neuron's input x = (0, 5)).
# (Not where a point already marks the decimals: "1.5,2.5" is two numbers.)
_DIGIT_COMMA_DIGIT = re.compile(r"(?<![\d.])\d+,\d+(?![\d.])")


def refuse_decimal_comma(text: str, what: str) -> None:
    """A ValueError where ``text`` has a comma between digits ("0,5"): one number or two?"""
    match = _DIGIT_COMMA_DIGIT.search(text)
    if match:
        start = text.rfind(" ", 0, match.start()) + 1
        end = text.find(" ", match.end())
        word = text[start:end if end >= 0 else len(text)].strip(",;()[]")
        if word.count(",") == 1:
            one, two = word.replace(",", "."), word.replace(",", ", ")
            raise ValueError(f"{what}: {word!r} could be one number or two: write {one} for one, {two} for two")
        raise ValueError(f"{what}: {word!r} could be read several ways: write decimals with a point and "
                         f"separate numbers with a comma and a space ({word.replace(',', ', ')})")


def parse_float_list(text: str, what: str, count: int) -> tuple[float, ...]:
    """Exactly ``count`` numbers: "2, 0" / "(0.5 −1)" → a tuple of floats (numbers mode's x and target).
    A comma between digits ("0,5") is refused: see :func:`refuse_decimal_comma`."""
    refuse_decimal_comma(text, what)
    cleaned = text.strip().strip("()[]").strip()
    parts = [part for part in re.split(r"[,;\s]+", cleaned) if part]
    if not parts:
        raise ValueError(f"{what}: empty; type {count} number{'s' if count != 1 else ''}, e.g. {', '.join(['0.5'] * count)}")
    numbers = tuple(parse_float(part, what) for part in parts)
    if len(numbers) != count:
        raise ValueError(f"{what}: {len(numbers)} number{'s' if len(numbers) != 1 else ''} typed, the model needs {count}")
    return numbers


def parse_input_shape(text: str) -> tuple[int, ...]:
    """The network's input shape, batch included: "1, 1, 32, 32"."""
    shape = parse_int_list(text, "input shape")
    if len(shape) < 2:
        raise ValueError(f"input shape {format_value(shape)}: needs the batch size first, e.g. 1, 1, 32, 32 or 4, 2")
    if any(d <= 0 for d in shape):
        raise ValueError(f"input shape {format_value(shape)}: every size must be at least 1")
    return shape


# -- layer parameters ----------------------------------------------------------------------

def parse_param(decl: ParamDecl, text: str):
    """A layer parameter typed as text, checked against its declared type and range."""
    if decl.type == FLOAT:
        value = parse_float(text, decl.name, optional=decl.optional)
    elif decl.type == SHAPE:
        value = parse_shape(text, decl.name, optional=decl.optional)
    elif decl.type == INT:
        if not text.strip() and decl.optional:
            return None
        if not text.strip():
            raise ValueError(f"{decl.name}: a whole number is required")
        numbers = parse_int_list(text, decl.name)
        if len(numbers) != 1:
            raise ValueError(f"{decl.name}: one whole number expected, got {text.strip()!r}")
        value = numbers[0]
    else:
        value = parse_size(text, decl.name, optional=decl.optional)
    if value is not None:
        problem = range_problem(decl, value if isinstance(value, tuple) else (value,))
        if problem:
            raise ValueError(f"{decl.name} = {format_value(value)} {problem}")
    return value


def step_int(decl: ParamDecl, value, steps: int):
    """``value`` moved by ``steps`` (arrow keys), or None where that leaves the declared range."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    moved = value + steps
    return None if range_problem(decl, (moved,)) else moved


# -- learning rate ---------------------------------------------------------------------------

LR_MAX = 10.0
LR_MIN_STEP = 1e-7  # the arrows stop here; typing a smaller positive lr is fine


def parse_lr(text: str) -> float:
    """A learning rate: a positive number, at most ``LR_MAX``."""
    cleaned = text.strip().replace("−", "-")
    rule = f"lr must be a positive number ≤ {LR_MAX:g}"
    try:
        number = float(cleaned)
    except ValueError:
        raise ValueError(f"{rule}; {cleaned!r} is not a number" if cleaned else f"{rule}, e.g. 0.01") from None
    if not (math.isfinite(number) and 0 < number <= LR_MAX):
        raise ValueError(f"{rule} (typed {cleaned!r})")
    return number


def step_lr(value: float, steps: int) -> float | None:
    """Along 1, 2, 5 × 10ᵏ (0.001 → 0.002 → 0.005 → 0.01); None past ``LR_MIN_STEP`` … ``LR_MAX``."""
    for _ in range(abs(steps)):
        value = _next_on_ladder(value, up=steps > 0)
        if not LR_MIN_STEP * (1 - 1e-9) <= value <= LR_MAX:
            return None
    return value


def _next_on_ladder(value: float, up: bool) -> float:
    exponent = math.floor(math.log10(value)) if value > 0 else -7
    ladder = sorted({m * 10.0 ** e for e in (exponent - 1, exponent, exponent + 1) for m in (1, 2, 5)})
    if up:
        return next((v for v in ladder if v > value * (1 + 1e-9)), ladder[-1])
    return next((v for v in reversed(ladder) if v < value * (1 - 1e-9)), ladder[0])
