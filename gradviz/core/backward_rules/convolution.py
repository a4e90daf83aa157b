"""Backward rules: convolution and pooling.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from gradviz.core.backward_rules.registry import (
    NotRecomputable,
    _shape,
    grad,
    rule,
    saved,
    sum_to,
)
from gradviz.core.backward_rules.resampling import _per_axis_back, _resample_matrix
from gradviz.core.node_grads import NodeGradients

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


@rule("ConvolutionBackward0", "y = b + W ⋆ x   (each output = weights · the input patch under them; "
      "ConvTranspose: y = b + W ⋆ᵀ x)",
      "x gets the gradient spread back through the weights (a transposed convolution); each weight gets the "
      "sum over positions of gradient × the input value it touched; the bias the gradient summed over batch and positions.",
      "∂L/∂x = ∂L/∂y ⋆ᵀ W   (transposed: ∂L/∂y ⋆ W)", "∂L/∂W = Σ_(n, positions) ∂L/∂y · x_patch   "
      "(transposed: x · ∂L/∂y_patch)", "∂L/∂b = Σ_(n, positions) ∂L/∂y",
      inputs={0: "input", 1: "weight"})
def _convolution(n):
    s = n.saved
    g, x, w = grad(n), saved(n, "input"), saved(n, "weight")
    spatial = x.dim() - 2
    if spatial not in _CONV:
        raise NotRecomputable(f"{spatial}-d convolutions are not recomputed")
    each = lambda v: tuple(v) * (spatial if len(v) == 1 else 1)  # noqa: E731 (one number for every axis)
    stride, padding, dilation = each(s["stride"]), each(s["padding"]), each(s["dilation"])
    groups = s["groups"]
    if s["transposed"]:
        # a transposed convolution is the adjoint of a convolution: x's gradient is the plain convolution
        # of ∂L/∂y with W, and W's gradient is a convolution's with the roles of x and ∂L/∂y swapped
        d_x = _CONV[spatial](g, w, None, stride, padding, dilation, groups)
        d_w = _conv_weight_grad(g, x, w.shape, stride, padding, dilation, groups)
    else:
        # ∂L/∂x: a transposed convolution, with the output padding that restores x's exact size
        expected = [(g.shape[2 + i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (w.shape[2 + i] - 1) + 1
                    for i in range(spatial)]
        output_padding = [x.shape[2 + i] - expected[i] for i in range(spatial)]
        d_x = _CONV_TRANSPOSE[spatial](g, w, None, stride, padding, output_padding, groups, dilation)
        d_w = _conv_weight_grad(x, g, w.shape, stride, padding, dilation, groups)
    d_b = g.sum(dim=(0, *range(2, g.dim()))) if s.get("bias_sym_sizes_opt") else None
    needs = [_shape(n, i) is not None for i in range(3)]
    return [d_x if needs[0] else None, d_w if needs[1] else None, d_b if needs[2] else None]


def _conv_weight_grad(x: torch.Tensor, g: torch.Tensor, shape, stride, padding, dilation, groups: int) -> torch.Tensor:
    """∂L/∂W of y = W ⋆ x given ∂L/∂y = g. W's shape is (g's channels, x's channels per group, *kernel):
    Σ over the batch and the positions of the gradient × the input patch under the kernel, per group."""
    if x.dim() == 3:  # a 1-d convolution is a 2-d one over a height of 1
        return _conv_weight_grad(x.unsqueeze(2), g.unsqueeze(2), (*shape[:2], 1, *shape[2:]), (1, *stride), (0, *padding),
                                 (1, *dilation), groups).squeeze(2)
    per_group_in, per_group_out = x.shape[1] // groups, g.shape[1] // groups
    if x.dim() == 4:  # im2col: every patch a column, then gradient × patchesᵀ, summed over the batch
        patches = F.unfold(x, shape[2:], dilation=dilation, padding=padding, stride=stride)  # (N, C·kh·kw, positions)
        g_flat = g.reshape(g.shape[0], g.shape[1], -1)
        kernel = shape[2] * shape[3]
        pieces = []
        for k in range(groups):
            g_k = g_flat[:, k * per_group_out:(k + 1) * per_group_out]
            p_k = patches[:, k * per_group_in * kernel:(k + 1) * per_group_in * kernel]
            pieces.append((g_k @ p_k.transpose(1, 2)).sum(0))
        return torch.cat(pieces, 0).reshape(shape)
    g_groups = g.unflatten(1, (groups, per_group_out)).flatten(3)  # (N, G, out/G, positions)
    # 3-d (no unfold): for each kernel offset k, the input values it touched (x, padded, from k·dilation on
    # in steps of the stride) times the gradient
    x = F.pad(x, [p for p in reversed(padding) for _ in range(2)])
    d_w = g.new_zeros(shape)
    for offset in itertools.product(*(range(k) for k in shape[2:])):
        touched = x[(slice(None), slice(None)) + tuple(
            slice(k * d, k * d + (size - 1) * s + 1, s) for k, d, size, s in zip(offset, dilation, g.shape[2:], stride))]
        touched = touched.unflatten(1, (groups, per_group_in)).flatten(3)  # (N, G, in/G, positions)
        d_w[(slice(None), slice(None)) + offset] = torch.einsum("ngop,ngcp->goc", g_groups, touched).flatten(0, 1)
    return d_w


def _winners_back(n: NodeGradients, spatial: int) -> list[torch.Tensor]:
    """Max pooling: each output's gradient goes to the input its saved index points at (over the last dims)."""
    g, x, indices = grad(n), saved(n, "self"), saved(n, "result1")
    d_x = torch.zeros_like(x).flatten(-spatial)
    d_x.scatter_add_(-1, indices.flatten(-spatial), g.flatten(-spatial))
    return [d_x.view_as(x)]


@rule("MaxPool2DWithIndicesBackward0", "y = max of each window",
      "Only the winner of each window gets the gradient; every other input gets zero.",
      "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere")
def _max_pool2d(n):
    return _winners_back(n, 2)


rule("MaxPool3DWithIndicesBackward0", "y = max of each k×k×k window   (video, volumes)",
     "Only the winner of each window gets the gradient; every other input gets zero.",
     "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere")(lambda n: _winners_back(n, 3))
rule("AdaptiveMaxPool2DBackward0", "y[i, j] = max of the input cells mapped to output cell (i, j)",
     "Only the winner of each cell's window gets the gradient; every other input gets zero.",
     "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere", inputs={0: "self"})(lambda n: _winners_back(n, 2))
rule("AdaptiveMaxPool3DBackward0", "y[i, j, k] = max of the input cells mapped to output cell (i, j, k)",
     "Only the winner of each cell's window gets the gradient; every other input gets zero.",
     "∂L/∂x = ∂L/∂y at each window's argmax, 0 elsewhere", inputs={0: "self"})(lambda n: _winners_back(n, 3))


def _avg_pool(n: NodeGradients, spatial: int) -> list[torch.Tensor]:
    s = n.saved
    g, x = grad(n), saved(n, "self")
    each = lambda v: tuple(v) * (spatial if len(v) == 1 else 1)  # noqa: E731 (one number for every axis)
    kernel, padding = each(s["kernel_size"]), each(s["padding"])
    stride = each(s["stride"]) if s["stride"] else kernel
    override = s.get("divisor_override")
    # the window's divisor is a product of one factor per axis (or the override): separable
    matrices = [_resample_matrix(g.shape[a - spatial], x.shape[a - spatial], _window_sources(
        x.shape[a - spatial], kernel[a], stride[a], padding[a], s["count_include_pad"], override is not None), g.dtype)
        for a in range(spatial)]
    d_x = _per_axis_back(g, matrices)
    return [d_x / override if override else d_x]


def _window_sources(in_size: int, kernel: int, stride: int, padding: int, count_padding: bool, no_divisor: bool):
    """Output cell o of average pooling along one axis: the input cells of its window, each with weight
    1/(the window's length), as torch counts it (ceil_mode's last window may hang over the padding)."""
    def sources(o):
        start = o * stride - padding
        end = min(start + kernel, in_size + padding)
        length = end - start
        start, end = max(start, 0), min(end, in_size)
        weight = 1.0 if no_divisor else 1 / (length if count_padding else end - start)
        return [(i, weight) for i in range(start, end)]
    return sources


@rule("AvgPool2DBackward0", "y = average of each k×k window", "Each input gets 1/k² of the gradient of every window it is in.",
      "∂L/∂x = Σ over its windows ∂L/∂y / k²   (k² the window's divisor)")
def _avg_pool2d(n):
    return _avg_pool(n, 2)


rule("AvgPool3DBackward0", "y = average of each k×k×k window   (volumes; LocalResponseNorm uses it)",
     "Each input gets 1/k³ of the gradient of every window it is in.",
     "∂L/∂x = Σ over its windows ∂L/∂y / k³   (k³ the window's divisor)")(lambda n: _avg_pool(n, 3))


def _adaptive_sources(out_size: int, in_size: int):
    """Adaptive pooling's window of output cell o: [⌊o·in/out⌋, ⌈(o+1)·in/out⌉), each cell weighted 1/length."""
    def sources(o):
        start, end = (o * in_size) // out_size, -((-(o + 1) * in_size) // out_size)
        return [(i, 1 / (end - start)) for i in range(start, end)]
    return sources


def _adaptive_avg_pool(n: NodeGradients, spatial: int) -> list[torch.Tensor]:
    g, x = grad(n), saved(n, "self")
    return [_per_axis_back(g, [_resample_matrix(g.shape[a], x.shape[a], _adaptive_sources(g.shape[a], x.shape[a]), g.dtype)
                               for a in range(-spatial, 0)])]


@rule("AdaptiveAvgPool2DBackward0", "y[i, j] = average of the input cells mapped to output cell (i, j)",
      "Each input cell gets its output cell's gradient divided by the number of cells averaged.",
      "∂L/∂x = Σ over the windows containing it ∂L/∂y / window size")
def _adaptive_avg_pool2d(n):
    return _adaptive_avg_pool(n, 2)


rule("AdaptiveAvgPool3DBackward0", "y[i, j, k] = average of the input cells mapped to output cell (i, j, k)",
     "Each input cell gets its output cell's gradient divided by the number of cells averaged.",
     "∂L/∂x = Σ over the windows containing it ∂L/∂y / window size")(lambda n: _adaptive_avg_pool(n, 3))


def _nearest_sources(out_size: int, in_size: int, scale):
    # torch's rule, in float32 as its kernel computes it: source = floor(o · in/out), or floor(o / scale_factor)
    ratio = torch.tensor(in_size / out_size if scale is None else 1 / scale, dtype=torch.float32)
    return lambda o: [(min(int(torch.floor(torch.tensor(float(o), dtype=torch.float32) * ratio)), in_size - 1), 1.0)]


def _nearest_exact_sources(out_size: int, in_size: int, scale):
    # nearest-exact samples each output cell's centre: source = floor((o + ½) · in/out), in float32 like torch
    ratio = torch.tensor(in_size / out_size if scale is None else 1 / scale, dtype=torch.float32)
    return lambda o: [(min(int(torch.floor((torch.tensor(o, dtype=torch.float32) + 0.5) * ratio)), in_size - 1), 1.0)]


def _linear_sources(out_size: int, in_size: int, scale, align_corners: bool):
    if out_size == in_size:
        return lambda o: [(o, 1.0)]
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        ratio = in_size / out_size if scale is None else 1 / scale

    def sources(o):
        real = ratio * o if align_corners else max(ratio * (o + 0.5) - 0.5, 0.0)
        low = min(int(math.floor(real)), in_size - 1)
        far = min(max(real - low, 0.0), 1.0)  # the weight of the next cell
        return [(low, 1 - far), (low + (1 if low < in_size - 1 else 0), far)]

    return sources


_SCALE_NAMES = {1: ("scales",), 2: ("scales_h", "scales_w"), 3: ("scales_d", "scales_h", "scales_w")}


def _upsample_back(n: NodeGradients, sources) -> list[torch.Tensor]:
    """∂L/∂x of an upsampling whose output cell o along an axis takes ``sources(out, in, scale)(o)``."""
    s, g = n.saved, grad(n)
    out_sizes = tuple(s["output_size"])
    in_sizes = tuple(s["self_sym_sizes"])[-len(out_sizes):]
    scales = [s.get(name) for name in _SCALE_NAMES[len(out_sizes)]]
    return [_per_axis_back(g, [_resample_matrix(o, i, sources(o, i, scale), g.dtype)
                               for o, i, scale in zip(out_sizes, in_sizes, scales)])]


def _linear_upsample_back(n: NodeGradients) -> list[torch.Tensor]:
    corners = n.saved["align_corners"]
    return _upsample_back(n, lambda o, i, scale: _linear_sources(o, i, scale, corners))


_NEAREST_WORDS = ("Each input pixel was copied to several output pixels: it gets the sum of their gradients.",
                  "∂L/∂x[p] = Σ over the output pixels copied from p ∂L/∂y")
_LINEAR_WORDS = ("Each input cell gets the gradients of the output cells it was mixed into, times the weight it had in each.",
                 "∂L/∂x[p] = Σ_outputs weight(p → o) · ∂L/∂y[o]")
for _label, _forward in (("UpsampleNearest1DBackward0", "y[i] = x[⌊i·w/W⌋]   (each input cell copied to a block)"),
                         ("UpsampleNearest2DBackward0", "y[i, j] = x[⌊i·h/H⌋, ⌊j·w/W⌋]   (each input pixel copied to a block)"),
                         ("UpsampleNearest3DBackward0", "y[i, j, k] = x[⌊i·d/D⌋, ⌊j·h/H⌋, ⌊k·w/W⌋]")):
    rule(_label, _forward, *_NEAREST_WORDS)(lambda n: _upsample_back(n, _nearest_sources))
for _label, _forward in (("UpsampleNearestExact1DBackward0", "y[i] = x[⌊(i + ½)·w/W⌋]   (mode='nearest-exact')"),
                         ("UpsampleNearestExact2DBackward0", "y[i, j] = x[⌊(i + ½)·h/H⌋, ⌊(j + ½)·w/W⌋]   (mode='nearest-exact')"),
                         ("UpsampleNearestExact3DBackward0", "y = x at the nearest cell centre along each axis   "
                                                             "(mode='nearest-exact')")):
    rule(_label, _forward, *_NEAREST_WORDS)(lambda n: _upsample_back(n, _nearest_exact_sources))
for _label, _forward in (("UpsampleLinear1DBackward0", "y[i] = the weighted mean of the 2 input cells around i's source point"),
                         ("UpsampleBilinear2DBackward0", "y[i, j] = the weighted mean of the 4 input pixels around "
                                                         "(i, j)'s source point"),
                         ("UpsampleTrilinear3DBackward0", "y[i, j, k] = the weighted mean of the 8 input cells around "
                                                          "its source point")):
    rule(_label, _forward, *_LINEAR_WORDS)(_linear_upsample_back)


def _cubic_sources(out_size: int, in_size: int, scale, align_corners: bool):
    """Bicubic: 4 taps around the source point with Keys' cubic weights (A = −0.75), indices clamped to the edge."""
    if align_corners:
        ratio = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    else:
        ratio = in_size / out_size if scale is None else 1 / scale
    a = -0.75

    def near(t):  # |t| ≤ 1
        return ((a + 2) * t - (a + 3)) * t * t + 1

    def far(t):  # 1 < |t| < 2
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a

    def sources(o):
        real = ratio * o if align_corners else ratio * (o + 0.5) - 0.5  # not clamped at 0, unlike linear
        low = math.floor(real)
        t = real - low
        weights = (far(t + 1), near(t), near(1 - t), far(2 - t))
        return [(min(max(low - 1 + k, 0), in_size - 1), w) for k, w in enumerate(weights)]

    return sources


rule("UpsampleBicubic2DBackward0", "y[i, j] = Keys' cubic blend of the 4×4 input pixels around (i, j)'s source point",
     *_LINEAR_WORDS)(lambda n: _upsample_back(n, lambda o, i, scale: _cubic_sources(o, i, scale, n.saved["align_corners"])))


@rule("TrilinearBackward0", "y = Σ_(sum dims) x₁ · x₂ · x₃, each broadcast over the others' dims   "
      "(nn.Bilinear: y[b, o] = Σᵢⱼ x₁[b, i] · W[o, i, j] · x₂[b, j])",
      "Each factor gets the gradient times the other two factors, summed over the dims it was broadcast along.",
      "∂L/∂x₁ = Σ ∂L/∂y · x₂ · x₃", "∂L/∂x₂ = Σ ∂L/∂y · x₁ · x₃", "∂L/∂x₃ = Σ ∂L/∂y · x₁ · x₂",
      inputs={0: "i1", 1: "i2", 2: "i3"})
def _trilinear(n):
    s = n.saved
    factors = []
    for k in (1, 2, 3):
        value = saved(n, f"i{k}")
        for d in sorted(int(d) for d in s[f"expand{k}"]):  # the dims this factor is broadcast along
            value = value.unsqueeze(d)
        factors.append(value)
    g = grad(n)
    for d in sorted(int(d) for d in s["sumdim"]):
        g = g.unsqueeze(d)
    out = []
    for k in range(3):
        others = factors[(k + 1) % 3] * factors[(k + 2) % 3]
        d_k = sum_to(g * others, factors[k].shape)
        out.append(d_k.reshape(saved(n, f"i{k + 1}").shape) if _shape(n, k) is not None else None)
    return out


def _grid_coordinates(n: int, align_corners: bool, dtype) -> torch.Tensor:
    """affine_grid's normalised coordinates along one axis: −1 … 1 at the pixel centres (or the corners)."""
    if n <= 1:
        return torch.zeros(max(n, 1), dtype=dtype)
    line = torch.linspace(-1, 1, n, dtype=dtype)
    return line if align_corners else line * (n - 1) / n


@rule("AffineGridGeneratorBackward0", "grid[n, h, w] = θ[n] · (x_w, y_h, 1)   (affine_grid: a spatial transformer's sampling grid)",
      "Each entry of θ gets the gradient of every grid point times that point's base coordinate.",
      "∂L/∂θ[n] = Σ_(h, w) ∂L/∂grid[n, h, w] ⊗ (x_w, y_h, 1)")
def _affine_grid(n):
    g, s = grad(n), n.saved
    size = tuple(s["size"])
    if len(size) != 4:
        raise NotRecomputable("3-d affine grids are not recomputed yet")
    height, width = size[2], size[3]
    ys, xs = _grid_coordinates(height, s["align_corners"], g.dtype), _grid_coordinates(width, s["align_corners"], g.dtype)
    base = torch.stack([xs.expand(height, width), ys[:, None].expand(height, width), torch.ones(height, width, dtype=g.dtype)], -1)
    return [g.reshape(size[0], -1, 2).transpose(1, 2) @ base.reshape(-1, 3)]


_BILINEAR, _NEAREST = 0, 1  # grid_sample's interpolation_mode as saved
_ZEROS, _BORDER = 0, 1  # its padding_mode


@rule("GridSampler2DBackward0", "y[n, c, h, w] = x[n, c] read at the point grid[n, h, w]   (grid_sample: bilinear between "
      "the 4 pixels around the point)",
      "x gets each output's gradient spread over the 4 pixels it was read from, by their weights; the grid point "
      "gets how the read value changes as it moves (the differences of those pixels).",
      "∂L/∂x[p] = Σ_outputs weight(p) · ∂L/∂y", "∂L/∂grid = Σ_c ∂L/∂y · ∂(bilinear value)/∂(point)",
      inputs={0: "input", 1: "grid"})
def _grid_sample(n):
    s = n.saved
    g, x, grid = grad(n), saved(n, "input"), saved(n, "grid")
    mode, padding, corners = s["interpolation_mode"], s["padding_mode"], s["align_corners"]
    if mode not in (_BILINEAR, _NEAREST) or padding not in (_ZEROS, _BORDER):
        raise NotRecomputable("grid_sample with bicubic interpolation or reflection padding is not recomputed yet")
    batch, channels, height, width = x.shape

    def source(coordinate, size):  # normalised −1…1 → pixel index, and d(index)/d(coordinate)
        scale = (size - 1) / 2 if corners else size / 2
        index = (coordinate + 1) * scale if corners else ((coordinate + 1) * size - 1) / 2
        if padding == _BORDER:
            inside = (index > 0) & (index < size - 1)
            return index.clamp(0, size - 1), scale * inside
        return index, torch.full_like(index, scale)

    ix, dx = source(grid[..., 0], width)
    iy, dy = source(grid[..., 1], height)
    flat_x, flat_g = x.flatten(2), g.flatten(2)  # (N, C, H·W), (N, C, positions)
    d_x = torch.zeros_like(flat_x)

    def corner(cx, cy):  # the pixel at integer (cx, cy): its values, and where its gradient goes
        valid = ((cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)).flatten(1).unsqueeze(1)
        index = (cy.clamp(0, height - 1) * width + cx.clamp(0, width - 1)).flatten(1).unsqueeze(1).expand(-1, channels, -1)
        return flat_x.gather(2, index) * valid, index, valid

    if mode == _NEAREST:
        values, index, valid = corner(torch.round(ix).long(), torch.round(iy).long())
        d_x.scatter_add_(2, index, flat_g * valid)
        return [d_x.view_as(x), torch.zeros_like(grid)]
    x0, y0 = ix.floor(), iy.floor()
    fx, fy = (ix - x0).flatten(1).unsqueeze(1), (iy - y0).flatten(1).unsqueeze(1)  # the point's place in its cell
    x0, y0 = x0.long(), y0.long()
    d_ix = d_iy = 0
    for cx, cy, wx, wy, sx, sy in ((x0, y0, 1 - fx, 1 - fy, -1, -1), (x0 + 1, y0, fx, 1 - fy, 1, -1),
                                   (x0, y0 + 1, 1 - fx, fy, -1, 1), (x0 + 1, y0 + 1, fx, fy, 1, 1)):
        values, index, valid = corner(cx, cy)
        d_x.scatter_add_(2, index, flat_g * wx * wy * valid)
        d_ix = d_ix + (flat_g * values * sx * wy).sum(1)  # the weight wx·wy moves with the point: ∂wx/∂ix = sx
        d_iy = d_iy + (flat_g * values * sy * wx).sum(1)
    d_grid = torch.stack([d_ix.view_as(ix) * dx, d_iy.view_as(iy) * dy], -1)
    return [d_x.view_as(x), d_grid if _shape(n, 1) is not None else None]
