"""Shared pytest fixtures. Tests are hermetic: tiny or random models built in the session, fixed
seeds, nothing downloaded. Torch runs on one thread so that the suite behaves the same on CI's
2 cores as on a laptop."""

from __future__ import annotations

import pytest

try:
    import torch
except ImportError:  # the runtime-only environment
    torch = None


@pytest.fixture(autouse=True)
def _torch_single_thread():
    if torch is not None:
        torch.set_num_threads(1)
        torch.manual_seed(0)
    yield
