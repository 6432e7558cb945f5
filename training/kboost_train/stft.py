"""Streaming STFT analysis and overlap-add synthesis on kboost's chunk grid.

Framing (identical for every model): hop = chunk = 128 samples, window = n_fft = 192 (periodic
Hamming), 97 one-sided bins, no centring. Frame k covers input samples [128k - 64, 128k + 128): the
signal is framed with 64 zeros of history on the left, so call k of the streaming form needs only the
128 newest samples plus 64 it kept. Synthesis overlap-adds with the previous frame's tail and divides
by the squared-window envelope, so analysis followed by synthesis is the identity (delayed by the
64-sample lookahead).

Shapes: B batch, C channels, N samples, K frames, F = 97 bins.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from kboost.config import CHUNK_SIZE, LOOKAHEAD, N_FFT, N_FREQ

HOP = CHUNK_SIZE
OVERLAP = N_FFT - HOP  # 64 samples shared by consecutive frames


def n_frames(n_samples: int) -> int:
    """Frames needed so that the offline output covers all ``n_samples`` input samples."""
    return math.ceil((n_samples + LOOKAHEAD) / HOP)


class Stft(torch.nn.Module):
    """Analysis (signal -> [re, im] features) and synthesis (complex frames -> signal)."""

    window: Tensor
    envelope: Tensor

    def __init__(self) -> None:
        super().__init__()
        w = torch.hamming_window(N_FFT, periodic=True, dtype=torch.float64)
        w2 = w * w
        # Normaliser of one 128-sample output hop: the first 64 samples get the previous frame's
        # tail and the current frame's head, the last 64 only the current frame.
        env = torch.cat([w2[:OVERLAP] + w2[HOP:], w2[OVERLAP:HOP]])
        self.register_buffer("window", w.float(), persistent=False)
        self.register_buffer("envelope", env.float(), persistent=False)

    # ---- analysis ------------------------------------------------------------------------------
    def frames_to_features(self, frames: Tensor) -> Tensor:
        """[B, C, K, 192] windows -> [B, 2C, K, F] features ordered [re_0..re_C-1, im_0..im_C-1]."""
        spec = torch.fft.rfft(frames * self.window, n=N_FFT, dim=-1)
        return torch.cat([spec.real, spec.imag], dim=1)

    def analysis(self, x: Tensor) -> Tensor:
        """Offline: [B, C, N] -> [B, 2C, K, F] with K = n_frames(N)."""
        n = x.shape[-1]
        k = n_frames(n)
        x = F.pad(x, (LOOKAHEAD, HOP * k - n))
        return self.frames_to_features(x.unfold(-1, N_FFT, HOP))

    def analysis_step(self, chunk: Tensor, history: Tensor) -> tuple[Tensor, Tensor]:
        """Streaming: chunk [B, C, 128] and the last 64 samples [B, C, 64] -> ([B, 2C, 1, F], history)."""
        frame = torch.cat([history, chunk], dim=-1)
        return self.frames_to_features(frame.unsqueeze(2)), frame[..., HOP:]

    # ---- synthesis -----------------------------------------------------------------------------
    def features_to_frames(self, spec: Tensor) -> Tensor:
        """[B, C, 2, K, F] (re, im) -> windowed time frames [B, C, K, 192]."""
        z = torch.complex(spec[:, :, 0], spec[:, :, 1])
        return torch.fft.irfft(z, n=N_FFT, dim=-1) * self.window

    def synthesis(self, spec: Tensor, n_samples: int) -> Tensor:
        """Offline: [B, C, 2, K, F] -> [B, C, n_samples], aligned with the input signal."""
        frames = self.features_to_frames(spec)
        head = frames[..., :HOP].clone()
        head[..., 1:, :OVERLAP] += frames[..., :-1, HOP:]
        out = (head / self.envelope).flatten(-2)
        return out[..., LOOKAHEAD : LOOKAHEAD + n_samples]

    def synthesis_step(self, spec: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """Streaming: spec [B, C, 2, 1, F] and the previous tail [B, C, 64] -> ([B, C, 128], tail)."""
        frame = self.features_to_frames(spec)[:, :, 0]
        head = torch.cat([frame[..., :OVERLAP] + tail, frame[..., OVERLAP:HOP]], dim=-1)
        return head / self.envelope, frame[..., HOP:]


assert N_FREQ == 97
