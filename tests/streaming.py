"""Helpers shared by the equivalence tests: run a model's step loop over a whole signal."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from kboost.config import CHUNK_SIZE, LOOKAHEAD
from kboost_train.stft import n_frames


def chunks(x: torch.Tensor):
    """Split [B, C, N] into the chunks a streaming caller feeds: enough zero-padded 128-sample
    chunks to flush the lookahead."""
    n = x.shape[-1]
    k = n_frames(n)
    xp = F.pad(x, (0, CHUNK_SIZE * k - n))
    return [xp[..., CHUNK_SIZE * i : CHUNK_SIZE * (i + 1)] for i in range(k)]


def align(stream_out: torch.Tensor, n: int) -> torch.Tensor:
    """The step outputs are the offline output delayed by the 64-sample lookahead."""
    return stream_out[..., LOOKAHEAD : LOOKAHEAD + n]


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()
