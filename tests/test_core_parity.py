"""Whole-model parity: the C++ streamer vs the PyTorch step loop (TFGridNet.step), 2 s of random
binaural input, random weights, every task x size. NMSE <= 1e-9 and max-abs <= 1e-4."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core_parity import assert_parity, core_config, core_stream, random_audio, randomize_, tensors, torch_step_loop
from kboost import _core
from kboost.config import get_config
from kboost_train.models import TFGridNet

N_CHUNKS = 250  # 2 s


@pytest.mark.parametrize("size", ["small", "medium", "large"])
@pytest.mark.parametrize("task", ["ss", "tse", "se"])
def test_streamer_matches_torch_step_loop(task, size):
    cfg = get_config(f"{task}-{size}")
    torch.manual_seed(100)
    model = randomize_(TFGridNet(cfg).eval(), 101)
    x = random_audio(N_CHUNKS, 102)
    speaker = np.random.default_rng(103).standard_normal(256).astype(np.float32) if cfg.has_speaker else None
    want, _ = torch_step_loop(model, x, speaker)

    core = _core._testing.model_from_tensors(core_config(cfg), tensors(model))
    s = _core.Streamer(core)
    if speaker is not None:
        s.set_speaker(speaker)
    got = core_stream(s, x)
    assert_parity(got, want, f"{task}-{size}")
    assert s.stats()["chunks"] == N_CHUNKS and s.chunk_index == N_CHUNKS

    # reset() gives a fresh stream: the same first chunks again (speaker kept).
    s.reset()
    again = core_stream(s, x[:, : 5 * 128])
    np.testing.assert_array_equal(again, got[:, : 5 * 128])
