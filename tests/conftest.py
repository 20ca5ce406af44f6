"""Suite-wide settings. Nothing from ghnerf_ns is imported here: the jaxtyping/beartype import hook must see the
package unimported so that its annotations are checked at run time."""

import os

import pytest
import torch

# Two pytest-xdist workers share two cores: one intra-op thread each avoids oversubscription, which makes small
# convolutions and matmuls an order of magnitude slower. Subprocesses (the ns-* CLIs) inherit the setting.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(autouse=True, scope="session")
def _single_thread_torch():
    torch.set_num_threads(1)
    yield
