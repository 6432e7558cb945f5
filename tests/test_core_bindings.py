"""The Python surface of the C++ streamer: array checks with clear errors, preallocated outputs,
hint refusals counted (never raised), and a model shared by two streams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core_parity import core_config, randomize_, tensors
from kboost import _core
from kboost.config import get_config
from kboost_train.models import JointModel


@pytest.fixture(scope="module")
def device():
    cfg = get_config("ss-small-kb-d1-c2")
    torch.manual_seed(0)
    joint = randomize_(JointModel(cfg), 1)
    return _core._testing.model_from_tensors(core_config(cfg, "device"), tensors(joint, "small."))


def test_config_and_identity(device):
    c = device.config
    assert (c["role"], c["task"], c["delay"], c["compression"], c["n_hint_channels"], c["n_out"]) == (
        "device", "ss", 1, 2, 4, 4)
    assert device.n_params == 36280  # the spec's count for SS small + KB at c = 2
    assert _core.kernel_isa() in ("avx512", "avx2+fma", "ref")


def test_bad_arrays_raise_clear_errors(device):
    s = _core.Streamer(device)
    x = np.zeros((2, 128), np.float32)
    with pytest.raises(_core.Error, match=r"expected a float32 C-contiguous array of shape \[2, 128\], got \[2, 127\]"):
        s.process_chunk(np.zeros((2, 127), np.float32))
    with pytest.raises(ValueError, match="float64"):
        s.process_chunk(np.zeros((2, 128)))
    with pytest.raises(_core.Error, match="not C-contiguous"):
        s.process_chunk(np.zeros((128, 2), np.float32).T)
    with pytest.raises(_core.Error, match=r"out: expected .*\[4, 128\]"):
        s.process_chunk(x, out=np.zeros((2, 128), np.float32))
    with pytest.raises(_core.Error, match="produces no hints"):
        s.process_chunk_with_hint(x)
    with pytest.raises(_core.Error, match="takes no speaker"):
        s.set_speaker(np.zeros(256, np.float32))
    assert s.chunk_index == 0


def test_out_is_written_in_place_and_streams_share_a_model(device):
    a, b = _core.Streamer(device), _core.Streamer(device)
    x = np.random.default_rng(0).standard_normal((2, 128)).astype(np.float32)
    out = np.empty((4, 128), np.float32)
    y = a.process_chunk(x, out=out)
    assert y is out or np.shares_memory(y, out)
    np.testing.assert_array_equal(b.process_chunk(x), out)
    assert a.chunk_index == b.chunk_index == 1


def test_hint_refusals_are_counted_not_raised(device):
    s = _core.Streamer(device, hint_ring_size=4)
    h = np.ones((4, 97), np.float32)
    assert s.push_hint(0, h)
    assert not s.push_hint(0, h)  # duplicate
    assert not s.push_hint(4, h)  # beyond the ring
    assert not s.push_hint(1, np.ones((2, 97), np.float32))  # wrong shape
    assert not s.push_hint(1, np.ones((4, 97)))  # wrong dtype
    for _ in range(3):
        s.process_chunk(np.zeros((2, 128), np.float32))
    assert not s.push_hint(1, h)  # late: chunk 2 needed it
    st = s.stats()
    assert st == dict(chunks=3, hints_used=1, hints_missing=1, hints_accepted=1, hints_late=1,
                      hints_duplicate=1, hints_future=1, hints_bad_size=2)
