"""The chain rule at each autograd Node: what it computes, in words, as a formula, and in code.

Every backward Node does the same thing: it takes the gradient arriving from
above, ∂L/∂y (what it *received*), multiplies it by the local derivative of
its forward op, and passes ∂L/∂x down to each input (what it *produced*).
Each :class:`Rule` states that for one Node class, and its
``recompute`` function does it again by hand, from nothing but the recorded
received gradient(s) and the tensors the op saved for backward
(:class:`gradviz.core.node_grads.NodeGradients`). The tests run every rule
against what autograd really produced, which keeps these explanations honest.

Reading guide: ``g`` is the received gradient ∂L/∂y, ``n.saved[...]`` what
the forward op saved, and the returned list holds ∂L/∂(input) per input slot,
in the order of the Node's ``next_functions``. When a forward input was
broadcast, autograd sums its gradient back to the input's shape
(:func:`sum_to`). A Node with several outputs (split, unbind, max with its
indices) receives one gradient per output, None where no gradient reached
that output. Saved dims and indices come back unsigned (:func:`signed`).

The rules cover what the app's presets and examples produce and what
torchvision, Hugging Face and torch.nn models do (cat, indexing, padding,
upsampling, group norm, RMSNorm by hand, rotary embeddings, the common
activations and losses, pooling and convolutions in 1 to 3 dims, LSTM/GRU
layers, nn.TransformerEncoderLayer, mixed precision's dtype conversions: the
recorder notes each input's dtype). Where autograd does not record enough to
redo a Node by hand (the slice an in-place write changed, the sizes of cat's
inputs that need no gradient), the rule
still explains the op and its recompute raises :class:`NotRecomputable` with
the reason instead of guessing.

Layout: :mod:`~gradviz.core.backward_rules.registry` holds :class:`Rule`, the
registry and the helpers that read a record; each other module one family of
ops (linear algebra, shapes, element-wise arithmetic, reductions, activations,
attention, losses, convolution and pooling, normalisation, recurrent layers),
registering its rules when imported.

No Qt here.
"""
from __future__ import annotations

# Each family registers its rules when imported.
from gradviz.core.backward_rules import (  # noqa: E402,F401 - imported for their rules
    activations,
    attention,
    convolution,
    elementwise,
    linear_algebra,
    losses,
    normalisation,
    recurrent,
    reductions,
    shapes,
)
from gradviz.core.backward_rules.registry import (  # noqa: F401 - the package's API
    NO_EXPLANATION,
    RULES,
    NotRecomputable,
    Rule,
    alias,
    grad,
    recompute,
    rule,
    rule_for,
    saved,
    saved_symbols,
    signed,
    slot_names,
    sum_to,
)

__all__ = ["NO_EXPLANATION", "NotRecomputable", "RULES", "Rule", "recompute", "rule_for", "saved_symbols", "signed", "slot_names",
           "sum_to"]
