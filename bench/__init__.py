"""gradviz's performance benchmarks: ``python -m bench`` runs them all (see :mod:`bench.run`).

Every figure is a ratio against a peer measured in the same process (torchviz,
Graphviz ``dot``, a raw torch loop, a bare Qt window), so the numbers mean the
same on a fast or a busy machine. Each module also runs on its own
(``python bench/training.py``) and exposes ``run(...) -> list[dict]``.
Nothing here is imported by gradviz itself.
"""
