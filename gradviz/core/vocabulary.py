"""The words every part of gradviz shares, defined once.

Torch-free on purpose: the UI imports these names at start-up, long before torch is
loaded (the window shows before ``import torch``), and the CLI builds its argument
choices from them. Every other module imports from here instead of keeping a copy.
"""

from __future__ import annotations

__all__ = ["LOSSES", "OPTIMIZERS", "PHASES", "RECORD_LEVELS", "SESSION_EVENTS"]

# One training iteration, in the order the tutorial writes it.
PHASES = ("zero_grad", "forward", "loss", "backward", "step")

# The names of ``TrainingSession.events`` (see its docstring).
SESSION_EVENTS = ("phase_done", "iteration_recorded", "reset", "settings_changed", "graph_invalidated")

# Loss functions and optimizers a session can be asked for by name.
LOSSES = ("mse", "l1", "cross_entropy", "nll")
OPTIMIZERS = ("sgd", "sgd_momentum", "adam", "manual_sgd")

# "full" keeps tensors per iteration; "light" keeps norms and flags only.
RECORD_LEVELS = ("full", "light")
