"""Every backward rule, recomputed by hand from a real recording, equals what autograd produced.

Each case runs a small forward on random inputs under a NodeRecorder, runs
backward with a random seed gradient, and checks the rule of every Node of
the case's class: recompute(received, saved) == the gradients autograd sent on.
"""
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import gradviz
from gradviz.core import presets
from gradviz.core.backward_rules import NO_EXPLANATION, RULES, NotRecomputable, recompute, rule_for
from gradviz.core.node_grads import NodeRecorder, TensorSummary

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.filterwarnings(r"ignore:index_reduce\(\) is in beta")  # torch's own notice for a case below


def _leaf(*shape, positive=False):
    t = torch.randn(*shape, dtype=torch.float64)
    if positive:
        t = t.abs() + 0.5
    return t.requires_grad_()


def _data(*shape):
    """A float64 input that needs no gradient."""
    return torch.randn(*shape, dtype=torch.float64)


def _ints(*shape):
    """A leaf of small whole numbers: maxima, minima and comparisons tie."""
    return torch.randint(0, 3, shape).double().requires_grad_()


def _record(build, limit=10_000):
    """Run ``build()`` under a recorder, then backward with a random seed; return the recorder."""
    return _record_with_graph(build, limit)[0]


def _record_with_graph(build, limit=10_000):
    recorder = NodeRecorder(limit)
    with recorder.forward():
        out = build()
    outputs = [out] if isinstance(out, torch.Tensor) else [t for t in out if t.grad_fn is not None]
    graph = gradviz.autograd_graph(outputs)
    seeds = [torch.randn_like(t) for t in outputs]
    with recorder.backward(graph, outputs, seeds):
        gradviz.trace_backward(outputs, graph, seeds)
    return recorder, graph


def _lstm(**options):
    # float32: the fused CPU kernel (MkldnnRnnLayer) is the one the LSTM example gets
    lstm = nn.LSTM(4, 3, batch_first=True, **options)
    states = lstm.num_layers * (2 if lstm.bidirectional else 1)
    leaves = [_leaf(*shape).float().detach().requires_grad_() for shape in ((2, 5, 4), (states, 2, 3), (states, 2, 3))]
    out, (h, c) = lstm(leaves[0], (leaves[1], leaves[2]))
    return [out, h, c]


def _embedding():
    weight = _leaf(7, 3)
    return F.embedding(torch.tensor([[1, 2, 1], [6, 2, 0]]), weight, padding_idx=0)


# a whole row masked (safe softmax gives it zeros), a row partly masked, a row not masked
_ROW_MASKED = torch.tensor([[True] * 4, [False, True, False, False], [False] * 4])

CASES = {
    "AddmmBackward0": lambda: F.linear(_leaf(3, 4), _leaf(5, 4), _leaf(5)),
    "MmBackward0": lambda: _leaf(3, 4) @ _leaf(4, 2),
    "BmmBackward0": lambda: _leaf(2, 3, 4) @ _leaf(2, 4, 5),
    "TBackward0": lambda: _leaf(3, 4).t() * 1.0,
    "ViewBackward0": lambda: _leaf(2, 3, 4).view(6, 4),
    "UnsafeViewBackward0": lambda: torch.matmul(_leaf(2, 3, 4), _leaf(4, 5)),
    "PermuteBackward0": lambda: _leaf(2, 3, 4).permute(2, 0, 1),
    "TransposeBackward0": lambda: _leaf(2, 3, 4).transpose(0, 2),
    "ExpandBackward0": lambda: _leaf(3, 1).expand(3, 4),
    "CloneBackward0": lambda: _leaf(3, 4).clone(),
    # conversions: the gradient goes back in the input's dtype (float64 -> float32 -> float64 here)
    "ToCopyBackward0": lambda: _leaf(3, 4).float().to(torch.float64) * 2 + _leaf(3).half().double().sum(),
    # x's old values are overwritten (zero gradient); src (broadcast, another dtype) gets it converted back
    "CopyBackwards": lambda: (_leaf(3, 4) * 1).copy_(_leaf(4).float()) * 2,
    "RepeatBackward0": lambda: _leaf(3, 4).repeat(2, 1, 3) + _leaf(3, 1).repeat(2, 1, 12),
    "SliceBackward0": lambda: _leaf(3, 6)[:, 1:5:2],
    "SplitBackward0": lambda: _leaf(3, 7).split(3, dim=1)[1] * 2,
    "AddBackward0": lambda: _leaf(3, 4) + _leaf(4),
    "AddBackward0/number": lambda: _leaf(3, 4) + 2.5,
    "SubBackward0": lambda: _leaf(3, 4) - _leaf(3, 1),
    "RsubBackward1": lambda: 1.0 - _leaf(3, 4),
    "MulBackward0": lambda: _leaf(3, 4) * _leaf(4),
    "MulBackward0/number": lambda: torch.mul(_leaf(3, 4), 3.0),
    "DivBackward0": lambda: _leaf(3, 4) / _leaf(3, 4, positive=True),
    "DivBackward0/number": lambda: torch.div(_leaf(3, 4), 3.0),
    "NegBackward0": lambda: -_leaf(3, 4),
    "AbsBackward0": lambda: _leaf(3, 4).abs(),
    "MaskedFillBackward0": lambda: (lambda x: x.masked_fill(x.detach() > 0, 0.0))(_leaf(3, 4)),
    "SumBackward0": lambda: _leaf(3, 4).sum(),
    "SumBackward1": lambda: _leaf(2, 3, 4).sum((0, 2)),
    "MeanBackward0": lambda: _leaf(3, 4).mean(),
    "MeanBackward1": lambda: _leaf(2, 3, 4, 5).mean((-1, -2), keepdim=True),
    "ReluBackward0": lambda: F.relu(_leaf(3, 4)),
    "LeakyReluBackward0": lambda: F.leaky_relu(_leaf(3, 4), 0.1),
    "SigmoidBackward0": lambda: torch.sigmoid(_leaf(3, 4)),
    "TanhBackward0": lambda: torch.tanh(_leaf(3, 4)),
    "GeluBackward0": lambda: F.gelu(_leaf(3, 4)) + F.gelu(_leaf(3, 4), approximate="tanh"),
    "SiluBackward0": lambda: F.silu(_leaf(3, 4)),
    "SoftmaxBackward0": lambda: F.softmax(_leaf(3, 4), dim=1),
    "LogSoftmaxBackward0": lambda: F.log_softmax(_leaf(3, 4), dim=-1),
    "MseLossBackward0": lambda: F.mse_loss(_leaf(3, 4), torch.randn(3, 4, dtype=torch.float64)),
    "NllLossBackward0": lambda: F.nll_loss(F.log_softmax(_leaf(4, 5), 1), torch.tensor([0, 4, 2, 4])),
    "ConvolutionBackward0": lambda: F.conv2d(_leaf(2, 4, 7, 6), _leaf(6, 2, 3, 2), _leaf(6), stride=(2, 1), padding=1, groups=2)
    + 0 * F.conv1d(_leaf(2, 3, 9), _leaf(4, 3, 3), None, dilation=2).sum(),
    "ConvolutionBackward0/3-d (video, volumes)": lambda: F.conv3d(_leaf(2, 4, 5, 4, 5), _leaf(4, 2, 3, 2, 3), _leaf(4), stride=(2, 1, 2),
                                                                 padding=1, groups=2, dilation=(1, 2, 1))
    + F.conv_transpose3d(_leaf(2, 2, 3, 2, 3), _leaf(2, 4, 2, 2, 2), _leaf(4), stride=2, padding=1, output_padding=1).sum(),
    "ConvolutionBackward0/no bias, depthwise": lambda: F.conv2d(_leaf(2, 3, 5, 5), _leaf(3, 1, 3, 3), None, padding=2, groups=3,
                                                                dilation=2),
    "ConvolutionBackward0/transposed (UNet, FCN decoders)": lambda: F.conv_transpose2d(
        _leaf(2, 4, 3, 4), _leaf(4, 3, 3, 2), _leaf(6), stride=2, padding=1, output_padding=1, groups=2)
    + F.conv_transpose2d(_leaf(2, 3, 7, 8), _leaf(3, 2, 2, 2), None, stride=1, padding=0, dilation=(1, 2))[..., :7, :8].sum()
    + 0 * F.conv_transpose1d(_leaf(2, 3, 5), _leaf(3, 2, 4), _leaf(2), stride=3, padding=2, output_padding=1).sum(),
    "MaxPool2DWithIndicesBackward0": lambda: F.max_pool2d(_leaf(2, 3, 6, 7), 2, stride=2, padding=1),
    "AvgPool2DBackward0": lambda: F.avg_pool2d(_leaf(2, 3, 7, 6), 3, stride=2, padding=1),
    "AdaptiveAvgPool2DBackward0": lambda: F.adaptive_avg_pool2d(_leaf(2, 3, 7, 5), (3, 2)),
    "NativeBatchNormBackward0": lambda: F.batch_norm(_leaf(4, 3, 2, 2), torch.zeros(3, dtype=torch.float64),
                                                     torch.ones(3, dtype=torch.float64), _leaf(3), _leaf(3), training=True),
    "NativeLayerNormBackward0": lambda: F.layer_norm(_leaf(2, 3, 4), (3, 4), _leaf(3, 4), _leaf(3, 4)),
    "EmbeddingBackward0": _embedding,
    # the CPU's fused attention (a mask that needs no gradient, grouped-query heads, causal, another scale)
    "ScaledDotProductFlashAttentionForCpuBackward0": lambda: (
        F.scaled_dot_product_attention(_leaf(2, 2, 5, 8), _leaf(2, 2, 6, 8), _leaf(2, 2, 6, 8),
                                       attn_mask=torch.randn(5, 6, dtype=torch.float64))
        + F.scaled_dot_product_attention(_leaf(2, 2, 5, 8), _leaf(2, 1, 5, 8), _leaf(2, 1, 5, 8),
                                         is_causal=True, enable_gqa=True)
        + F.scaled_dot_product_attention(_leaf(2, 2, 5, 8), _leaf(2, 2, 6, 8), _leaf(2, 2, 6, 8),
                                         attn_mask=torch.rand(5, 6) > 0.3, scale=0.3)),
    # shapes, indexing (third-party models: DenseNet/Inception cat, ViT's x[:, 0], UNet padding)
    "CatBackward0": lambda: torch.cat([_leaf(2, 3), _leaf(2, 1)], 1),
    "CatBackward0/negative dim, an input needing no gradient": lambda: torch.cat([_data(2, 2), _leaf(2, 3), _leaf(2, 1)], -1),
    "CatBackward0/cls token": lambda: torch.cat([_leaf(1, 1, 4).expand(2, -1, -1), _leaf(2, 3, 4)], 1),
    "StackBackward0": lambda: torch.stack([_leaf(3), _leaf(3)], 1),
    "StackBackward0/negative dim": lambda: torch.stack([_leaf(2, 3), _data(2, 3), _leaf(2, 3)], -2),
    "UnbindBackward0": lambda: _leaf(3, 4).unbind(1)[2] * 2,
    "UnbindBackward0/unpacked, negative dim": lambda: (lambda a, b: a + 2 * b)(*_leaf(2, 3, 2).unbind(-1)),
    "SelectBackward0": lambda: _leaf(2, 3, 4)[:, 0],
    "SelectBackward0/negative dim and index": lambda: _leaf(2, 3, 4).select(-1, -2),
    "UnsqueezeBackward0": lambda: _leaf(3, 2).unsqueeze(-1),
    "UnsqueezeBackward0/front": lambda: _leaf(3, 2).unsqueeze(0),
    "SqueezeBackward0": lambda: _leaf(3, 1, 2, 1).squeeze(),
    "SqueezeBackward1": lambda: _leaf(3, 1).squeeze(-1),
    "SqueezeBackward1/a dim not of size 1": lambda: _leaf(3, 1).squeeze(0),
    "SqueezeBackward1/max_pool1d": lambda: F.max_pool1d(_leaf(2, 3, 8), 2) + F.avg_pool1d(_leaf(2, 3, 8), 2),
    "SqueezeBackward2": lambda: _leaf(3, 1, 1, 2).squeeze((1, -2)),
    "IndexBackward0": lambda: _leaf(5, 3)[torch.tensor([0, 2, 2])],
    "IndexBackward0/boolean mask": lambda: _leaf(5, 3)[torch.rand(5, 3) > 0.5],
    "IndexBackward0/second dim": lambda: _leaf(5, 3)[:, torch.tensor([0, 2, 0, 0])],
    "IndexBackward0/two index tensors": lambda: _leaf(4, 3, 2)[torch.tensor([0, 3, 0]), torch.tensor([1, 1, 1])],
    "IndexSelectBackward0": lambda: _leaf(5, 3).index_select(0, torch.tensor([4, 0, 4])),
    "IndexSelectBackward0/negative dim": lambda: _leaf(2, 5).index_select(-1, torch.tensor([1, 1, 3])),
    "GatherBackward0": lambda: _leaf(3, 4).gather(1, torch.tensor([[0, 1], [2, 2], [3, 0]])),
    "GatherBackward0/dim 0": lambda: _leaf(3, 4).gather(0, torch.tensor([[0, 1, 2, 2], [2, 2, 0, 1]])),
    "ConstantPadNdBackward0": lambda: F.pad(_leaf(2, 3), (1, 2)),
    "ConstantPadNdBackward0/two dims and a value": lambda: F.pad(_leaf(1, 2, 3, 4), (1, 0, 2, 1), value=1.5),
    "ConstantPadNdBackward0/a crop": lambda: F.pad(_leaf(2, 5), (-1, 2)),
    "FlipBackward0": lambda: _leaf(3, 4, 2).flip((0, -1)),
    "RollBackward0": lambda: _leaf(3, 4).roll((1, -3), (0, 1)),
    "CumsumBackward0": lambda: _leaf(3, 4).cumsum(-1),
    "CumsumBackward0/dim 0": lambda: _leaf(3, 4).cumsum(0),
    "SplitWithSizesBackward0": lambda: _leaf(3, 7).split([2, 5], 1)[1] * 2,
    "SplitWithSizesBackward0/negative dim, all pieces": lambda: sum(p.sum(-1) * i for i, p in enumerate(_leaf(3, 6).split([1, 3, 2], -1))),
    # element-wise
    "WhereBackward0": lambda: torch.where(torch.rand(3, 4) > 0.5, _leaf(3, 4), _leaf(4)),
    "WhereBackward0/a number": lambda: torch.where(torch.rand(3, 4) > 0.5, _leaf(3, 4), 0.0),
    "MaximumBackward0": lambda: torch.maximum(_leaf(3, 4), _leaf(4)),
    "MaximumBackward0/ties": lambda: (lambda a: torch.maximum(a, a.detach().clone().requires_grad_()))(_leaf(3, 4)),
    "MinimumBackward0": lambda: torch.minimum(_leaf(3, 1), _leaf(3, 4)),
    "MinimumBackward0/ties": lambda: torch.minimum(_ints(3, 4), _ints(3, 4)),
    "PowBackward0": lambda: _leaf(2, 3).pow(2),
    "PowBackward0/a fraction": lambda: _leaf(2, 3, positive=True) ** 0.5,
    "PowBackward0/square, a negative power": lambda: _leaf(3).square() + _leaf(3, positive=True) ** -1.5,
    "PowBackward1": lambda: _leaf(2, 3, positive=True) ** _leaf(3),
    "PowBackward1/zero base": lambda: torch.tensor([0.0, 1.5, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    ** torch.tensor([2.0, 0.0, 1.0, 1.5], dtype=torch.float64, requires_grad=True),
    "PowBackward2": lambda: 2.0 ** _leaf(3),
    "ExpBackward0": lambda: _leaf(3, 2).exp(),
    "LogBackward0": lambda: _leaf(3, 2, positive=True).log(),
    "Log1PBackward0": lambda: _leaf(3, 2, positive=True).log1p(),
    "SqrtBackward0": lambda: _leaf(3, 2, positive=True).sqrt(),
    "RsqrtBackward0": lambda: torch.rsqrt(_leaf(3, 2, positive=True)),
    "RsqrtBackward0/RMSNorm": lambda: (lambda x: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))(_leaf(2, 4)),
    "ReciprocalBackward0": lambda: _leaf(3, positive=True).reciprocal(),
    "SinBackward0": lambda: _leaf(3, 2).sin(),
    "CosBackward0": lambda: _leaf(3, 2).cos(),
    "ClampBackward1": lambda: _leaf(3, 4).clamp(min=0.1),
    "ClampBackward1/both bounds": lambda: _leaf(3, 4).clamp(-0.1, 0.2),
    "ClampMinBackward0": lambda: _leaf(3, 4).clamp_min(0.1),
    "ClampMaxBackward0": lambda: _leaf(3, 4).clamp_max(0.1),
    "ClampBackward0": lambda: _leaf(3, 4).clamp(min=_leaf(3, 4)),
    "ClampBackward0/both bounds, broadcast": lambda: _leaf(3, 4).clamp(_leaf(4) - 1, _leaf(3, 1) + 1),
    "ClampBackward0/max only": lambda: _leaf(3, 4).clamp(max=_leaf(4)),
    # reductions
    "MaxBackward0": lambda: _leaf(3, 4).max(1).values,
    "MaxBackward0/keepdim, negative dim": lambda: _leaf(3, 4).max(-1, keepdim=True).values,
    "MinBackward0": lambda: _leaf(3, 4).min(0).values,
    "MaxBackward1": lambda: _leaf(3, 4).max() + _ints(3, 4).max(),
    "MinBackward1": lambda: _leaf(3, 4).min() + _ints(3, 4).min(),
    "AmaxBackward0": lambda: _leaf(3, 4).amax(1),
    "AmaxBackward0/ties, keepdim": lambda: _ints(3, 4, 2).amax((0, -1), keepdim=True),
    "AminBackward0": lambda: _ints(3, 4).amin(-1),
    "VarBackward0": lambda: _leaf(3, 4).var(1, correction=0, keepdim=True),
    "VarBackward0/all": lambda: _leaf(3, 4).var(),
    "VarBackward0/two dims": lambda: _leaf(2, 3, 4).var((0, -1)),
    "StdBackward0": lambda: _leaf(3, 4).std(1),
    "StdBackward0/all": lambda: _leaf(3, 4).std(),
    "StdBackward0/keepdim, biased": lambda: _leaf(3, 4).std(-1, keepdim=True, correction=0),
    "LogsumexpBackward0": lambda: _leaf(3, 4).logsumexp(1),
    "LogsumexpBackward0/keepdim": lambda: _leaf(3, 4).logsumexp((0, 1), keepdim=True),
    "LinalgVectorNormBackward0": lambda: _leaf(3, 4).norm(dim=1),
    "LinalgVectorNormBackward0/F.normalize": lambda: F.normalize(_leaf(3, 4), dim=-1),
    # activations
    "HardtanhBackward0": lambda: F.relu6(_leaf(3, 4) * 4),
    "HardtanhBackward0/bounds": lambda: F.hardtanh(_leaf(3, 4), -0.5, 0.5),
    "HardswishBackward0": lambda: F.hardswish(_leaf(3, 4) * 3),
    "HardsigmoidBackward0": lambda: F.hardsigmoid(_leaf(3, 4) * 3),
    "EluBackward0": lambda: F.elu(_leaf(3, 4)),
    "EluBackward0/alpha": lambda: F.elu(_leaf(3, 4), alpha=0.5),
    "EluBackward0/SELU": lambda: F.selu(_leaf(3, 4)),
    "EluBackward1": lambda: F.elu(_leaf(3, 4) * 1, inplace=True),
    "CeluBackward0": lambda: F.celu(_leaf(3, 4), alpha=0.7),
    "SoftplusBackward0": lambda: F.softplus(_leaf(3, 4)),
    "SoftplusBackward0/beta, threshold": lambda: F.softplus(_leaf(3, 4), beta=2, threshold=1),
    "MishBackward0": lambda: F.mish(_leaf(3, 4)),
    # pooling, upsampling, normalisation (FCN/UNet, diffusion UNets)
    "AdaptiveMaxPool2DBackward0": lambda: F.adaptive_max_pool2d(_leaf(2, 3, 5, 5), 2),
    "AdaptiveMaxPool2DBackward0/uneven": lambda: F.adaptive_max_pool2d(_leaf(2, 3, 7, 5), (3, 2)),
    "UpsampleNearest2DBackward0": lambda: F.interpolate(_leaf(1, 2, 3, 3), scale_factor=2, mode="nearest"),
    "UpsampleNearest2DBackward0/size": lambda: F.interpolate(_leaf(2, 2, 3, 4), size=(5, 7), mode="nearest"),
    "UpsampleNearest2DBackward0/down, fraction": lambda: F.interpolate(_leaf(1, 2, 7, 5), scale_factor=0.6, mode="nearest"),
    "UpsampleBilinear2DBackward0": lambda: F.interpolate(_leaf(1, 2, 3, 3), scale_factor=2, mode="bilinear"),
    "UpsampleBilinear2DBackward0/align_corners": lambda: F.interpolate(_leaf(2, 2, 3, 4), size=(5, 4), mode="bilinear",
                                                                       align_corners=True),
    "UpsampleBilinear2DBackward0/down, fraction": lambda: F.interpolate(_leaf(1, 2, 7, 5), scale_factor=1.7, mode="bilinear"),
    "UpsampleBilinear2DBackward0/to one": lambda: F.interpolate(_leaf(1, 2, 4, 3), size=(1, 2), mode="bilinear",
                                                                align_corners=True),
    "NativeGroupNormBackward0": lambda: F.group_norm(_leaf(2, 4, 3, 3), 2, _leaf(4), _leaf(4)),
    "NativeGroupNormBackward0/no affine": lambda: F.group_norm(_leaf(2, 6, 5), 3),
    # more shapes and indexing
    "TrilBackward0": lambda: _leaf(3, 4).tril(-1) + _leaf(2, 3, 4).tril(1),
    "TriuBackward0": lambda: _leaf(3, 4).triu(1),
    "DiagonalBackward0": lambda: _leaf(3, 4).diagonal() + _leaf(2, 4, 3).diagonal(-1, 1, 2)[0],
    "MaskedSelectBackward0": lambda: _leaf(3, 4).masked_select(torch.rand(3, 4) > 0.5),
    "MaskedSelectBackward0/broadcast mask": lambda: _leaf(3, 1).masked_select(torch.rand(3, 4) > 0.5),
    "IndexPutBackward0": lambda: _leaf(3, 4).index_put((torch.tensor([0, 2]),), _leaf(2, 4)),
    "IndexPutBackward0/accumulate, broadcast values": lambda: _leaf(3, 4).index_put(
        (torch.tensor([0, 0, 2]), torch.tensor([1, 1, 3])), _leaf(1), accumulate=True),
    "ScatterAddBackward0": lambda: _leaf(3, 4).scatter_add(1, torch.tensor([[0, 1], [2, 2], [3, 0]]), _leaf(3, 2)),
    "ScatterBackward0": lambda: _leaf(3, 4).scatter(1, torch.tensor([[0, 1], [2, 3], [3, 0]]), _leaf(3, 2)),
    "IndexAddBackward0": lambda: _leaf(3, 4).index_add(0, torch.tensor([0, 0]), _leaf(2, 4), alpha=2.0),
    "IndexAddBackward0/dim 1": lambda: _leaf(3, 4).index_add(-1, torch.tensor([3, 1]), _leaf(3, 2)),
    "ReflectionPad2DBackward0": lambda: F.pad(_leaf(1, 2, 4, 4), (1, 2, 3, 0), mode="reflect"),
    "ReflectionPad1DBackward0": lambda: F.pad(_leaf(2, 3, 5), (2, 1), mode="reflect"),
    "ReplicationPad2DBackward0": lambda: F.pad(_leaf(1, 2, 4, 3), (1, 2, 0, 3), mode="replicate"),
    "ReplicationPad1DBackward0": lambda: F.pad(_leaf(2, 3, 5), (3, 1), mode="replicate"),
    "PixelShuffleBackward0": lambda: F.pixel_shuffle(_leaf(2, 8, 2, 3), 2),
    "PixelUnshuffleBackward0": lambda: F.pixel_unshuffle(_leaf(2, 2, 4, 6), 2),
    "ChannelShuffleBackward0": lambda: F.channel_shuffle(_leaf(2, 6, 2, 2), 2),
    "Im2ColBackward0": lambda: F.unfold(_leaf(2, 2, 5, 4), (2, 3), padding=1, stride=(2, 1)),
    "Col2ImBackward0": lambda: F.fold(_leaf(2, 8, 8), (4, 5), 2, stride=(2, 1)),
    # more element-wise
    "AddBackward1": lambda: torch.ops.aten.add.Scalar(_leaf(3, 4), 2.5, 2),
    "SubBackward1": lambda: torch.ops.aten.sub.Scalar(_leaf(3, 4), 2.5, 2),
    "RsubBackward0": lambda: torch.rsub(_leaf(3, 4), _leaf(4), alpha=2),
    "MulBackward1": lambda: torch.ops.aten.mul.Scalar(_leaf(3, 4), 0.9),
    "MulBackward1/label smoothing": lambda: F.cross_entropy(_leaf(3, 4), torch.tensor([0, 1, 3]), label_smoothing=0.1),
    "DivBackward1": lambda: torch.ops.aten.div.Scalar(_leaf(3, 4), 3.0),
    "AddcmulBackward0": lambda: torch.addcmul(_leaf(3, 4), _leaf(3, 1), _leaf(4), value=0.5),
    "AddcdivBackward0": lambda: torch.addcdiv(_leaf(3, 4), _leaf(4), _leaf(3, 4, positive=True), value=2),
    "LerpBackward0": lambda: torch.lerp(_leaf(3, 4), _leaf(4), 0.3),
    "Atan2Backward0": lambda: torch.atan2(_leaf(3, 4), _leaf(4)),
    "XlogyBackward0": lambda: torch.special.xlogy(_leaf(3, 4), _leaf(3, 4, positive=True))
    + torch.special.xlogy(torch.tensor([0.0, 1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True),
                               _leaf(4, positive=True)),
    "ErfBackward0": lambda: torch.erf(_leaf(3, 4)),
    "Expm1Backward0": lambda: torch.expm1(_leaf(3, 4)),
    "SignBackward0": lambda: _leaf(3, 4).sign(),
    "FloorBackward0": lambda: _leaf(3, 4).floor(),
    "CeilBackward0": lambda: _leaf(3, 4).ceil(),
    "RoundBackward0": lambda: _leaf(3, 4).round(),
    "TruncBackward0": lambda: _leaf(3, 4).trunc(),
    "MvBackward0": lambda: torch.mv(_leaf(3, 4), _leaf(4)),
    "MvBackward0/matmul": lambda: _leaf(2, 3, 4) @ _leaf(4),
    "DotBackward0": lambda: torch.dot(_leaf(4), _leaf(4)),
    "AddmvBackward0": lambda: torch.addmv(_leaf(3), _leaf(3, 4), _leaf(4), beta=0.5, alpha=2),
    "BaddbmmBackward0": lambda: torch.baddbmm(_leaf(2, 3, 5), _leaf(2, 3, 4), _leaf(2, 4, 5), beta=0.5, alpha=2),
    "BaddbmmBackward0/broadcast": lambda: torch.baddbmm(_leaf(5), _leaf(2, 3, 4), _leaf(2, 4, 5)),
    "AddbmmBackward0": lambda: torch.addbmm(_leaf(3, 5), _leaf(2, 3, 4), _leaf(2, 4, 5), beta=0.5, alpha=2),
    # more reductions
    "SortBackward0": lambda: _leaf(3, 5).sort().values,
    "SortBackward0/dim 0, descending": lambda: _leaf(3, 5).sort(0, descending=True).values,
    "TopkBackward0": lambda: _leaf(3, 5).topk(2).values,
    "TopkBackward0/dim 0, smallest": lambda: _leaf(4, 3).topk(2, 0, largest=False).values,
    "KthvalueBackward0": lambda: _leaf(3, 5).kthvalue(2, 1).values,
    "MedianBackward1": lambda: _leaf(3, 5).median(-1, keepdim=True).values,
    "MedianBackward0": lambda: _leaf(3, 5).median() + _ints(3, 4).median(),
    "ProdBackward0": lambda: _leaf(3, 4).prod() + torch.tensor([2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True).prod(),
    "ProdBackward1": lambda: _leaf(3, 4).prod(-1, keepdim=True),
    "ProdBackward1/zeros": lambda: _leaf(3, 4).clamp_min(0).round().prod(0),
    "CumprodBackward0": lambda: _leaf(3, 4).cumprod(-1),
    "LogcumsumexpBackward0": lambda: _leaf(3, 4).logcumsumexp(0) + _leaf(3, 4).logcumsumexp(-1),
    # more activations and losses
    "LogSigmoidBackward0": lambda: F.logsigmoid(_leaf(3, 4) * 3),
    "GluBackward0": lambda: F.glu(_leaf(3, 4), -1) + F.glu(_leaf(4, 2), 0).sum(),
    "PreluKernelBackward0": lambda: F.prelu(_leaf(2, 3, 4), _leaf(3)),
    "PreluKernelBackward0/one slope": lambda: F.prelu(_leaf(2, 3), _leaf(1)),
    "ThresholdBackward0": lambda: F.threshold(_leaf(3, 4), 0.1, 2.0),
    "NllLoss2DBackward0": lambda: F.cross_entropy(_leaf(2, 3, 2, 2), torch.randint(0, 3, (2, 2, 2))),
    "NllLoss2DBackward0/per pixel, weights": lambda: F.nll_loss(F.log_softmax(_leaf(2, 3, 2, 3), 1), torch.randint(0, 3, (2, 2, 3)),
                                                                weight=torch.rand(3, dtype=torch.float64), reduction="none"),
    "BinaryCrossEntropyWithLogitsBackward0": lambda: F.binary_cross_entropy_with_logits(_leaf(3, 2), torch.rand(3, 2, dtype=torch.float64)),
    "BinaryCrossEntropyWithLogitsBackward0/weights, sum": lambda: F.binary_cross_entropy_with_logits(
        _leaf(3, 2), torch.rand(3, 2, dtype=torch.float64), weight=torch.rand(2, dtype=torch.float64),
        pos_weight=torch.rand(2, dtype=torch.float64) * 3, reduction="sum"),
    "BinaryCrossEntropyWithLogitsBackward0/a soft target needing gradient, none": lambda: F.binary_cross_entropy_with_logits(
        _leaf(3, 2), torch.sigmoid(_leaf(3, 2)), pos_weight=torch.rand(2, dtype=torch.float64) * 3, reduction="none"),
    "BinaryCrossEntropyBackward0": lambda: F.binary_cross_entropy(torch.sigmoid(_leaf(3, 2)), torch.rand(3, 2, dtype=torch.float64)),
    "BinaryCrossEntropyBackward0/weights, target gradient": lambda: F.binary_cross_entropy(
        torch.sigmoid(_leaf(3, 2)), torch.sigmoid(_leaf(3, 2)), weight=torch.rand(2, dtype=torch.float64), reduction="sum"),
    "HuberLossBackward0": lambda: F.huber_loss(_leaf(3, 4), _leaf(3, 4), delta=0.5),
    "HuberLossBackward0/none": lambda: F.huber_loss(_leaf(3, 4), torch.rand(3, 4, dtype=torch.float64), reduction="none"),
    "SmoothL1LossBackward0": lambda: F.smooth_l1_loss(_leaf(3, 4), _leaf(3, 4), beta=0.5),
    "SmoothL1LossBackward0/sum": lambda: F.smooth_l1_loss(_leaf(3, 4), torch.rand(3, 4, dtype=torch.float64), beta=2.0,
                                                           reduction="sum"),
    # more pooling and upsampling
    "AvgPool2DBackward0/ceil_mode": lambda: F.avg_pool2d(_leaf(1, 2, 5, 6), 3, stride=2, ceil_mode=True),
    "AvgPool2DBackward0/padding not counted": lambda: F.avg_pool2d(_leaf(2, 2, 5, 5), 3, stride=2, padding=1,
                                                                   count_include_pad=False, ceil_mode=True),
    "AvgPool2DBackward0/divisor_override": lambda: F.avg_pool2d(_leaf(1, 2, 6, 6), (2, 3), padding=1, divisor_override=4),
    "UpsampleNearestExact2DBackward0": lambda: F.interpolate(_leaf(1, 2, 3, 3), scale_factor=2, mode="nearest-exact"),
    "UpsampleNearestExact2DBackward0/size": lambda: F.interpolate(_leaf(2, 2, 7, 4), size=(3, 9), mode="nearest-exact"),
    # in-place views, the GRU's split, copies and overwrites
    "TransposeBackward1": lambda: (_leaf(3, 4) * 1).transpose_(0, 1),
    "TBackward1": lambda: (_leaf(3, 4) * 1).t_(),
    "SqueezeBackward4": lambda: (_leaf(3, 1, 4) * 1).squeeze_(1),
    "UnsqueezeBackward1": lambda: (_leaf(3, 4) * 1).unsqueeze_(-1),
    "UnsafeSplitBackward0": lambda: _leaf(3, 7).unsafe_split(3, -1)[2] * 2,
    "UnsafeSplitBackward0/GRU": lambda: nn.GRU(4, 3, batch_first=True).double()(_leaf(2, 3, 4))[0],
    "NarrowCopyBackward0": lambda: _leaf(3, 6).narrow_copy(-1, 1, 3),
    "UnfoldBackward0": lambda: _leaf(3, 7).unfold(1, 3, 2),
    "UnfoldBackward0/overlapping, dim 0": lambda: _leaf(6, 2).unfold(0, 3, 1),
    "TraceBackward0": lambda: _leaf(3, 4).trace(),
    "DiagEmbedBackward0": lambda: torch.diag_embed(_leaf(2, 3), offset=1) + torch.diag(_leaf(4))[:, 1:].sum(),
    "Rot90Backward0": lambda: _leaf(3, 4).rot90(1) + _leaf(3, 4).rot90(3, (1, 0)),
    "TakeBackward0": lambda: _leaf(3, 4).take(torch.tensor([0, 5, 5, 11])),
    "IndexFillBackward0": lambda: _leaf(3, 4).index_fill(1, torch.tensor([0, 2]), 0.0),
    "MaskedScatterBackward0": lambda: _leaf(3, 4).masked_scatter(torch.rand(3, 4) > 0.5, _leaf(3, 5)),
    "ZeroBackward0": lambda: (_leaf(3, 4) * 1).zero_() + _leaf(4),
    "FillBackward2": lambda: (_leaf(3, 4) * 1).fill_(2.0) + _leaf(4),
    # more element-wise
    "AsinBackward0": lambda: (_leaf(3, 4) / 3).asin(),
    "AtanBackward0": lambda: _leaf(3, 4).atan(),
    "TanBackward0": lambda: _leaf(3, 4).tan(),
    "SinhBackward0": lambda: _leaf(3, 4).sinh(),
    "CoshBackward0": lambda: _leaf(3, 4).cosh(),
    "Log2Backward0": lambda: _leaf(3, 4, positive=True).log2(),
    "Log10Backward0": lambda: _leaf(3, 4, positive=True).log10(),
    "Exp2Backward0": lambda: _leaf(3, 4).exp2(),
    "NanToNumBackward0": lambda: torch.nan_to_num(_leaf(3, 4).log()),
    "FracBackward0": lambda: _leaf(3, 4).frac(),
    "RemainderBackward0": lambda: _leaf(3, 4).remainder(0.3),
    "FmodBackward0": lambda: _leaf(3, 4).fmod(0.3),
    "SgnBackward0": lambda: _leaf(3, 4).sgn(),
    "LeakyReluBackward1": lambda: F.leaky_relu(_leaf(3, 4) * 1, 0.2, inplace=True),
    "HardshrinkBackward0": lambda: F.hardshrink(_leaf(3, 4), 0.3),
    "SoftshrinkBackward0": lambda: F.softshrink(_leaf(3, 4), 0.3),
    "RreluWithNoiseBackward0": lambda: F.rrelu(_leaf(3, 4), training=True),
    "RreluWithNoiseBackward0/eval": lambda: F.rrelu(_leaf(3, 4), 0.1, 0.3),
    "LogitBackward0": lambda: torch.logit(torch.sigmoid(_leaf(3, 4))) + torch.logit(torch.sigmoid(_leaf(3, 4) * 4), eps=0.05),
    "LogaddexpBackward0": lambda: torch.logaddexp(_leaf(3, 4), _leaf(4)),
    "HypotBackward0": lambda: torch.hypot(_leaf(3, 4), _leaf(3, 1)),
    "FmaxBackward0": lambda: torch.fmax(_ints(3, 4), _ints(4)),
    "FminBackward0": lambda: torch.fmin(_ints(3, 4), _ints(3, 4)),
    # more reductions
    "StdMeanBackward0": lambda: sum(torch.std_mean(_leaf(3, 4), 1)),
    "StdMeanBackward0/std only, keepdim": lambda: torch.std_mean(_leaf(3, 4), -1, keepdim=True, correction=0)[0],
    "StdMeanBackward0/mean only": lambda: torch.std_mean(_leaf(3, 4), (0, 1))[1],
    "VarMeanBackward0": lambda: (lambda v, m: v * 2 + m)(*torch.var_mean(_leaf(3, 4), 0)),
    "VarMeanBackward0/mean only": lambda: torch.var_mean(_leaf(3, 4), 1)[1],
    "NansumBackward0": lambda: torch.nansum(_leaf(3, 4).log()) + _leaf(3, 4).nansum(1).sum(),
    "CummaxBackward0": lambda: _ints(3, 5).cummax(1).values,
    "CumminBackward0": lambda: _leaf(3, 5).cummin(0).values,
    "NormBackward1": lambda: F.pairwise_distance(_leaf(3, 4), _leaf(3, 4)),
    "NormBackward1/p 1, 3 and inf, keepdim": lambda: F.pairwise_distance(_leaf(3, 4), _leaf(4), p=1)
    + F.pairwise_distance(_leaf(3, 4), _leaf(3, 4), p=3, keepdim=True)[:, 0]
    + F.pairwise_distance(_ints(3, 4), _data(3, 4).round(), p=float("inf"), eps=0),
    "LinalgVectorNormBackward0/orders": lambda: torch.linalg.vector_norm(_leaf(3, 4), 1, 1) + torch.linalg.vector_norm(_leaf(3, 4), 0.5, 1)
    + torch.linalg.vector_norm(_ints(3, 4), float("inf"), -1) + torch.linalg.vector_norm(_leaf(3, 4), 3, (0, 1), keepdim=True)[0],
    # more pooling and upsampling (1-d, 3-d)
    "MaxPool3DWithIndicesBackward0": lambda: F.max_pool3d(_leaf(1, 2, 4, 5, 4), 2, stride=(2, 1, 2), padding=1),
    "AdaptiveMaxPool3DBackward0": lambda: F.adaptive_max_pool3d(_leaf(1, 2, 5, 4, 3), (2, 3, 2)),
    "AvgPool3DBackward0": lambda: F.avg_pool3d(_leaf(1, 2, 4, 5, 4), 2, stride=(2, 1, 2), padding=1, ceil_mode=True),
    "AvgPool3DBackward0/LocalResponseNorm": lambda: nn.LocalResponseNorm(3)(_leaf(2, 4, 3, 3)),
    "AdaptiveAvgPool3DBackward0": lambda: F.adaptive_avg_pool3d(_leaf(1, 2, 5, 4, 3), (2, 3, 2)),
    "UpsampleNearest1DBackward0": lambda: F.interpolate(_leaf(2, 3, 4), scale_factor=2, mode="nearest")
    + F.interpolate(_leaf(2, 3, 5), size=8, mode="nearest"),
    "UpsampleNearest3DBackward0": lambda: F.interpolate(_leaf(1, 2, 2, 3, 2), size=(3, 5, 4), mode="nearest"),
    "UpsampleNearestExact1DBackward0": lambda: F.interpolate(_leaf(2, 3, 5), size=8, mode="nearest-exact"),
    "UpsampleNearestExact3DBackward0": lambda: F.interpolate(_leaf(1, 2, 2, 3, 2), size=(3, 5, 4), mode="nearest-exact"),
    "UpsampleLinear1DBackward0": lambda: F.interpolate(_leaf(2, 3, 4), scale_factor=2, mode="linear")
    + F.interpolate(_leaf(2, 3, 5), size=8, mode="linear", align_corners=True),
    "UpsampleTrilinear3DBackward0": lambda: F.interpolate(_leaf(1, 2, 2, 3, 2), size=(3, 5, 4), mode="trilinear"),
    "UpsampleTrilinear3DBackward0/align_corners": lambda: F.interpolate(_leaf(1, 2, 2, 3, 2), scale_factor=2, mode="trilinear",
                                                                       align_corners=True),
    "SafeSoftmaxBackward0": lambda: torch.ops.aten._safe_softmax(_leaf(3, 4).masked_fill(_ROW_MASKED, float("-inf")), -1),
    "SafeSoftmaxBackward0/nn.TransformerEncoderLayer": lambda: nn.TransformerEncoderLayer(
        8, 2, 16, dropout=0.1, batch_first=True).double()(_leaf(2, 5, 8)),
    "EmbeddingBagBackward0": lambda: F.embedding_bag(torch.tensor([[1, 2, 1], [6, 2, 0]]), _leaf(7, 3)),
    "EmbeddingBagBackward0/sum, weights, offsets": lambda: F.embedding_bag(
        torch.tensor([1, 2, 4, 5, 4, 3]), _leaf(7, 3), torch.tensor([0, 2, 2]), mode="sum",
        per_sample_weights=torch.rand(6, dtype=torch.float64)),
    "EmbeddingBagBackward0/mean, padding": lambda: F.embedding_bag(torch.tensor([[1, 0, 1], [0, 0, 3]]), _leaf(7, 3), padding_idx=0),
    "EmbeddingBagBackward0/max": lambda: F.embedding_bag(torch.tensor([[1, 2, 1], [6, 2, 0]]), _leaf(7, 3), mode="max"),
    "MaxUnpool2DBackward0": lambda: F.max_unpool2d(*F.max_pool2d(_leaf(2, 3, 6, 6), 2, return_indices=True), 2),
    "BlockDiagBackward0": lambda: torch.block_diag(_leaf(2, 3), _leaf(4), _leaf(1, 2)),
    "BlockDiagBackward0/last input needing no gradient": lambda: torch.block_diag(_leaf(2, 3), _data(3, 2)),
    "UpsampleBicubic2DBackward0": lambda: F.interpolate(_leaf(1, 2, 3, 4), scale_factor=2, mode="bicubic"),
    "UpsampleBicubic2DBackward0/align_corners, size": lambda: F.interpolate(_leaf(2, 2, 4, 3), size=(7, 5), mode="bicubic",
                                                                           align_corners=True),
    "UpsampleBicubic2DBackward0/down": lambda: F.interpolate(_leaf(1, 2, 7, 6), scale_factor=0.6, mode="bicubic"),
    # nn.Bilinear and a spatial transformer (affine_grid + grid_sample)
    "TrilinearBackward0": lambda: F.bilinear(_leaf(4, 3), _leaf(4, 5), _leaf(2, 3, 5), _leaf(2)),
    "TrilinearBackward0/a batch of sequences": lambda: nn.Bilinear(3, 2, 4).double()(_leaf(2, 5, 3), _leaf(2, 5, 2)),
    "AffineGridGeneratorBackward0": lambda: F.affine_grid(_leaf(2, 2, 3), (2, 3, 4, 5), align_corners=False),
    "AffineGridGeneratorBackward0/align_corners": lambda: F.affine_grid(_leaf(2, 2, 3), (2, 3, 3, 5), align_corners=True),
    "AffineGridGeneratorBackward0/one row": lambda: F.affine_grid(_leaf(2, 2, 3), (2, 3, 1, 5), align_corners=False),
    "GridSampler2DBackward0": lambda: F.grid_sample(_leaf(2, 3, 5, 6), _leaf(2, 4, 3, 2) * 0.7, align_corners=False),
    "GridSampler2DBackward0/outside, align_corners": lambda: F.grid_sample(_leaf(2, 3, 5, 6), _leaf(2, 4, 3, 2) * 1.5,
                                                                         align_corners=True),
    "GridSampler2DBackward0/border": lambda: F.grid_sample(_leaf(2, 3, 5, 6), _leaf(2, 4, 3, 2) * 1.5, padding_mode="border",
                                                                 align_corners=False),
    "GridSampler2DBackward0/nearest": lambda: F.grid_sample(_leaf(2, 3, 5, 6), _leaf(2, 4, 3, 2), mode="nearest", align_corners=False),
    "GridSampler2DBackward0/spatial transformer": lambda: F.grid_sample(
        _leaf(2, 3, 5, 6), F.affine_grid(_leaf(2, 2, 3) * 0.5, (2, 3, 4, 4), align_corners=False), align_corners=False),
    "MultiMarginLossBackward0": lambda: F.multi_margin_loss(_leaf(4, 5), torch.tensor([0, 1, 4, 4])),
    "MultiMarginLossBackward0/p 2, weights, margin, sum": lambda: F.multi_margin_loss(
        _leaf(4, 5), torch.tensor([0, 1, 4, 4]), p=2, margin=0.5, weight=torch.rand(5, dtype=torch.float64), reduction="sum"),
    "MultiMarginLossBackward0/none": lambda: F.multi_margin_loss(_leaf(4, 5), torch.tensor([2, 1, 0, 3]), reduction="none"),
    # writes into tensors (graph networks' scatter_reduce, weight_norm, *_scatter)
    "IndexCopyBackward0": lambda: _leaf(3, 4).index_copy(0, torch.tensor([2, 0]), _leaf(2, 4)),
    "ScatterBackward1": lambda: _leaf(3, 4).scatter(1, torch.tensor([[0, 1], [2, 2], [3, 0]]), 0.5),
    "ScatterReduceBackward0": lambda: _leaf(3, 4).scatter_reduce(1, torch.tensor([[0, 1, 1], [2, 2, 2], [3, 0, 3]]), _leaf(3, 3), "sum"),
    "ScatterReduceBackward0/sum without self": lambda: _leaf(3, 4).scatter_reduce(
        1, torch.tensor([[0, 1, 1], [2, 2, 2], [3, 0, 3]]), _leaf(3, 3), "sum", include_self=False),
    "ScatterReduceBackward0/mean": lambda: _leaf(3, 4).scatter_reduce(0, torch.tensor([[0, 1, 1, 2], [2, 1, 1, 2]]), _leaf(2, 4), "mean"),
    "ScatterReduceBackward0/mean without self": lambda: _leaf(3, 4).scatter_reduce(
        1, torch.tensor([[0, 1, 1], [2, 2, 2], [3, 0, 3]]), _leaf(3, 3), "mean", include_self=False),
    "ScatterReduceBackward0/amax, ties": lambda: _ints(3, 4).scatter_reduce(1, torch.tensor([[0, 1, 1], [2, 2, 2], [3, 0, 3]]),
                                                                           _ints(3, 3), "amax"),
    "ScatterReduceBackward0/amin without self": lambda: _ints(3, 4).scatter_reduce(
        1, torch.tensor([[0, 1, 1], [2, 2, 2], [3, 0, 3]]), _ints(3, 3), "amin", include_self=False),
    "PutBackward0": lambda: _leaf(3, 4).put(torch.tensor([1, 5]), _leaf(2)),
    "PutBackward0/accumulate": lambda: _leaf(3, 4).put(torch.tensor([1, 5, 1]), _leaf(3), accumulate=True),
    "SelectScatterBackward0": lambda: torch.select_scatter(_leaf(3, 4), _leaf(3), 1, -1),
    "SliceScatterBackward0": lambda: torch.slice_scatter(_leaf(3, 4), _leaf(3, 2), 1, 0, 4, 2),
    "DiagonalScatterBackward0": lambda: torch.diagonal_scatter(_leaf(3, 4), _leaf(3), 1),
    "LerpBackward1": lambda: torch.lerp(_leaf(3, 4), _leaf(4), _leaf(3, 1)),
    "VdotBackward0": lambda: torch.vdot(_leaf(4), _leaf(4)),
    "WeightNormInterfaceBackward0": lambda: torch._weight_norm(_leaf(3, 4), _leaf(3, 1), 0),
    "WeightNormInterfaceBackward0/last dim, Conv1d": lambda: torch._weight_norm(_leaf(3, 2, 4), _leaf(1, 1, 4), 2)
    + nn.utils.parametrizations.weight_norm(nn.Conv1d(2, 3, 3).double())(_leaf(2, 2, 5)).sum(),
    "CtcLossBackward0": lambda: F.ctc_loss(F.log_softmax(_leaf(6, 2, 4), 2), torch.tensor([[1, 2], [3, 3]]), (6, 6), (2, 2)),
    "CtcLossBackward0/concatenated targets, shorter inputs, sum": lambda: F.ctc_loss(
        F.log_softmax(_leaf(7, 3, 5), 2), torch.tensor([1, 2, 2, 4, 1, 3]), torch.tensor([7, 5, 6]), torch.tensor([3, 1, 2]),
        blank=0, reduction="sum"),
    "CtcLossBackward0/impossible, zero_infinity, blank last": lambda: F.ctc_loss(
        F.log_softmax(_leaf(3, 2, 4), 2), torch.tensor([[0, 0, 1], [1, 2, 0]]), (3, 3), (3, 2), blank=3, zero_infinity=True),
    # linear algebra
    "LinalgDetBackward0": lambda: torch.linalg.det(_leaf(3, 3)) + torch.linalg.det(_leaf(2, 3, 3)).sum(),
    "LinalgSlogdetBackward0": lambda: torch.linalg.slogdet(_leaf(2, 3, 3))[1],
    "LinalgInvExBackward0": lambda: torch.linalg.inv(_leaf(2, 3, 3)),
    "LinalgSolveExBackward0": lambda: torch.linalg.solve(_leaf(3, 3), _leaf(3, 2)),
    "LinalgSolveExBackward0/a vector, batched": lambda: torch.linalg.solve(_leaf(2, 3, 3), _leaf(2, 3)),
    "LinalgSolveExBackward0/right": lambda: torch.linalg.solve(_leaf(3, 3), _leaf(2, 3), left=False),
    "LinalgSolveTriangularBackward0": lambda: torch.linalg.solve_triangular(_leaf(3, 3).triu() + 3 * torch.eye(3), _leaf(3, 2),
                                                                            upper=True),
    "LinalgSolveTriangularBackward0/lower, right, unit": lambda: torch.linalg.solve_triangular(
        _leaf(3, 3), _leaf(2, 3), upper=False, left=False, unitriangular=True),
    "LinalgCrossBackward0": lambda: torch.linalg.cross(_leaf(4, 3), _leaf(1, 3)),
    "LinalgCrossBackward0/dim 0": lambda: torch.linalg.cross(_leaf(3, 4), _leaf(3, 4), dim=0),
    "CdistBackward0": lambda: torch.cdist(_leaf(3, 4), _leaf(2, 4)),
    "CdistBackward0/p 1, 3, inf, batched": lambda: torch.cdist(_leaf(2, 3, 4), _leaf(2, 5, 4), p=1)
    + torch.cdist(_leaf(2, 3, 4), _leaf(2, 5, 4), p=3) + torch.cdist(_ints(2, 3, 4), _ints(2, 5, 4), p=float("inf")),
    "RenormBackward0": lambda: _leaf(4, 6).renorm(2, 0, 2.0),
    "RenormBackward0/p 1, dim 1": lambda: _leaf(4, 3, 2).renorm(1, 1, 2.5),
    "IndexReduceBackward0": lambda: _leaf(3, 4).index_reduce(0, torch.tensor([0, 0, 2]), _leaf(3, 4), "mean"),
    "IndexReduceBackward0/mean without self": lambda: _leaf(3, 4).index_reduce(1, torch.tensor([0, 3, 3]), _leaf(3, 3), "mean",
                                                                               include_self=False),
    "IndexReduceBackward0/amax, ties": lambda: _ints(3, 4).index_reduce(0, torch.tensor([0, 0, 2]), _ints(3, 4), "amax"),
    "IndexReduceBackward0/amin without self": lambda: _ints(3, 4).index_reduce(0, torch.tensor([1, 1]), _ints(2, 4), "amin",
                                                                               include_self=False),
    "AccumulateGrad": lambda: _leaf(3) * 2,
    "MkldnnRnnLayerBackward0": _lstm,
    "MkldnnRnnLayerBackward0/bidirectional, two layers": lambda: _lstm(bidirectional=True, num_layers=2),
}


def test_every_rule_has_a_case():
    # these cannot be recomputed: see test_copies_are_explained_but_not_recomputed
    assert set(RULES) - {"ReshapeAliasBackward0", "NativeDropoutBackward0", *NOT_RECOMPUTABLE} <= {
        case.split("/")[0] for case in CASES}


@pytest.mark.parametrize("case", sorted(CASES))
def test_recomputation_matches_autograd(case):
    torch.manual_seed(sorted(CASES).index(case))
    recorder = _record(CASES[case])
    label = case.split("/")[0]
    nodes = [n for n in recorder.nodes.values() if n.label == label]
    assert nodes, f"the case made no {label}"
    for node in nodes:
        if node.is_accumulate:
            # .grad after = .grad before (None: zero) + the gradient received
            before = 0 if node.grad_before is None else node.grad_before
            torch.testing.assert_close(node.grad_after, before + node.received[0])
            continue
        # a rule's inputs name saved tensors that are its forward inputs (explain shows them as values)
        assert set((rule_for(label).inputs or {}).values()) <= set(node.saved), label
        expected = node.produced
        got = recompute(node)
        assert len(got) >= len(expected)
        checked = 0
        for slot, autograd_grad in enumerate(expected):
            if autograd_grad is None:
                continue
            torch.testing.assert_close(got[slot], autograd_grad, msg=lambda m: f"{label} slot {slot}: {m}")
            checked += 1
        assert checked



# Rules that pass the gradient through a mask (0 elsewhere). Autograd's kernels select:
# an infinite gradient arriving (a ReLU behind sqrt(0)) leaves 0 where the mask is off,
# where a multiplication by the mask gave 0 · ∞ = NaN.
MASKING = ["ReluBackward0", "HardtanhBackward0", "HardswishBackward0", "HardsigmoidBackward0", "ThresholdBackward0",
           "ClampBackward1", "ClampMinBackward0", "ClampMaxBackward0", "HardshrinkBackward0", "SoftshrinkBackward0",
           "MaskedFillBackward0"]


@pytest.mark.parametrize("label", MASKING)
def test_an_infinite_gradient_is_masked_to_zero_as_autograd_does(label):
    torch.manual_seed(MASKING.index(label))
    recorder = NodeRecorder(10_000)
    with recorder.forward():
        out = CASES[label]()
    graph = gradviz.autograd_graph(out)
    seed = torch.randn_like(out)
    seed.view(-1)[::2] = torch.inf  # every other position: some where the mask is off
    with recorder.backward(graph, [out], [seed]):
        gradviz.trace_backward(out, graph, seed)
    nodes = [n for n in recorder.nodes.values() if n.label == label]
    assert nodes
    for node in nodes:
        produced = node.produced[0]
        assert produced.isinf().any() and (produced == 0).any(), (label, produced)  # the case tests both
        torch.testing.assert_close(recompute(node)[0], produced, equal_nan=True, msg=lambda m: f"{label}: {m}")

def test_recomputation_can_fail():
    """The comparison catches a wrong rule: a sigmoid's gradient is not tanh's."""
    recorder = _record(CASES["SigmoidBackward0"])
    node = next(n for n in recorder.nodes.values() if n.label == "SigmoidBackward0")
    node.label = "TanhBackward0"
    with pytest.raises(AssertionError):
        torch.testing.assert_close(recompute(node)[0], node.produced[0])


def test_dropout_is_a_mul_by_the_scaled_mask():
    torch.manual_seed(0)
    recorder = _record(lambda: F.dropout(_leaf(4, 5), 0.5, training=True))
    (node,) = [n for n in recorder.nodes.values() if n.label in ("MulBackward0", "NativeDropoutBackward0")]
    torch.testing.assert_close(recompute(node)[0], node.produced[0])


def test_cross_entropy_is_log_softmax_then_nll():
    torch.manual_seed(1)
    recorder = _record(lambda: F.cross_entropy(_leaf(4, 5), torch.tensor([1, 0, 4, 4])))
    labels = [n.label for n in recorder.nodes.values()]
    assert "LogSoftmaxBackward0" in labels and "NllLossBackward0" in labels
    for node in recorder.nodes.values():
        if node.label.endswith("Backward0"):
            for got, want in zip(recompute(node), node.produced):
                if want is not None:
                    torch.testing.assert_close(got, want)


def test_summarised_tensors_are_not_recomputed_but_say_why():
    recorder = _record(lambda: torch.tanh(_leaf(50, 50)), limit=100)
    node = next(n for n in recorder.nodes.values() if n.label == "TanhBackward0")
    assert isinstance(node.received[0], TensorSummary) and node.received[0].shape == (50, 50)
    with pytest.raises(NotRecomputable, match="summary"):
        recompute(node)


def _only_node(recorder, label):
    (node,) = [n for n in recorder.nodes.values() if n.label == label]
    return node


def test_cat_after_two_inputs_needing_no_gradient_is_not_recomputed_but_says_why():
    # autograd saves only cat's dim: two inputs without a gradient leave their sizes out of the record
    recorder = _record(lambda: torch.cat([_data(2, 2), _data(2, 1), _leaf(2, 3)], 1))
    with pytest.raises(NotRecomputable, match="sizes were not saved"):
        recompute(_only_node(recorder, "CatBackward0"))


def test_cat_with_trailing_inputs_needing_no_gradient_still_recomputes_the_others():
    recorder = _record(lambda: torch.cat([_leaf(2, 3), _data(2, 2), _data(2, 1)], 1))
    node = _only_node(recorder, "CatBackward0")
    got = recompute(node)
    torch.testing.assert_close(got[0], node.produced[0])
    assert got[1] is None and got[2] is None and node.input_shapes[1:] == [None, None]


def test_a_cumulative_product_with_a_zero_is_not_recomputed_but_says_why():
    recorder = _record(lambda: _leaf(3, 4).clamp_min(0).cumprod(1))
    with pytest.raises(NotRecomputable, match="zero factor"):
        recompute(_only_node(recorder, "CumprodBackward0"))


# autograd records too little for these: an in-place write's slice
NOT_RECOMPUTABLE = {
    "CopySlices": (lambda: (lambda y: (y.__setitem__(0, _leaf(4)), y * 2)[1])(_leaf(3, 4) * 1), "slice"),
}


@pytest.mark.parametrize("label", sorted(NOT_RECOMPUTABLE))
def test_copies_are_explained_but_not_recomputed(label):
    build, reason = NOT_RECOMPUTABLE[label]
    node = _only_node(_record(build), label)
    assert rule_for(label).words and any(p is not None for p in node.produced)
    with pytest.raises(NotRecomputable, match=reason):
        recompute(node)


def test_unknown_node_classes_have_no_rule():
    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g

    recorder = _record(lambda: Square.apply(_leaf(3)))
    node = next(n for n in recorder.nodes.values() if n.label == "SquareBackward")
    assert rule_for(node.label) is None and node.received and node.produced[0] is not None
    with pytest.raises(NotRecomputable, match=NO_EXPLANATION):
        recompute(node)


def _labels_of(graph):
    return {a["label"] for _, a in graph.nodes(data=True) if a["kind"] in ("op", "param", "leaf")}


def test_every_node_class_of_every_preset_and_example_has_a_rule():
    from gradviz.core.session import LOSSES, TrainingSession
    from gradviz.core.user_model import UserModelRequest, open_user_model

    labels = Counter()
    for name in presets.names():
        for loss in LOSSES:
            labels.update(_labels_of(TrainingSession(presets.load(name), loss=loss).preview_graph()))
    # the model files (the *_watch.py examples are training scripts for gradviz.watch, not models)
    examples = sorted(p for p in EXAMPLES.glob("*.py") if not p.stem.endswith("_watch"))
    assert len(examples) >= 3
    for path in examples:
        for loss in ("mse", "l1", "cross_entropy"):
            labels.update(_labels_of(open_user_model(UserModelRequest(path, loss=loss)).graph))
    assert {"AddmmBackward0", "ConvolutionBackward0", "AccumulateGrad"} <= set(labels)
    assert sorted(label for label in labels if rule_for(label) is None) == []


def _assert_every_node_recomputes(record):
    checked = Counter()
    for key, node in record.node_gradients.items():
        if node.is_accumulate or record.graph.nodes[key]["kind"] == "output":
            continue
        for slot, (got, want) in enumerate(zip(recompute(node), node.produced)):
            if want is not None:
                torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5,
                                           msg=lambda m: f"{key} {node.label} slot {slot}: {m}")
                checked[node.label] += 1
    return checked


@pytest.mark.parametrize("file, loss", [
    ("transformer_block.py", "cross_entropy"),  # tied embedding/head, hand-written attention
    ("lstm_tagger.py", "mse"),  # two outputs, a fused LSTM
    ("small_resnet.py", "cross_entropy"),  # skips, in-place ReLU, BatchNorm
])
def test_every_node_of_the_examples_recomputes(file, loss):
    from gradviz.core.user_model import UserModelRequest, open_user_model

    session = open_user_model(UserModelRequest(EXAMPLES / file, loss=loss)).session
    session.set_node_gradients(True, 1_000_000)
    record = session.run_iteration()
    assert set(record.node_gradients) == set(record.backward_order)
    checked = _assert_every_node_recomputes(record)
    assert sum(checked.values()) >= 10


@pytest.mark.parametrize("name", ["lenet", "resnet_tiny", "tiny_mlp"])
def test_every_node_of_the_presets_recomputes(name):
    from gradviz.core.session import TrainingSession

    record = TrainingSession(presets.load(name), node_gradients=True, whole_tensor_limit=1_000_000).run_iteration()
    assert _assert_every_node_recomputes(record)


class _HuggingFaceStyle(nn.Module):
    """What a Hugging Face decoder does that the examples do not: the fused
    scaled_dot_product_attention with grouped-query heads, SiLU gating (LLaMA's
    MLP), tanh-approximated GELU, a tied head and a dict output."""

    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(30, 16)
        self.q, self.kv = nn.Linear(16, 16), nn.Linear(16, 8)
        self.o = nn.Linear(16, 16)
        self.norm = nn.LayerNorm(16)
        self.gate, self.up, self.down = nn.Linear(16, 32), nn.Linear(16, 32), nn.Linear(32, 16)
        self.fc = nn.Linear(16, 16)

    def forward(self, ids):
        x = self.wte(ids)
        batch, length, width = x.shape
        h = self.norm(x)  # called twice: two calls of one module
        q = self.q(h).view(batch, length, 4, 4).transpose(1, 2)
        k, v = (t.view(batch, length, 2, 2).transpose(1, 2).repeat(1, 1, 1, 2) for t in self.kv(h).split(4, -1))
        attention = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(attention.transpose(1, 2).reshape(batch, length, width))
        h = self.norm(x)
        x = x + self.down(F.silu(self.gate(h)) * self.up(h)) + F.gelu(self.fc(h), approximate="tanh")
        return {"logits": x @ self.wte.weight.t(), "hidden": x}


def test_every_node_of_a_hugging_face_style_decoder_has_a_rule_that_recomputes():
    from gradviz.core.session import TrainingSession

    torch.manual_seed(0)
    session = TrainingSession(_HuggingFaceStyle(), inputs=torch.randint(0, 30, (2, 6)),
                              node_gradients=True, whole_tensor_limit=1_000_000)
    record = session.run_iteration()
    labels = {node.label for node in record.node_gradients.values()}
    assert {"ScaledDotProductFlashAttentionForCpuBackward0", "SiluBackward0", "GeluBackward0"} <= labels
    assert sorted(label for label in labels if rule_for(label) is None) == ["loss"]
    checked = _assert_every_node_recomputes(record)
    assert checked["ScaledDotProductFlashAttentionForCpuBackward0"] == 3 and checked["SiluBackward0"] == 1


# -- models written the way torchvision and Hugging Face write them -------------------------------


class _UNetStyle(nn.Module):
    """A diffusion/segmentation UNet: GroupNorm + SiLU blocks, a transposed-conv and an upsampled decoder
    path, padding to match the skip's size, skips joined by cat."""

    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.SiLU())
        self.mid = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.GroupNorm(4, 8, affine=False), nn.SiLU())
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.head = nn.Conv2d(4 + 8 + 8, 2, 1)

    def forward(self, x):
        skip = self.down(x)
        h = self.mid(F.max_pool2d(skip, 2))
        smooth = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        blocky = F.pad(F.interpolate(h[..., :-1, :-1], scale_factor=2, mode="nearest"), (0, 2, 0, 2))
        return self.head(torch.cat([self.up(h), smooth + blocky, skip], 1))


class _MobileNetV3Style(nn.Module):
    """Hardswish, ReLU6, a hard-sigmoid squeeze-excite gate, adaptive pooling and a dropout head."""

    def __init__(self):
        super().__init__()
        self.stem, self.bn = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.se1, self.se2 = nn.Conv2d(8, 2, 1), nn.Conv2d(2, 8, 1)
        self.fc = nn.Linear(8 * 2, 4)

    def forward(self, x):
        x = F.hardswish(self.bn(self.stem(x)))
        x = F.relu6(self.dw(x))
        x = x * F.hardsigmoid(self.se2(F.relu(self.se1(F.adaptive_avg_pool2d(x, 1)))))
        pooled = torch.cat([F.adaptive_avg_pool2d(x, 1), F.adaptive_max_pool2d(x, 1)], 1).flatten(1)
        return self.fc(F.dropout(pooled, 0.2, training=True))


class _ViTStyle(nn.Module):
    """torchvision's ViT: patches by a strided conv, a class token cat in front, position embeddings,
    nn.MultiheadAttention, and the head reading x[:, 0]."""

    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.cls = nn.Parameter(torch.randn(1, 1, 16))
        self.pos = nn.Parameter(torch.randn(1, 5, 16))
        self.ln = nn.LayerNorm(16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        h = self.ln(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return self.head(x[:, 0])


class _LlamaStyle(nn.Module):
    """A LLaMA/T5 block written as Hugging Face does: RMSNorm by hand (pow, mean, rsqrt), rotary position
    embeddings (rotate_half: slices, neg, cat; learnable frequencies: sin, cos), fused attention, SiLU
    gating; a pooled head with max, std, clamp, exp/log1p."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.norm_weight = nn.Parameter(torch.ones(8))
        self.qkv = nn.Linear(8, 24, bias=False)
        self.freqs = nn.Parameter(torch.rand(2))
        self.gate, self.up, self.down = nn.Linear(8, 16, bias=False), nn.Linear(8, 16, bias=False), nn.Linear(16, 8)

    def rms_norm(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.norm_weight

    def forward(self, ids):
        x = self.emb(ids)
        batch, length, _ = x.shape
        q, k, v = self.qkv(self.rms_norm(x)).view(batch, length, 2, 12).transpose(1, 2).split(4, -1)
        angles = torch.arange(length, dtype=x.dtype)[:, None] * self.freqs
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)

        def rotate_half(t):
            return torch.cat([-t[..., 2:], t[..., :2]], -1)

        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        x = x + F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(batch, length, 8)
        h = self.rms_norm(x)
        x = x + self.down(F.silu(self.gate(h)) * self.up(h))
        return x.mean(1) - x.max(1).values + x.std(1).clamp(min=0.1) + x[:, 0].exp().log1p()


class _DenseInceptionStyle(nn.Module):
    """DenseNet/Inception: branches joined by cat, ELU, average and max pooling, a stacked pair of heads."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 3, padding=1)
        self.c = nn.Conv2d(8, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 5)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x)], 1)
        y = F.max_pool2d(F.avg_pool2d(F.elu(self.c(y)), 2), 2).flatten(1)
        return torch.stack([self.fc(y), self.fc(y.flip(0))], 1).amax(1)


class _TorchNNStyle(nn.Module):
    """torch.nn's own building blocks: a bag-of-words EmbeddingBag, a GRU, nn.TransformerEncoderLayer (its
    MultiheadAttention's safe softmax, dropout), PReLU and a GLU head."""

    def __init__(self):
        super().__init__()
        self.bag = nn.EmbeddingBag(20, 8, mode="mean")
        self.emb = nn.Embedding(20, 8)
        self.gru = nn.GRU(8, 8, batch_first=True)
        self.encoder = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, batch_first=True)
        self.prelu = nn.PReLU(8)
        self.head = nn.Linear(8, 6)

    def forward(self, ids):
        x, _ = self.gru(self.emb(ids))
        x = self.encoder(x).mean(1) + self.bag(ids)
        return F.glu(self.head(self.prelu(x)), -1)


class _SegNetStyle(nn.Module):
    """SegNet/super-resolution decoders: max_unpool2d with the encoder's indices, reflection padding,
    pixel shuffle and a bicubic skip."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv2d(3, 4, 3, padding=1)
        self.dec = nn.Conv2d(4, 12, 3)
        self.out = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        h, where = F.max_pool2d(F.relu(self.enc(x)), 2, return_indices=True)
        h = F.max_unpool2d(h, where, 2)
        h = F.pixel_shuffle(self.dec(F.pad(h, (1, 1, 1, 1), mode="reflect")), 2)
        return self.out(F.interpolate(F.avg_pool2d(h, 2), scale_factor=2, mode="bicubic"))


class _AudioStyle(nn.Module):
    """1-d signals: a strided Conv1d, linear upsampling back, a transposed Conv1d, GroupNorm and a log-mel-ish head."""

    def __init__(self):
        super().__init__()
        self.down = nn.Conv1d(2, 4, 4, stride=2, padding=1)
        self.norm = nn.GroupNorm(2, 4)
        self.up = nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1)

    def forward(self, x):
        h = F.gelu(self.norm(self.down(x)))
        smooth = F.interpolate(h, scale_factor=2, mode="linear")
        y = self.up(h) + smooth[:, :2] + F.interpolate(h, size=x.shape[-1], mode="nearest")[:, 2:]
        return torch.log1p(y.pow(2)).amax(-1)


class _ConvNeXtSwinStyle(nn.Module):
    """torchvision's ConvNeXt block (depthwise 7×7, channels-last LayerNorm, layer scale, stochastic depth) and a
    Swin window attention (shifted windows by roll, relative position bias by index, a mask, softmax)."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm = nn.LayerNorm(8)
        self.mlp = nn.Sequential(nn.Linear(8, 32), nn.GELU(), nn.Linear(32, 8))
        self.scale = nn.Parameter(torch.full((8,), 0.1))
        self.qkv = nn.Linear(8, 24)
        self.bias_table = nn.Parameter(torch.randn(9, 2))
        self.register_buffer("bias_index", torch.randint(0, 9, (4, 4)))

    def forward(self, x):
        h = self.dw(x).permute(0, 2, 3, 1)
        h = self.mlp(self.norm(h)) * self.scale
        keep = (torch.rand(x.shape[0], 1, 1, 1) > 0.2).to(x.dtype)  # stochastic depth
        x = x + (h / 0.8 * keep).permute(0, 3, 1, 2)
        # Swin: shift, split into 2×2 windows, attention with a relative position bias per head
        t = torch.roll(x.permute(0, 2, 3, 1), (-1, -1), (1, 2))
        batch, height, width, channels = t.shape
        windows = t.view(batch, height // 2, 2, width // 2, 2, channels).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4, channels)
        q, k, v = self.qkv(windows).reshape(-1, 4, 3, 2, 4).permute(2, 0, 3, 1, 4)
        bias = self.bias_table[self.bias_index.view(-1)].view(4, 4, 2).permute(2, 0, 1)
        scores = (q * 0.5) @ k.transpose(-2, -1) + bias
        scores = scores.masked_fill(torch.eye(4, dtype=torch.bool)[None, None].flip(-1), -100.0)
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(-1, 4, channels)
        return out.mean((0, 1)) + x.mean((0, 2, 3))


@pytest.mark.parametrize("model, inputs, expected", [
    (_UNetStyle, lambda: torch.randn(2, 3, 8, 8),
     {"NativeGroupNormBackward0", "UpsampleBilinear2DBackward0", "UpsampleNearest2DBackward0", "ConstantPadNdBackward0",
      "CatBackward0", "ConvolutionBackward0"}),
    (_MobileNetV3Style, lambda: torch.randn(2, 3, 8, 8),
     {"HardswishBackward0", "HardtanhBackward0", "HardsigmoidBackward0", "AdaptiveMaxPool2DBackward0"}),
    (_ViTStyle, lambda: torch.randn(2, 3, 8, 8), {"CatBackward0", "SelectBackward0"}),
    (_LlamaStyle, lambda: torch.randint(0, 20, (2, 5)),
     {"RsqrtBackward0", "PowBackward0", "SinBackward0", "CosBackward0", "MaxBackward0", "StdBackward0", "ClampBackward1",
      "ExpBackward0", "Log1PBackward0", "SelectBackward0"}),
    (_DenseInceptionStyle, lambda: torch.randn(2, 3, 16, 16), {"CatBackward0", "EluBackward0", "StackBackward0", "AmaxBackward0"}),
    (_ConvNeXtSwinStyle, lambda: torch.randn(2, 8, 4, 4),
     {"RollBackward0", "IndexBackward0", "MaskedFillBackward0", "SoftmaxBackward0", "NativeLayerNormBackward0",
      "ConvolutionBackward0", "GeluBackward0"}),
    (_TorchNNStyle, lambda: torch.randint(0, 20, (2, 5)),
     {"EmbeddingBagBackward0", "SafeSoftmaxBackward0", "UnsafeSplitBackward0", "TransposeBackward1", "PreluKernelBackward0",
      "GluBackward0"}),
    (_SegNetStyle, lambda: torch.randn(2, 3, 8, 8),
     {"MaxUnpool2DBackward0", "ReflectionPad2DBackward0", "PixelShuffleBackward0", "UpsampleBicubic2DBackward0"}),
    (_AudioStyle, lambda: torch.randn(2, 2, 16),
     {"UpsampleLinear1DBackward0", "UpsampleNearest1DBackward0", "NativeGroupNormBackward0", "ConvolutionBackward0",
      "AmaxBackward0", "Log1PBackward0", "PowBackward0"}),
], ids=lambda v: v.__name__.strip("_") if isinstance(v, type) else "")
def test_every_node_of_third_party_style_models_has_a_rule_that_recomputes(model, inputs, expected):
    from gradviz.core.session import TrainingSession

    torch.manual_seed(0)
    session = TrainingSession(model(), inputs=(inputs(),), node_gradients=True, whole_tensor_limit=1_000_000, seed=0)
    record = session.run_iteration()
    labels = {node.label for node in record.node_gradients.values()}
    assert expected <= labels
    assert sorted(label for label in labels if rule_for(label) is None) == ["loss"]
    checked = _assert_every_node_recomputes(record)
    assert all(checked[label] for label in expected)
    # and the node inspector explains each: a rule, its numbers, no "cannot recompute" note
    from gradviz.core.explain import explain_node

    for key in record.node_gradients:
        explanation = explain_node(record, key)
        assert explanation.with_values and not explanation.recompute_note, (explanation.label, explanation.recompute_note)


def test_cat_and_stack_explain_each_input_by_its_slice():
    from gradviz.core.explain import Recording, explain_node

    torch.manual_seed(0)
    recorder, graph = _record_with_graph(
        lambda: torch.cat([_leaf(2, 1), _leaf(2, 3)], -1) + torch.stack([_leaf(2), _leaf(2)], 1)[:, :1])
    record = Recording(graph, recorder.nodes)
    cat, stack = (next(k for k, n in recorder.nodes.items() if n.label == label) for label in ("CatBackward0", "StackBackward0"))
    cat_lines = [line for line in explain_node(record, cat).with_values if line.startswith("∂L/∂x")]
    assert [line.split(" = ")[:2] for line in cat_lines] == [["∂L/∂x₀", "∂L/∂y[:, 0:1]"], ["∂L/∂x₁", "∂L/∂y[:, 1:4]"]]
    stack_lines = [line for line in explain_node(record, stack).with_values if line.startswith("∂L/∂x")]
    assert [line.split(" = ")[:2] for line in stack_lines] == [["∂L/∂x₀", "∂L/∂y[:, 0]"], ["∂L/∂x₁", "∂L/∂y[:, 1]"]]


def test_a_mixed_precision_forward_recomputes_node_by_node():
    """Under autocast (CPU, bfloat16) every Linear casts its input and weights: each
    ToCopyBackward0 hands its gradient back in the input's float32, exactly, and the
    bfloat16 ops recompute within bfloat16's precision."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def build():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(torch.randn(3, 4))
        return out.float().pow(2).mean()

    recorder = _record(build)
    copies = [n for n in recorder.nodes.values() if n.label == "ToCopyBackward0"]
    # both layers' weights and biases go back to float32; the output's .float() back to bfloat16
    assert sorted(str(n.produced[0].dtype) for n in copies) == ["torch.bfloat16"] + ["torch.float32"] * 4
    for node in recorder.nodes.values():
        if node.is_accumulate or node.label == "loss":
            continue
        for slot, (got, want) in enumerate(zip(recompute(node), node.produced)):
            if want is None:
                continue
            assert got.dtype == want.dtype, (node.label, slot)
            exact = node.label == "ToCopyBackward0"
            torch.testing.assert_close(got, want, rtol=0 if exact else 1e-2, atol=0 if exact else 1e-3,
                                       msg=lambda m: f"{node.label} slot {slot}: {m}")
