"""Backward rules: shape changes: the gradient moves back to where each value came from.

See :mod:`gradviz.core.backward_rules` for how a rule reads a record.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from gradviz.core.backward_rules.registry import (
    NotRecomputable,
    _shape,
    _whole,
    alias,
    grad,
    input_dtype,
    rule,
    saved,
    signed,
    sum_to,
)
from gradviz.core.backward_rules.resampling import _resample_matrix, _separable_back
from gradviz.core.node_grads import NodeGradients


@rule("TBackward0", "y = xᵀ", "Transposing is undone by transposing the gradient.", "∂L/∂x = (∂L/∂y)ᵀ")
def _t(n):
    return [grad(n).T]


@rule("ViewBackward0", "y = x.view(shape)   (also reshape, flatten)",
      "Same values, new shape: the gradient is reshaped back to x's shape.", "∂L/∂x = reshape(∂L/∂y, x.shape)")
def _view(n):
    return [grad(n).reshape(n.saved["self_sym_sizes"])]


alias("UnsafeViewBackward0", "ViewBackward0")
alias("ReshapeAliasBackward0", "ViewBackward0")


@rule("PermuteBackward0", "y = x.permute(dims)", "The gradient is permuted back with the inverse permutation.",
      "∂L/∂x = permute(∂L/∂y, dims⁻¹)")
def _permute(n):
    g = grad(n)
    order = [signed(int(d)) % g.dim() for d in n.saved["dims"]]
    inverse = [order.index(d) for d in range(len(order))]
    return [g.permute(inverse)]


@rule("TransposeBackward0", "y = x.transpose(d0, d1)", "Swapping two dims is undone by swapping them back.",
      "∂L/∂x = transpose(∂L/∂y, d0, d1)")
def _transpose(n):
    return [grad(n).transpose(signed(n.saved["dim0"]), signed(n.saved["dim1"]))]


@rule("ExpandBackward0", "y = x.expand(shape)   (one value used in many places)",
      "A value copied to many places gets the sum of their gradients.", "∂L/∂x = Σ over the copies ∂L/∂y")
def _expand(n):
    return [sum_to(grad(n), n.saved["self_sym_sizes"])]


@rule("RepeatBackward0", "y = x.repeat(r)   (x tiled rᵢ times along each dim)",
      "Each value of x appears once in every tile: it gets the sum of the gradients of its copies.",
      "∂L/∂x = Σ over the tiles ∂L/∂y")
def _repeat(n):
    g, repeats, size = grad(n), n.saved["repeats"], tuple(n.saved["self_sym_sizes"])
    size = (1,) * (len(repeats) - len(size)) + size  # repeat() first pads x's shape with leading 1s
    # (r₀, s₀, r₁, s₁, …): one tile index and one index within the tile per dim; sum the tile indices away
    tiles = g.reshape([d for pair in zip(repeats, size) for d in pair])
    return [tiles.sum(tuple(range(0, 2 * len(size), 2))).reshape(n.saved["self_sym_sizes"])]


@rule("CloneBackward0", "y = x.clone()", "A copy passes its gradient through unchanged.", "∂L/∂x = ∂L/∂y")
def _clone(n):
    return [grad(n)]


@rule("SliceBackward0", "y = x[..., start:end:step, ...]",
      "The sliced elements get their gradient back; the elements not taken get zero.",
      "∂L/∂x = ∂L/∂y at the taken positions, 0 elsewhere")
def _slice(n):
    g, s = grad(n), n.saved
    d_x = g.new_zeros(s["self_sym_sizes"])
    index = [slice(None)] * d_x.dim()
    index[signed(s["dim"]) % d_x.dim()] = slice(signed(s["start"]), signed(s["end"]), signed(s["step"]))
    d_x[tuple(index)] = g
    return [d_x]


@rule("SplitBackward0", "y₀, y₁, … = x.split(size, dim)",
      "The pieces' gradients are put back side by side (zero for a piece no gradient reached).",
      "∂L/∂x = cat(∂L/∂y₀, ∂L/∂y₁, …; dim)")
def _split(n):
    s = n.saved
    sizes = list(s["self_sym_sizes"])
    dim = signed(s["dim"]) % len(sizes)
    size = s["split_size"]
    pieces = [min(size, sizes[dim] - start) for start in range(0, sizes[dim], size)]  # the last may be shorter
    return [torch.cat([_received_or_zeros(n, i, sizes, dim, piece) for i, piece in enumerate(pieces)], dim)]


def _any_grad(n: NodeGradients) -> torch.Tensor:
    return next(_whole(g, "a received gradient") for g in n.received if g is not None)


@rule("SplitWithSizesBackward0", "y₀, y₁, … = x.split([s₀, s₁, …], dim)   (pieces of given sizes)",
      "The pieces' gradients are put back side by side (zero for a piece no gradient reached).",
      "∂L/∂x = cat(∂L/∂y₀, ∂L/∂y₁, …; dim)")
def _split_with_sizes(n):
    s = n.saved
    sizes = list(s["self_sym_sizes"])
    dim = signed(s["dim"]) % len(sizes)
    return [torch.cat([_received_or_zeros(n, i, sizes, dim, size) for i, size in enumerate(s["split_sizes"])], dim)]


def _received_or_zeros(n: NodeGradients, i: int, sizes: list[int], dim: int, size: int) -> torch.Tensor:
    """The i-th received gradient, or zeros of that output's shape (``sizes`` with ``size`` at ``dim``)."""
    received = n.received[i] if i < len(n.received) else None
    if received is not None:
        return _whole(received, f"the received gradient {i}")
    shape = list(sizes)
    shape[dim] = size
    return torch.zeros(shape, dtype=_any_grad(n).dtype)


@rule("CatBackward0", "y = cat(x₀, x₁, …; dim)   (inputs side by side)",
      "Each input gets back the part of the gradient where its values were placed.",
      "∂L/∂xᵢ = ∂L/∂y[the slice of xᵢ along dim]")
def _cat(n):
    g = grad(n)
    dim = signed(n.saved["dim"]) % g.dim()
    widths = [None if shape is None else shape[dim] for shape in n.input_shapes]
    unknown = [i for i, width in enumerate(widths) if width is None]
    if len(unknown) > 1 and any(w is not None for w in widths[unknown[0] + 1:]):
        # autograd saves only dim; an input that needs no gradient leaves no shape in the record
        raise NotRecomputable(f"{len(unknown)} inputs of cat need no gradient and their sizes were not saved, "
                              "so where the others' slices start is unknown")
    if len(unknown) == 1:
        widths[unknown[0]] = g.shape[dim] - sum(w for w in widths if w is not None)
    out, start = [], 0
    for width in widths:  # (autograd also sends a gradient to an input that needs none: it goes nowhere)
        out.append(None if width is None else g.narrow(dim, start, width))
        start += width or 0
    return out


@rule("StackBackward0", "y = stack(x₀, x₁, …; dim)   (inputs along a new dim)",
      "Each input gets its own layer of the gradient along the new dim.", "∂L/∂xᵢ = ∂L/∂y.select(dim, i)")
def _stack(n):
    g = grad(n)
    return list(g.unbind(signed(n.saved["dim"]) % g.dim()))


@rule("UnbindBackward0", "y₀, y₁, … = x.unbind(dim)   (x's slices along dim; also x[0], x[1] unpacked)",
      "The slices' gradients are stacked back along dim (zero for a slice no gradient reached).",
      "∂L/∂x = stack(∂L/∂y₀, ∂L/∂y₁, …; dim)")
def _unbind(n):
    like = _any_grad(n)
    pieces = [like.new_zeros(like.shape) if g is None else _whole(g, f"the received gradient {i}")
              for i, g in enumerate(n.received)]
    return [torch.stack(pieces, signed(n.saved["dim"]) % (like.dim() + 1))]


@rule("SelectBackward0", "y = x.select(dim, i)   (x[:, i]: one index, the dim disappears)",
      "The selected slice gets the gradient; everything else was not used and gets zero.",
      "∂L/∂x = ∂L/∂y at index i along dim, 0 elsewhere")
def _select(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    d_x.select(signed(s["dim"]) % d_x.dim(), signed(s["index"])).copy_(g)
    return [d_x]


@rule("UnsqueezeBackward0", "y = x.unsqueeze(dim)   (a new dim of size 1)", "Same values: the added dim is removed again.",
      "∂L/∂x = squeeze(∂L/∂y, dim)")
def _unsqueeze(n):
    g = grad(n)
    return [g.squeeze(signed(n.saved["dim"]) % g.dim())]


@rule("SqueezeBackward0", "y = x.squeeze()   (dims of size 1 removed)", "Same values: the size-1 dims are put back.",
      "∂L/∂x = reshape(∂L/∂y, x.shape)")
def _squeeze(n):
    return [grad(n).reshape(n.saved["self_sym_sizes"])]


alias("SqueezeBackward1", "SqueezeBackward0")  # squeeze(dim): the same, for one dim
alias("SqueezeBackward2", "SqueezeBackward0")  # squeeze((d0, d1)): the same, for several


@rule("IndexBackward0", "y = x[idx]   (indexing with integer tensors or a boolean mask)",
      "Each picked element gets its gradient back, added up when it was picked several times; the rest get zero.",
      "∂L/∂x[idx] += ∂L/∂y   (0 where not picked)")
def _index(n):
    g = grad(n)
    indices = tuple(None if i is None else _whole(i, "the saved index") for i in n.saved["indices"])
    # aten's index_put takes None for a dim taken whole (x[:, idx]); Tensor.index_put_ does not
    return [torch.ops.aten.index_put(g.new_zeros(n.saved["self_sym_sizes"]), list(indices), g, True)]


@rule("IndexSelectBackward0", "y = x.index_select(dim, idx)", "Each picked slice gets its gradient back, added up for "
      "slices picked several times; the rest get zero.", "∂L/∂x[idx along dim] += ∂L/∂y")
def _index_select(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    return [d_x.index_add_(signed(s["dim"]) % d_x.dim(), saved(n, "index"), g)]


@rule("GatherBackward0", "y[i][j] = x[i][idx[i][j]]   (gather along dim)",
      "Each element gets the gradients of every output that gathered it, added up.",
      "∂L/∂x = scatter_add(0, dim, idx, ∂L/∂y)", inputs={0: "self"})
def _gather(n):
    x = saved(n, "self")
    return [torch.zeros_like(x).scatter_add_(signed(n.saved["dim"]) % x.dim(), saved(n, "index"), grad(n))]


@rule("ConstantPadNdBackward0", "y = x with a border of a constant (F.pad)",
      "The border depends on no input: its gradient is dropped and x gets the inner part.",
      "∂L/∂x = ∂L/∂y with the padded border cut off")
def _constant_pad(n):
    # pad lists (left, right) per dim from the last dim back; padding by −pad cuts that border off again
    # (and a negative pad, a crop, comes back as zeros)
    return [F.pad(grad(n), [-signed(int(p)) for p in n.saved["pad"]])]


@rule("FlipBackward0", "y = x.flip(dims)", "Flipping is undone by flipping the gradient back.", "∂L/∂x = flip(∂L/∂y, dims)")
def _flip(n):
    return [grad(n).flip([signed(int(d)) for d in n.saved["dims"]])]


@rule("RollBackward0", "y = x.roll(shifts, dims)", "Rolling is undone by rolling the gradient back by −shifts.",
      "∂L/∂x = roll(∂L/∂y, −shifts, dims)")
def _roll(n):
    return [grad(n).roll([-signed(int(s)) for s in n.saved["shifts"]], [signed(int(d)) for d in n.saved["dims"]])]


@rule("CumsumBackward0", "yᵢ = Σ_(j ≤ i) xⱼ   (cumulative sum along dim)",
      "xⱼ is in every later partial sum: it gets the sum of their gradients (a cumulative sum from the end).",
      "∂L/∂xⱼ = Σ_(i ≥ j) ∂L/∂yᵢ")
def _cumsum(n):
    g = grad(n)
    dim = signed(n.saved["dim"]) % g.dim()
    return [g.flip(dim).cumsum(dim).flip(dim)]


@rule("TrilBackward0", "y = tril(x, k)   (x below the k-th diagonal, zeros above: causal masks)",
      "The zeroed triangle no longer depends on x: the gradient keeps only the kept triangle.", "∂L/∂x = tril(∂L/∂y, k)")
def _tril(n):
    return [grad(n).tril(signed(int(n.saved["diagonal"])))]


@rule("TriuBackward0", "y = triu(x, k)   (x above the k-th diagonal, zeros below)",
      "The zeroed triangle no longer depends on x: the gradient keeps only the kept triangle.", "∂L/∂x = triu(∂L/∂y, k)")
def _triu(n):
    return [grad(n).triu(signed(int(n.saved["diagonal"])))]


@rule("DiagonalBackward0", "y = x.diagonal(offset, d1, d2)",
      "The diagonal gets its gradient back; everything off it gets zero.", "∂L/∂x = ∂L/∂y on the diagonal, 0 elsewhere")
def _diagonal(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    d_x.diagonal(signed(int(s["offset"])), signed(int(s["dim1"])), signed(int(s["dim2"]))).copy_(g)
    return [d_x]


@rule("MaskedSelectBackward0", "y = x[mask]   (masked_select: the selected values, flattened)",
      "The selected elements get their gradient back, in order; the rest get zero.",
      "∂L/∂x = ∂L/∂y at the masked positions, 0 elsewhere", inputs={0: "self"})
def _masked_select(n):
    g, x, mask = grad(n), saved(n, "self"), saved(n, "mask")
    shape = torch.broadcast_shapes(x.shape, mask.shape)
    return [sum_to(g.new_zeros(shape).masked_scatter(mask.expand(shape), g), x.shape)]


@rule("IndexPutBackward0", "y = x with y[idx] = v   (index_put; accumulate: y[idx] += v)",
      "x gets the gradient except where v overwrote it; v gets the gradient at the positions it was written to.",
      "∂L/∂x = ∂L/∂y with the written positions zeroed (kept when accumulating)", "∂L/∂v = ∂L/∂y[idx]")
def _index_put(n):
    g = grad(n)
    indices = [None if i is None else _whole(i, "the saved index") for i in n.saved["indices"]]
    taken = torch.ops.aten.index(g, indices)
    d_x = g if n.saved["accumulate"] else torch.ops.aten.index_put(g, indices, g.new_zeros(()))
    return [d_x, sum_to(taken, _shape(n, 1))]


@rule("ScatterAddBackward0", "y = x, then y[idx[i][j]][j] += src[i][j]   (scatter_add along dim)",
      "x passes the gradient through; each src element gets the gradient of the place it was added to.",
      "∂L/∂x = ∂L/∂y", "∂L/∂src = gather(∂L/∂y, dim, idx)")
def _scatter_add(n):
    g = grad(n)
    return [g, g.gather(signed(n.saved["dim"]) % g.dim(), saved(n, "index"))]


@rule("ScatterBackward0", "y = x, then y[idx[i][j]][j] = src[i][j]   (scatter along dim)",
      "Overwritten places no longer depend on x; each src element gets the gradient of the place it was written to.",
      "∂L/∂x = ∂L/∂y with the written places zeroed", "∂L/∂src = gather(∂L/∂y, dim, idx)")
def _scatter(n):
    g = grad(n)
    dim, index = signed(n.saved["dim"]) % g.dim(), saved(n, "index")
    return [g.scatter(dim, index, 0.0), g.gather(dim, index)]


@rule("IndexAddBackward0", "y = x, then y[idx along dim] += α · src   (index_add)",
      "x passes the gradient through; each slice of src gets α times the gradient of the slice it was added to.",
      "∂L/∂x = ∂L/∂y", "∂L/∂src = α · ∂L/∂y[idx along dim]")
def _index_add(n):
    g, s = grad(n), n.saved
    d_source = s["alpha"] * g.index_select(signed(s["dim"]) % g.dim(), saved(n, "index"))
    return [g, d_source.reshape(_shape(n, 1)) if _shape(n, 1) is not None else None]


def _pad_sources(kind: str, out_size: int, in_size: int, left: int):
    """Which input index each padded output index copies: reflected at the edges, or the edge repeated."""
    def sources(o):
        j = o - left
        if kind == "reflect":
            j = -j if j < 0 else (2 * (in_size - 1) - j if j >= in_size else j)
        else:
            j = min(max(j, 0), in_size - 1)
        return [(j, 1.0)]
    return sources


def _pad_back(n: NodeGradients, kind: str) -> list[torch.Tensor]:
    g, x = grad(n), saved(n, "self")
    padding = [signed(int(p)) for p in n.saved["padding"]]  # (left, right[, top, bottom])
    cols = _resample_matrix(g.shape[-1], x.shape[-1], _pad_sources(kind, g.shape[-1], x.shape[-1], padding[0]), g.dtype)
    if len(padding) == 2:
        return [g @ cols]
    rows = _resample_matrix(g.shape[-2], x.shape[-2], _pad_sources(kind, g.shape[-2], x.shape[-2], padding[2]), g.dtype)
    return [_separable_back(g, rows, cols)]


@rule("ReflectionPad2DBackward0", "y = x padded by reflecting it at its edges   (F.pad mode='reflect': pix2pix, CycleGAN)",
      "Each input pixel gets its own gradient plus those of the border pixels that mirror it.",
      "∂L/∂x[p] = Σ over p and its mirror images ∂L/∂y")
def _reflection_pad(n):
    return _pad_back(n, "reflect")


alias("ReflectionPad1DBackward0", "ReflectionPad2DBackward0")


@rule("ReplicationPad2DBackward0", "y = x padded by repeating its edge values   (F.pad mode='replicate')",
      "Each edge pixel gets its own gradient plus those of the border pixels that copy it.",
      "∂L/∂x[p] = Σ over p and its copies ∂L/∂y")
def _replication_pad(n):
    return _pad_back(n, "replicate")


alias("ReplicationPad1DBackward0", "ReplicationPad2DBackward0")


@rule("PixelShuffleBackward0", "y = pixel_shuffle(x, r)   (channels C·r² → an r× larger image: super-resolution)",
      "Only moves values: the gradient is moved back by the inverse shuffle.", "∂L/∂x = pixel_unshuffle(∂L/∂y, r)")
def _pixel_shuffle(n):
    return [F.pixel_unshuffle(grad(n), n.saved["upscale_factor"])]


@rule("PixelUnshuffleBackward0", "y = pixel_unshuffle(x, r)   (an image → r² times the channels at 1/r size)",
      "Only moves values: the gradient is moved back by the inverse shuffle.", "∂L/∂x = pixel_shuffle(∂L/∂y, r)")
def _pixel_unshuffle(n):
    return [F.pixel_shuffle(grad(n), n.saved["downscale_factor"])]


@rule("ChannelShuffleBackward0", "y = channel_shuffle(x, g)   (ShuffleNet: channels regrouped)",
      "Only moves channels: the gradient's channels are moved back.", "∂L/∂x = the inverse channel shuffle of ∂L/∂y")
def _channel_shuffle(n):
    g, groups = grad(n), n.saved["groups"]
    return [g.unflatten(1, (g.shape[1] // groups, groups)).transpose(1, 2).flatten(1, 2)]


@rule("Im2ColBackward0", "y = unfold(x)   (every k×k patch of x as a column)",
      "An input pixel is in several patches: it gets the sum of the gradients of all its copies (fold).",
      "∂L/∂x = fold(∂L/∂y)")
def _im2col(n):
    s = n.saved
    size = (s["self_sym_argsize_minus_2"], s["self_sym_argsize_minus_1"])
    return [F.fold(grad(n), size, s["kernel_size"], dilation=s["dilation"], padding=s["padding"], stride=s["stride"])]


@rule("Col2ImBackward0", "y = fold(x)   (columns summed back into an image: overlapping patches add)",
      "Each column entry was added into one pixel: it gets that pixel's gradient (unfold).", "∂L/∂x = unfold(∂L/∂y)")
def _col2im(n):
    s = n.saved
    return [F.unfold(grad(n), s["kernel_size"], dilation=s["dilation"], padding=s["padding"], stride=s["stride"])]


@rule("ToCopyBackward0", "y = x.to(dtype or device)   (.float(), .half(), mixed precision)",
      "Same values in another dtype/device: the gradient is converted back to x's.", "∂L/∂x = ∂L/∂y converted to x's dtype")
def _to_copy(n):
    return [grad(n).to(input_dtype(n, 0))]  # and to x's device, which the record (on the CPU) does not show


alias("TransposeBackward1", "TransposeBackward0")  # transpose_ in place (GRU/RNN layers use it)
alias("TBackward1", "TBackward0")  # t_ in place
alias("SqueezeBackward4", "SqueezeBackward0")  # squeeze_(dim) in place
alias("UnsqueezeBackward1", "UnsqueezeBackward0")  # unsqueeze_ in place
alias("UnsafeSplitBackward0", "SplitBackward0")  # GRU layers split their gates with it


@rule("NarrowCopyBackward0", "y = a copy of x.narrow(dim, start, length)",
      "The copied elements get their gradient back; the elements not taken get zero.",
      "∂L/∂x = ∂L/∂y at the taken positions, 0 elsewhere")
def _narrow_copy(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    d_x.narrow(signed(s["dim"]) % d_x.dim(), signed(s["start"]), s["length"]).copy_(g)
    return [d_x]


@rule("UnfoldBackward0", "y = x.unfold(dim, size, step)   (sliding windows along dim, as a new last dim)",
      "An element in several windows gets the sum of the gradients of all its copies.",
      "∂L/∂x[p] = Σ over the windows containing p ∂L/∂y")
def _tensor_unfold(n):
    s, g = n.saved, grad(n)
    d_x = g.new_zeros(s["self_sym_sizes"])
    dim = signed(s["dimension"]) % max(d_x.dim(), 1)
    size, step = s["size"], s["step"]
    for i in range(g.shape[dim]):  # window i covers [i·step, i·step + size) along dim; its elements are y's last dim
        d_x.narrow(dim, i * step, size).add_(g.select(dim, i).movedim(-1, dim))
    return [d_x]


@rule("TraceBackward0", "y = Σᵢ x[i, i]   (the trace)", "Only the diagonal is summed: it gets the gradient, the rest zero.",
      "∂L/∂x = ∂L/∂y on the diagonal, 0 elsewhere")
def _trace(n):
    g = grad(n)
    d_x = g.new_zeros(n.saved["self_sym_sizes"])
    d_x.diagonal().fill_(g.item())
    return [d_x]


@rule("DiagEmbedBackward0", "y = diag_embed(x)   (x's last dim put on a diagonal; also torch.diag of a vector)",
      "Only the diagonal holds x: x gets the gradient's diagonal.", "∂L/∂x = diagonal(∂L/∂y)")
def _diag_embed(n):
    s, g = n.saved, grad(n)
    return [g.diagonal(signed(int(s["offset"])), signed(int(s["dim1"])), signed(int(s["dim2"])))]


@rule("Rot90Backward0", "y = rot90(x, k, dims)", "Rotating is undone by rotating the gradient back by −k.",
      "∂L/∂x = rot90(∂L/∂y, −k, dims)")
def _rot90(n):
    return [grad(n).rot90(-n.saved["k"], [signed(int(d)) for d in n.saved["dims"]])]


@rule("TakeBackward0", "y = x.take(idx)   (elements of the flattened x)",
      "Each taken element gets its gradient back, added up when taken several times; the rest get zero.",
      "∂L/∂x.flat[idx] += ∂L/∂y", inputs={0: "self"})
def _take(n):
    x = saved(n, "self")
    return [torch.zeros_like(x).put_(saved(n, "index"), grad(n), accumulate=True)]


@rule("IndexFillBackward0", "y = x with the slices idx along dim filled with a constant",
      "Filled slices no longer depend on x: they get zero gradient.", "∂L/∂x = ∂L/∂y, 0 in the filled slices")
def _index_fill(n):
    g = grad(n)
    return [g.index_fill(signed(n.saved["dim"]) % g.dim(), saved(n, "index"), 0.0)]


@rule("MaskedScatterBackward0", "y = x with its masked places filled, in order, by the first values of src",
      "Filled places no longer depend on x; each src value used gets the gradient of the place it filled.",
      "∂L/∂x = ∂L/∂y where not mask, 0 where mask", "∂L/∂src[:k] = ∂L/∂y[mask]   (0 for src values not used)")
def _masked_scatter(n):
    g, mask = grad(n), saved(n, "mask")
    mask = mask.expand(g.shape)
    used = g[mask]
    size = n.saved["source_sym_sizes"]
    d_source = torch.cat([used, used.new_zeros(math.prod(size) - used.numel())]).reshape(size)
    return [sum_to(g.masked_fill(mask, 0), _shape(n, 0)), d_source]


@rule("ZeroBackward0", "y = x.zero_()   (every value overwritten with 0)",
      "The result no longer depends on x: the gradient stops here.", "∂L/∂x = 0")
def _zero(n):
    return [torch.zeros_like(grad(n))]


rule("FillBackward2", "y = x.fill_(c)   (every value overwritten with a number)",
     "The result no longer depends on x: the gradient stops here.", "∂L/∂x = 0")(_zero)


@rule("IndexCopyBackward0", "y = x with the slices idx along dim replaced by src's   (index_copy)",
      "Replaced slices no longer depend on x: they get zero; src's slices get the gradient of where they went.",
      "∂L/∂x = ∂L/∂y, 0 in the replaced slices", "∂L/∂src = ∂L/∂y[idx along dim]")
def _index_copy(n):
    g, index = grad(n), saved(n, "index")
    dim = signed(n.saved["dim"]) % max(g.dim(), 1)
    return [g.index_fill(dim, index, 0.0), g.index_select(dim, index)]


@rule("ScatterBackward1", "y = x with y[idx[i][j]][j] = c   (scatter of a number)",
      "Overwritten places no longer depend on x: they get zero gradient.", "∂L/∂x = ∂L/∂y with the written places zeroed")
def _scatter_value(n):
    g = grad(n)
    return [g.scatter(signed(n.saved["dim"]) % g.dim(), saved(n, "index"), 0.0)]


@rule("ScatterReduceBackward0", "y = x, then src[i][j] reduced into y[idx[i][j]][j] by sum, mean, amax or amin   "
      "(graph neural networks' message passing)",
      "sum: every contributor gets the place's gradient; mean: divided by the number averaged; amax/amin: the "
      "contributors equal to the result share it.",
      "∂L/∂x = ∂L/∂y · (its share of the place)", "∂L/∂src = gather(∂L/∂y · share, dim, idx)")
def _scatter_reduce(n):
    s, g = n.saved, grad(n)
    x, src, index, reduce = saved(n, "self"), saved(n, "src"), saved(n, "index"), s["reduce"]
    dim = signed(s["dim"]) % max(g.dim(), 1)
    written = torch.zeros_like(g, dtype=torch.bool).scatter(dim, index, True)
    if reduce == "sum":
        d_x, d_src = g, g.gather(dim, index)
    elif reduce == "mean":
        count = (torch.ones_like(g) if s["include_self"] else torch.zeros_like(g)).scatter_add(dim, index, torch.ones_like(src))
        share = g / count.masked_fill(count == 0, 1)
        d_x, d_src = share, share.gather(dim, index)
    elif reduce in ("amax", "amin"):
        y = saved(n, "result")
        x_won, src_won = (x == y).to(g.dtype), (src == y.gather(dim, index)).to(g.dtype)
        # autograd counts x's equal value as a tie even with include_self=False (then x's share is dropped below)
        winners = x_won.scatter_add(dim, index, src_won)
        share = g / winners.masked_fill(winners == 0, 1)
        d_x, d_src = share * x_won, share.gather(dim, index) * src_won
    else:
        raise NotRecomputable(f"scatter_reduce with {reduce!r} is not recomputed yet")
    if not s["include_self"]:  # x's values at the written places were not part of the reduction
        d_x = d_x.masked_fill(written, 0)
    return [d_x, d_src]


@rule("PutBackward0", "y = x with y.flat[idx] = src   (put; accumulate: +=)",
      "Overwritten places get zero (kept when accumulating); each src value gets the gradient of its place.",
      "∂L/∂x = ∂L/∂y, 0 at idx unless accumulating", "∂L/∂src = ∂L/∂y.flat[idx]")
def _put(n):
    g, index = grad(n), saved(n, "index")
    d_x = g if n.saved["accumulate"] else g.put(index, torch.zeros(index.shape, dtype=g.dtype))
    return [d_x, g.take(index)]


@rule("SelectScatterBackward0", "y = x with y.select(dim, i) = src", "The replaced slice's gradient goes to src; x gets the rest.",
      "∂L/∂x = ∂L/∂y, 0 in the slice", "∂L/∂src = ∂L/∂y.select(dim, i)")
def _select_scatter(n):
    g, s = grad(n), n.saved
    dim, index = signed(s["dim"]) % g.dim(), signed(s["index"])
    return [torch.select_scatter(g, torch.zeros_like(g.select(dim, index)), dim, index), g.select(dim, index)]


@rule("SliceScatterBackward0", "y = x with y[..., start:end:step, ...] = src",
      "The replaced slice's gradient goes to src; x gets the rest.", "∂L/∂x = ∂L/∂y, 0 in the slice",
      "∂L/∂src = ∂L/∂y[start:end:step along dim]")
def _slice_scatter(n):
    g, s = grad(n), n.saved
    dim = signed(s["dim"]) % g.dim()
    start = None if s["start"] is None else signed(s["start"])
    end = None if s["end"] is None else signed(s["end"])
    index = [slice(None)] * g.dim()
    index[dim] = slice(start, end, signed(s["step"]))
    d_x = g.clone()
    d_x[tuple(index)] = 0
    return [d_x, g[tuple(index)]]


@rule("DiagonalScatterBackward0", "y = x with its diagonal replaced by src",
      "The diagonal's gradient goes to src; x gets the rest.", "∂L/∂x = ∂L/∂y, 0 on the diagonal", "∂L/∂src = diagonal(∂L/∂y)")
def _diagonal_scatter(n):
    g, s = grad(n), n.saved
    args = signed(int(s["offset"])), signed(int(s["dim1"])), signed(int(s["dim2"]))
    d_x = g.clone()
    d_x.diagonal(*args).zero_()
    return [d_x, g.diagonal(*args)]


@rule("LerpBackward1", "y = a + w · (b − a)   (w a tensor)",
      "a and b get the gradient in shares (1 − w) and w; the weight gets it times b − a.",
      "∂L/∂a = (1 − w) · ∂L/∂y", "∂L/∂b = w · ∂L/∂y", "∂L/∂w = (b − a) · ∂L/∂y", inputs={0: "self", 1: "end", 2: "weight"})
def _lerp_tensor(n):
    g, a, b, w = grad(n), saved(n, "self"), saved(n, "end"), saved(n, "weight")
    return [sum_to((1 - w) * g, _shape(n, 0)), sum_to(w * g, _shape(n, 1)), sum_to((b - a) * g, _shape(n, 2))]


@rule("VdotBackward0", "y = a · b = Σ aᵢ bᵢ   (vdot: spectral norm's power iteration)", "Each vector gets the gradient times the other.",
      "∂L/∂a = ∂L/∂y · b", "∂L/∂b = ∂L/∂y · a")
def _vdot(n):
    g = grad(n)
    d_a = g * saved(n, "other") if _shape(n, 0) is not None else None
    d_b = g * saved(n, "self") if _shape(n, 1) is not None else None
    return [d_a, d_b]


@rule("WeightNormInterfaceBackward0", "W = g · v / ‖v‖   (weight_norm: a direction v and a length g per output)",
      "The length g gets the gradient's component along v's direction; v gets the rest, the part that turns it, "
      "scaled by g/‖v‖.",
      "∂L/∂v = g/‖v‖ · (∂L/∂W − v̂ · ⟨∂L/∂W, v̂⟩)", "∂L/∂g = ⟨∂L/∂W, v⟩ / ‖v‖", inputs={0: "v", 1: "g"})
def _weight_norm(n):
    grad_w, v, length, norm = grad(n), saved(n, "v"), saved(n, "g"), saved(n, "result1")
    dim = signed(int(n.saved["dim"])) % v.dim()
    over = tuple(d for d in range(v.dim()) if d != dim)  # the norm is over every dim but dim
    d_g = (grad_w * v).sum(over, keepdim=True) / norm
    d_v = length / norm * (grad_w - v * d_g / norm)
    return [d_v, d_g.reshape(length.shape)]
