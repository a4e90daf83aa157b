"""Models made to fail in the ways NaN/Inf starts (0/0, exp overflow, a custom backward
returning NaN), shared by the tests of ``find_first_nonfinite`` and of ``gradviz.watch``'s search.
Each failing line carries an at-sign marker comment that :func:`line_of` finds."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve()


def line_of(marker: str, *others: Path) -> int:
    """The line holding ``marker`` in this file or one of ``others`` (the first found)."""
    for path in (HERE, *others):
        for number, text in enumerate(path.read_text().splitlines(), 1):
            if marker in text and "line_of(" not in text:
                return number
    raise AssertionError(marker)


class ZeroOverZero(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = self.fc(x) * 0.0
        return h / h.sum(dim=1, keepdim=True)  # @div


class ExpOverflow(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        with torch.no_grad():
            self.fc.bias.fill_(90.0)  # e^90 fits float32, e^93 does not

    def forward(self, x):
        return torch.exp(self.fc(x) + 3.1)  # @exp


class NanInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad * float("nan")


class BadBackward(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x):
        h = NanInBackward.apply(self.fc1(x))  # @custom
        return self.fc2(torch.tanh(h))


# A model file whose forward takes log(0): every output of fc is relu(−50 + …) = 0.
# For the tests that open it as the user's own code (CLI, app); the log is on LOGNET_LOG_LINE.
LOGNET_SOURCE = (
    "import torch, torch.nn as nn\n"
    "class LogNet(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.fc = nn.Linear(4, 3)\n"
    "        with torch.no_grad():\n"
    "            self.fc.bias.fill_(-50.0)\n"
    "    def forward(self, x):\n"
    "        h = torch.relu(self.fc(x))\n"
    "        return torch.log(h)\n"
)
LOGNET_LOG_LINE = 10
