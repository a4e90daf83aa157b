"""The graph view's sizes, limits and timings, in one place (the view and its parts
import them from here)."""
from __future__ import annotations

from gradviz.core import collapse as collapse_logic

# Graphs bigger than this open collapsed (when they know their modules), to the
# deepest depth that shows at most this many boxes (gradviz.core.collapse.readable_collapse).
AUTO_COLLAPSE_NODES = collapse_logic.READABLE_BOXES
# Show the progress bar for layouts of graphs at least this big.
PROGRESS_MIN_NODES = 800
# Collapse/expand morphs are animated up to this many nodes (both states together).
ANIMATE_MAX_NODES = 3000
TRANSITION_MS = 320
REVEAL_FADE_MS = 180
LAYOUT_CACHE_SIZE = 12
SCENE_MARGIN = 40.0  # white space around the graph when panning to its edge
SEARCH_DELAY_MS = 120  # search as you type, once typing pauses
