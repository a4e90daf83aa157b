"""A user model in the window: a model from the user's own file (Python, torch.export
``.pt2``, TorchScript) as the session every panel shows.

``dialog``: File → Open Model…, what to open and with which inputs; ``opener``: loads it
off the GUI thread and swaps it in (and back out); ``panel``: the builder dock's
stand-in while it is open. The core side is :mod:`gradviz.core.user_model` (request,
opened model) and :mod:`gradviz.core.user_model_loader` (files → modules)."""
