"""Shared test setup. Qt runs offscreen: no display or window manager needed."""
import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Keep the tests' remembered settings (QSettings) and recovery files away from the user's.
_CONFIG_HOME = tempfile.mkdtemp(prefix="gradviz-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
os.environ["GRADVIZ_CONFIG_DIR"] = _CONFIG_HOME
os.environ.setdefault("GRADVIZ_TESTING", "1")

import pytest  # noqa: E402


@pytest.fixture
def lenet_spec():
    from gradviz import presets

    return presets.load("lenet")


@pytest.fixture
def one_torch_thread():
    """Tiny models: on a loaded 2-core machine torch's spinning intra-op threads
    make each small op ~20x slower, which only measures the machine."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
