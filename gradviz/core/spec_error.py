"""The error every spec check raises, in its own module so that the spec, its limits
and the layer catalogue can all raise it without importing one another in a circle."""

from __future__ import annotations

__all__ = ["SpecError"]


class SpecError(ValueError):
    """A spec that cannot describe a network: unknown kind, bad parameter value, bad name.

    ``layer_name`` and ``field`` say where; the message says what is wrong.
    """

    def __init__(self, message: str, *, layer_name: str | None = None, field: str | None = None):
        super().__init__(message)
        self.layer_name = layer_name
        self.field = field
