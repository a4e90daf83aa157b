"""Backward rules: element-wise arithmetic.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch

from gradviz.core.backward_rules.registry import _shape, grad, passed, rule, saved, sum_to
from gradviz.core.node_grads import NodeGradients


@rule("AddBackward0", "y = a + α·b", "Addition passes the gradient to both inputs (b's scaled by α), "
      "summed back over any broadcast dims.", "∂L/∂a = ∂L/∂y", "∂L/∂b = α · ∂L/∂y")
def _add(n):
    g = grad(n)
    return [sum_to(g, _shape(n, 0)), sum_to(n.saved["alpha"] * g, _shape(n, 1))]


@rule("SubBackward0", "y = a − α·b", "The first input gets the gradient, the second its negative (times α).",
      "∂L/∂a = ∂L/∂y", "∂L/∂b = −α · ∂L/∂y")
def _sub(n):
    g = grad(n)
    return [sum_to(g, _shape(n, 0)), sum_to(-n.saved["alpha"] * g, _shape(n, 1))]


@rule("RsubBackward1", "y = c − α·a   (c a number)", "The input gets the negative gradient (times α).",
      "∂L/∂a = −α · ∂L/∂y")
def _rsub(n):
    return [-n.saved["alpha"] * grad(n)]


@rule("MulBackward0", "y = a · b   (element-wise; dropout is x · mask/(1−p))",
      "Each factor gets the gradient times the other factor.", "∂L/∂a = ∂L/∂y · b", "∂L/∂b = ∂L/∂y · a",
      inputs={0: "self", 1: "other"})
def _mul(n):
    g = grad(n)
    d_a = sum_to(g * _operand(n, "other"), _shape(n, 0)) if _shape(n, 0) is not None else None
    d_b = sum_to(g * _operand(n, "self"), _shape(n, 1)) if _shape(n, 1) is not None else None
    return [d_a, d_b]


def _operand(n: NodeGradients, name: str):
    value = n.saved.get(name)
    return value if isinstance(value, (int, float)) else saved(n, name)


@rule("DivBackward0", "y = a / b", "The numerator gets the gradient divided by b; the denominator gets −a/b² times it.",
      "∂L/∂a = ∂L/∂y / b", "∂L/∂b = −∂L/∂y · a / b²", inputs={0: "self", 1: "other"})
def _div(n):
    g = grad(n)
    b = _operand(n, "other")
    d_a = sum_to(g / b, _shape(n, 0)) if _shape(n, 0) is not None else None
    d_b = sum_to(-g * _operand(n, "self") / (b * b), _shape(n, 1)) if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("NegBackward0", "y = −x", "Negation flips the gradient's sign.", "∂L/∂x = −∂L/∂y")
def _neg(n):
    return [-grad(n)]


@rule("AbsBackward0", "y = |x|", "The gradient keeps its sign where x > 0 and flips it where x < 0 (0 at 0).",
      "∂L/∂x = ∂L/∂y · sign(x)", inputs={0: "self"})
def _abs(n):
    return [grad(n) * saved(n, "self").sgn()]


@rule("MaskedFillBackward0", "y = x with masked positions set to a constant",
      "Overwritten positions no longer depend on x: they get zero gradient.", "∂L/∂x = ∂L/∂y where not mask, 0 where mask")
def _masked_fill(n):
    # a tensor fill value (a second slot) would get the sum of the masked positions' gradients
    g, mask = grad(n), saved(n, "mask")
    return [g.masked_fill(mask, 0)] + [sum_to(passed(g, mask), _shape(n, 1))] * (len(n.input_shapes) - 1)


@rule("WhereBackward0", "y = where(c, a, b)   (a where the condition holds, else b)",
      "Each position's gradient goes to the input that was picked there; the other gets zero.",
      "∂L/∂a = ∂L/∂y where c, 0 elsewhere", "∂L/∂b = ∂L/∂y where not c, 0 elsewhere")
def _where(n):
    g, condition = grad(n), saved(n, "condition")
    zero = g.new_zeros(())
    return [sum_to(torch.where(condition, g, zero), _shape(n, 0)), sum_to(torch.where(condition, zero, g), _shape(n, 1))]


def _pick_larger(g: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The gradient where a won (a > b), half of it where they tied."""
    return torch.where(a == b, g / 2, g).masked_fill(a < b, 0)


@rule("MaximumBackward0", "y = maximum(a, b)   (element-wise)",
      "Each position's gradient goes to the larger input; a tie splits it in half.",
      "∂L/∂a = ∂L/∂y where a > b (½ where a = b)", "∂L/∂b = ∂L/∂y where b > a (½ where a = b)",
      inputs={0: "self", 1: "other"})
def _maximum(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    return [sum_to(_pick_larger(g, a, b), _shape(n, 0)), sum_to(_pick_larger(g, b, a), _shape(n, 1))]


@rule("MinimumBackward0", "y = minimum(a, b)   (element-wise)",
      "Each position's gradient goes to the smaller input; a tie splits it in half.",
      "∂L/∂a = ∂L/∂y where a < b (½ where a = b)", "∂L/∂b = ∂L/∂y where b < a (½ where a = b)",
      inputs={0: "self", 1: "other"})
def _minimum(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    return [sum_to(_pick_larger(g, b, a), _shape(n, 0)), sum_to(_pick_larger(g, a, b), _shape(n, 1))]


@rule("PowBackward0", "y = xᵖ   (p a number; x.pow(2), x ** 0.5, square())", "The power rule: the slope is p · xᵖ⁻¹.",
      "∂L/∂x = ∂L/∂y · p · xᵖ⁻¹", inputs={0: "self"})
def _pow(n):
    g, x, p = grad(n), saved(n, "self"), n.saved["exponent"]
    return [torch.zeros_like(x) if p == 0 else g * p * x.pow(p - 1)]


def _pow_exponent_slope(base, exponent: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
    """∂(aᵇ)/∂b = aᵇ · ln a, taken as 0 where a = 0 and b ≥ 0 (where 0ᵇ is flat, autograd's convention)."""
    log = base.log() if isinstance(base, torch.Tensor) else torch.full_like(result, math.log(base) if base > 0 else math.nan)
    return torch.where((torch.as_tensor(base) == 0) & (exponent >= 0), 0.0, result * log)


@rule("PowBackward1", "y = aᵇ   (both tensors, element-wise)",
      "The base gets the power rule b · aᵇ⁻¹; the exponent gets aᵇ · ln a.",
      "∂L/∂a = ∂L/∂y · b · aᵇ⁻¹", "∂L/∂b = ∂L/∂y · aᵇ · ln a", inputs={0: "self", 1: "exponent"})
def _pow_tensor(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "exponent")
    d_a = torch.where(b == 0, 0.0, g * b * a.pow(b - 1))
    d_b = g * _pow_exponent_slope(a, b, saved(n, "result"))
    return [sum_to(d_a, _shape(n, 0)), sum_to(d_b, _shape(n, 1))]


@rule("PowBackward2", "y = cᵇ   (c a number, b a tensor)", "The exponent's slope is cᵇ · ln c.",
      "∂L/∂b = ∂L/∂y · cᵇ · ln c")
def _pow_number_base(n):
    return [grad(n) * _pow_exponent_slope(n.saved["self"], saved(n, "exponent"), saved(n, "result"))]


@rule("ExpBackward0", "y = eˣ", "eˣ is its own slope: the gradient times the output.", "∂L/∂x = ∂L/∂y · y")
def _exp(n):
    return [grad(n) * saved(n, "result")]


@rule("LogBackward0", "y = ln x", "ln's slope is 1/x.", "∂L/∂x = ∂L/∂y / x", inputs={0: "self"})
def _log(n):
    return [grad(n) / saved(n, "self")]


@rule("Log1PBackward0", "y = ln(1 + x)", "Its slope is 1/(1 + x).", "∂L/∂x = ∂L/∂y / (1 + x)", inputs={0: "self"})
def _log1p(n):
    return [grad(n) / (1 + saved(n, "self"))]


@rule("SqrtBackward0", "y = √x", "√x's slope is 1/(2√x) = 1/(2y).", "∂L/∂x = ∂L/∂y / (2y)")
def _sqrt(n):
    return [grad(n) / (2 * saved(n, "result"))]


@rule("RsqrtBackward0", "y = 1/√x   (RMSNorm: x · rsqrt(mean(x²) + ε))", "1/√x's slope is −½ · x^(−3/2) = −½ · y³.",
      "∂L/∂x = −½ · ∂L/∂y · y³")
def _rsqrt(n):
    return [-0.5 * grad(n) * saved(n, "result").pow(3)]


@rule("ReciprocalBackward0", "y = 1/x", "1/x's slope is −1/x² = −y².", "∂L/∂x = −∂L/∂y · y²")
def _reciprocal(n):
    y = saved(n, "result")
    return [-grad(n) * y * y]


@rule("SinBackward0", "y = sin x   (rotary embeddings)", "sin's slope is cos x.", "∂L/∂x = ∂L/∂y · cos x", inputs={0: "self"})
def _sin(n):
    return [grad(n) * saved(n, "self").cos()]


@rule("CosBackward0", "y = cos x   (rotary embeddings)", "cos's slope is −sin x.", "∂L/∂x = −∂L/∂y · sin x", inputs={0: "self"})
def _cos(n):
    return [-grad(n) * saved(n, "self").sin()]


def _between(x: torch.Tensor, low, high) -> torch.Tensor:
    """Where low ≤ x ≤ high (a bound of None is no bound)."""
    inside = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return inside


@rule("ClampBackward1", "y = clamp(x, min, max)   (min, max numbers)",
      "Where x was clipped to a bound the output no longer moves with x: zero; inside the bounds the gradient passes.",
      "∂L/∂x = ∂L/∂y where min ≤ x ≤ max, 0 elsewhere", inputs={0: "self"})
def _clamp(n):
    return [passed(grad(n), _between(saved(n, "self"), n.saved.get("min"), n.saved.get("max")))]


@rule("ClampMinBackward0", "y = max(x, min)   (clamp(min=…), min a number)",
      "Below min the output is constant: zero gradient; above it the gradient passes.",
      "∂L/∂x = ∂L/∂y where x ≥ min, 0 elsewhere", inputs={0: "self"})
def _clamp_min(n):
    return [passed(grad(n), _between(saved(n, "self"), n.saved["min"], None))]


@rule("ClampMaxBackward0", "y = min(x, max)   (clamp(max=…), max a number)",
      "Above max the output is constant: zero gradient; below it the gradient passes.",
      "∂L/∂x = ∂L/∂y where x ≤ max, 0 elsewhere", inputs={0: "self"})
def _clamp_max(n):
    return [passed(grad(n), _between(saved(n, "self"), None, n.saved["max"]))]


@rule("ClampBackward0", "y = clamp(x, lo, hi)   (lo, hi tensors)",
      "x gets the gradient where it lay inside [lo, hi]; a bound gets it where it did the clipping.",
      "∂L/∂x = ∂L/∂y where lo ≤ x ≤ hi", "∂L/∂lo = ∂L/∂y where x < lo (and lo < hi)",
      "∂L/∂hi = ∂L/∂y where x > hi (or hi < lo)", inputs={0: "self", 1: "min", 2: "max"})
def _clamp_tensor(n):
    g, x = grad(n), saved(n, "self")
    low, high = (None if n.saved.get(k) is None else saved(n, k) for k in ("min", "max"))
    zero = g.new_zeros(())
    d_x = torch.where(_between(x, low, high), g, zero)
    if low is not None and high is not None:  # with lo > hi every output is hi
        d_low = torch.where((x < low) & (low < high), g, zero)
        d_high = torch.where((x > high) | (high < low), g, zero)
    else:
        d_low = None if low is None else torch.where(x < low, g, zero)
        d_high = None if high is None else torch.where(x > high, g, zero)
    return [sum_to(d_x, _shape(n, 0)), sum_to(d_low, _shape(n, 1)), sum_to(d_high, _shape(n, 2))]


@rule("AddBackward1", "y = x + c   (c a number)", "Adding a constant passes the gradient through unchanged.", "∂L/∂x = ∂L/∂y")
def _add_number(n):
    return [grad(n)]


@rule("SubBackward1", "y = x − c   (c a number)", "Subtracting a constant passes the gradient through unchanged.",
      "∂L/∂x = ∂L/∂y")
def _sub_number(n):
    return [grad(n)]


@rule("RsubBackward0", "y = b − α·a   (torch.rsub(a, b))", "b gets the gradient, a its negative (times α).",
      "∂L/∂a = −α · ∂L/∂y", "∂L/∂b = ∂L/∂y")
def _rsub_tensor(n):
    g = grad(n)
    return [sum_to(-n.saved["alpha"] * g, _shape(n, 0)), sum_to(g, _shape(n, 1))]


@rule("MulBackward1", "y = c · x   (c a number: label smoothing's weights, scaling)", "The gradient is scaled by the same c.",
      "∂L/∂x = c · ∂L/∂y")
def _mul_number(n):
    return [grad(n) * n.saved["other"]]


@rule("DivBackward1", "y = x / c   (c a number)", "The gradient is divided by the same c.", "∂L/∂x = ∂L/∂y / c")
def _div_number(n):
    return [grad(n) / n.saved["other"]]


@rule("AddcmulBackward0", "y = x + v · t₁ · t₂", "x passes the gradient through; each factor gets it times v and the other factor.",
      "∂L/∂x = ∂L/∂y", "∂L/∂t₁ = v · ∂L/∂y · t₂", "∂L/∂t₂ = v · ∂L/∂y · t₁", inputs={1: "tensor1", 2: "tensor2"})
def _addcmul(n):
    g, v = grad(n), n.saved["value"]
    t1, t2 = saved(n, "tensor1"), saved(n, "tensor2")
    return [sum_to(g, _shape(n, 0)), sum_to(v * g * t2, _shape(n, 1)), sum_to(v * g * t1, _shape(n, 2))]


@rule("AddcdivBackward0", "y = x + v · t₁ / t₂", "x passes the gradient through; t₁ gets it times v/t₂, t₂ times −v·t₁/t₂².",
      "∂L/∂x = ∂L/∂y", "∂L/∂t₁ = v · ∂L/∂y / t₂", "∂L/∂t₂ = −v · ∂L/∂y · t₁ / t₂²", inputs={1: "tensor1", 2: "tensor2"})
def _addcdiv(n):
    g, v = grad(n), n.saved["value"]
    t1, t2 = saved(n, "tensor1"), saved(n, "tensor2")
    return [sum_to(g, _shape(n, 0)), sum_to(v * g / t2, _shape(n, 1)), sum_to(-v * g * t1 / (t2 * t2), _shape(n, 2))]


@rule("LerpBackward0", "y = a + w · (b − a)   (w a number: an exponential moving average, EMA weights)",
      "The result is (1 − w) of a and w of b: each gets that share of the gradient.",
      "∂L/∂a = (1 − w) · ∂L/∂y", "∂L/∂b = w · ∂L/∂y")
def _lerp(n):
    g, w = grad(n), n.saved["weight"]
    return [sum_to((1 - w) * g, _shape(n, 0)), sum_to(w * g, _shape(n, 1))]


@rule("Atan2Backward0", "y = atan2(a, b)   (the angle of the point (b, a))",
      "The angle turns with a by b/(a² + b²) and with b by −a/(a² + b²).",
      "∂L/∂a = ∂L/∂y · b / (a² + b²)", "∂L/∂b = −∂L/∂y · a / (a² + b²)", inputs={0: "self", 1: "other"})
def _atan2(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    r2 = a * a + b * b
    return [sum_to(g * b / r2, _shape(n, 0)), sum_to(-g * a / r2, _shape(n, 1))]


@rule("XlogyBackward0", "y = a · ln b   (0 where a = 0)", "a gets ln b; b gets a/b.",
      "∂L/∂a = ∂L/∂y · ln b   (0 where a = 0 and b ≤ 0)", "∂L/∂b = ∂L/∂y · a / b", inputs={0: "self", 1: "other"})
def _xlogy(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    d_a = torch.where((a == 0) & (b <= 0), 0.0, g * torch.log(b))
    return [sum_to(d_a, _shape(n, 0)), sum_to(g * a / b, _shape(n, 1))]


@rule("ErfBackward0", "y = erf(x)   (BERT's GELU by hand: x · ½ (1 + erf(x/√2)))", "erf's slope is 2/√π · e^(−x²).",
      "∂L/∂x = ∂L/∂y · 2/√π · e^(−x²)", inputs={0: "self"})
def _erf(n):
    x = saved(n, "self")
    return [grad(n) * 2 / math.sqrt(math.pi) * torch.exp(-x * x)]


@rule("Expm1Backward0", "y = eˣ − 1", "Its slope is eˣ = y + 1.", "∂L/∂x = ∂L/∂y · (y + 1)")
def _expm1(n):
    return [grad(n) * (saved(n, "result") + 1)]


for _label, _forward in (("SignBackward0", "y = sign(x)"), ("FloorBackward0", "y = ⌊x⌋"), ("CeilBackward0", "y = ⌈x⌉"),
                         ("RoundBackward0", "y = round(x)"), ("TruncBackward0", "y = trunc(x)")):
    rule(_label, f"{_forward}   (a step function)",
         "A step function is flat between its jumps: its slope, and so the gradient it passes, is zero.",
         "∂L/∂x = 0")(lambda n: [torch.zeros_like(grad(n))])


def _slope_rule(label: str, forward: str, words: str, formula: str, slope, uses: str = "self"):
    """An element-wise op whose ∂L/∂x is ∂L/∂y times a slope computed from one saved tensor."""
    rule(label, forward, words, formula, inputs={0: "self"} if uses == "self" else None)(
        lambda n: [grad(n) * slope(saved(n, uses))])


_slope_rule("AsinBackward0", "y = asin x", "asin's slope is 1/√(1 − x²).", "∂L/∂x = ∂L/∂y / √(1 − x²)",
            lambda x: (1 - x * x).rsqrt())
_slope_rule("AtanBackward0", "y = atan x", "atan's slope is 1/(1 + x²).", "∂L/∂x = ∂L/∂y / (1 + x²)", lambda x: 1 / (1 + x * x))
_slope_rule("TanBackward0", "y = tan x", "tan's slope is 1 + tan² x = 1 + y².", "∂L/∂x = ∂L/∂y · (1 + y²)",
            lambda y: 1 + y * y, uses="result")
_slope_rule("SinhBackward0", "y = sinh x", "sinh's slope is cosh x.", "∂L/∂x = ∂L/∂y · cosh x", torch.cosh)
_slope_rule("CoshBackward0", "y = cosh x", "cosh's slope is sinh x.", "∂L/∂x = ∂L/∂y · sinh x", torch.sinh)
_slope_rule("Log2Backward0", "y = log₂ x", "log₂'s slope is 1/(x · ln 2).", "∂L/∂x = ∂L/∂y / (x · ln 2)",
            lambda x: 1 / (x * math.log(2)))
_slope_rule("Log10Backward0", "y = log₁₀ x", "log₁₀'s slope is 1/(x · ln 10).", "∂L/∂x = ∂L/∂y / (x · ln 10)",
            lambda x: 1 / (x * math.log(10)))
_slope_rule("Exp2Backward0", "y = 2ˣ", "2ˣ's slope is 2ˣ · ln 2 = y · ln 2.", "∂L/∂x = ∂L/∂y · y · ln 2",
            lambda y: y * math.log(2), uses="result")
_slope_rule("NanToNumBackward0", "y = x with NaN and ±∞ replaced by numbers",
            "Replaced values no longer depend on x: the gradient passes only where x was finite.",
            "∂L/∂x = ∂L/∂y where x is finite, 0 elsewhere", torch.isfinite)


for _label, _forward in (("FracBackward0", "y = x − trunc(x)"), ("RemainderBackward0", "y = x mod c   (c a number)"),
                         ("FmodBackward0", "y = fmod(x, c)   (c a number)")):
    rule(_label, _forward, "Between its jumps the op is x minus a constant: slope 1.", "∂L/∂x = ∂L/∂y")(lambda n: [grad(n)])

rule("SgnBackward0", "y = sgn(x)   (real x: the sign)",
     "A step function is flat between its jumps: its slope, and so the gradient it passes, is zero.",
     "∂L/∂x = 0")(lambda n: [torch.zeros_like(grad(n))])


@rule("LeakyReluBackward1", "y = x if x > 0 else s·x   (in place: the output saved, not x)",
      "The gradient passes where y > 0, scaled by the slope s elsewhere.", "∂L/∂x = ∂L/∂y · (1 if y > 0 else s)")
def _leaky_relu_from_result(n):
    y = saved(n, "result")
    return [grad(n) * torch.where(y > 0, y.new_ones(()), n.saved["negative_slope"])]  # in y's dtype


def _shrink(n):
    x, lambd = saved(n, "self"), n.saved["lambd"]
    return [passed(grad(n), (x < -lambd) | (x > lambd))]


rule("HardshrinkBackward0", "y = x if |x| > λ else 0", "The gradient passes where |x| > λ and stops inside [−λ, λ].",
     "∂L/∂x = ∂L/∂y · [|x| > λ]", inputs={0: "self"})(_shrink)
rule("SoftshrinkBackward0", "y = x − λ·sign(x) if |x| > λ else 0", "The gradient passes where |x| > λ and stops inside [−λ, λ].",
     "∂L/∂x = ∂L/∂y · [|x| > λ]", inputs={0: "self"})(_shrink)


@rule("RreluWithNoiseBackward0", "y = x if x ≥ 0 else a·x   (RReLU: a random in [l, u] while training, (l + u)/2 in eval)",
      "The gradient passes where x > 0 and is scaled by the slope used elsewhere (the saved noise while training).",
      "∂L/∂x = ∂L/∂y · (1 if x > 0 else a)", inputs={0: "self"})
def _rrelu(n):
    s, x = n.saved, saved(n, "self")
    if s["training"] and s["upper"] - s["lower"] > 1e-6:
        return [grad(n) * saved(n, "noise")]
    return [grad(n) * torch.where(x > 0, x.new_ones(()), (s["lower"] + s["upper"]) / 2)]


@rule("LogitBackward0", "y = ln(x / (1 − x))   (eps: x clamped to [eps, 1 − eps] first)",
      "logit's slope is 1/(x(1 − x)); where eps clamped x it is 0.", "∂L/∂x = ∂L/∂y / (x · (1 − x))", inputs={0: "self"})
def _logit(n):
    x, eps = saved(n, "self"), n.saved.get("eps")
    d_x = grad(n) / (x * (1 - x))
    if eps is None:
        return [torch.where((x < 0) | (x > 1), math.nan, d_x)]
    return [torch.where((x < eps) | (x > 1 - eps), 0.0, d_x)]


@rule("LogaddexpBackward0", "y = ln(eᵃ + eᵇ)", "Each input gets its softmax share: eᵃ/(eᵃ + eᵇ) and eᵇ/(eᵃ + eᵇ).",
      "∂L/∂a = ∂L/∂y / (1 + e^(b − a))", "∂L/∂b = ∂L/∂y / (1 + e^(a − b))", inputs={0: "self", 1: "other"})
def _logaddexp(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    return [sum_to(g / (1 + torch.exp(b - a)), _shape(n, 0)), sum_to(g / (1 + torch.exp(a - b)), _shape(n, 1))]


@rule("HypotBackward0", "y = √(a² + b²)", "Each side pulls the length by its share a/y, b/y.",
      "∂L/∂a = ∂L/∂y · a / y", "∂L/∂b = ∂L/∂y · b / y", inputs={0: "self", 1: "other"})
def _hypot(n):
    g, y = grad(n), saved(n, "result")
    d_a = sum_to(g * saved(n, "self") / y, _shape(n, 0)) if _shape(n, 0) is not None else None
    d_b = sum_to(g * saved(n, "other") / y, _shape(n, 1)) if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("FmaxBackward0", "y = fmax(a, b)   (maximum that ignores NaN)",
      "Each position's gradient goes to the input that was taken: a where a ≥ b or b is NaN, else b (ties go to a).",
      "∂L/∂a = ∂L/∂y where a ≥ b or b is NaN", "∂L/∂b = ∂L/∂y elsewhere", inputs={0: "self", 1: "other"})
def _fmax(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    took_a = (a >= b) | b.isnan()
    return [sum_to(g * took_a, _shape(n, 0)), sum_to(g * ~took_a, _shape(n, 1))]


@rule("FminBackward0", "y = fmin(a, b)   (minimum that ignores NaN)",
      "Each position's gradient goes to the input that was taken: a where a ≤ b or b is NaN, else b (ties go to a).",
      "∂L/∂a = ∂L/∂y where a ≤ b or b is NaN", "∂L/∂b = ∂L/∂y elsewhere", inputs={0: "self", 1: "other"})
def _fmin(n):
    g, a, b = grad(n), saved(n, "self"), saved(n, "other")
    took_a = (a <= b) | b.isnan()
    return [sum_to(g * took_a, _shape(n, 0)), sum_to(g * ~took_a, _shape(n, 1))]
