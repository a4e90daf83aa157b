"""Moved to :mod:`gradviz.core.text_values` (no Qt in parsing); kept so old imports work."""
from gradviz.core.text_values import *  # noqa: F401,F403
from gradviz.core.text_values import format_value, parse_float, parse_input_shape, parse_int_list, parse_shape, parse_size  # noqa: F401
