"""Per-layer parity of the C++ core with the PyTorch layers (kboost._core._testing), odd sizes,
several frames so that every state (conv history, LSTM (h, c), attention rings) is carried."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core_parity import assert_parity, randomize_, tensors
from kboost import _core
from kboost_train.layers import CausalConv2d, CausalDeconv2d, InterFrame, IntraFrame, KBFusion, LocalSelfAttention
from kboost_train.stft import Stft

T = _core._testing
F = 97


def _x(shape, seed, scale=1.0):
    return (torch.randn(*shape, generator=torch.Generator().manual_seed(seed)) * scale).float()


def _frames(y: torch.Tensor) -> np.ndarray:
    """[1, C, T, F] torch -> [T, C, F] numpy (the runner's layout)."""
    return np.ascontiguousarray(y[0].permute(1, 0, 2).numpy())


# Both ways the core transforms a frame (Eigen's FFT; real DFTs as products on the kernel table),
# whichever the streamer picks for this CPU ("auto": the DFT on the AVX-512 table).
TRANSFORMS = ["fft", "dft"]


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("n_channels", [1, 2, 3])
def test_stft_analysis(n_channels, transform):
    n_frames = 9
    x = _x((n_channels, n_frames * 128), 1)
    want = Stft().analysis(x[None])[0, :, :n_frames]  # [2C, K, F]: frame k = x_lpad[128k : 128k+192]
    got = T.stft_analysis(x.numpy(), n_frames, transform)
    assert_parity(got, want.permute(1, 0, 2).numpy(), f"stft analysis C={n_channels} ({transform})")


def test_stft_transform_names_are_checked():
    with pytest.raises(Exception, match='expected "auto", "fft" or "dft"'):
        T.stft_analysis(np.zeros((2, 128), np.float32), 1, "fast")


@pytest.mark.parametrize("transform", TRANSFORMS)
@pytest.mark.parametrize("n_channels", [1, 3])
def test_ola_synthesis(n_channels, transform):
    n_frames = 11
    spec = _x((n_frames, 2 * n_channels, F), 2)
    stft = Stft()
    tail = torch.zeros(1, n_channels, 64)
    want = []
    for t in range(n_frames):
        s = spec[t].view(1, n_channels, 2, 1, F)
        out, tail = stft.synthesis_step(s, tail)
        want.append(out[0])
    got = T.ola_synthesis(spec.numpy(), transform)
    assert_parity(got, torch.cat(want, dim=-1).numpy(), f"synthesis C={n_channels} ({transform})")


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_stft_round_trip_is_identity_delayed_by_lookahead(transform):
    n_frames = 12
    x = _x((2, n_frames * 128), 3)
    feats = T.stft_analysis(x.numpy(), n_frames, transform)  # [T, 4, F]: re_L re_R im_L im_R
    spec = np.stack([feats[:, 0], feats[:, 2], feats[:, 1], feats[:, 3]], axis=1)  # [T, (re, im) x 2]
    y = T.ola_synthesis(np.ascontiguousarray(spec), transform)
    assert_parity(y[:, 64:], x.numpy()[:, :-64], f"analysis -> synthesis ({transform})")


@pytest.mark.parametrize("transposed", [False, True])
def test_causal_conv(transposed):
    n_in, n_out, n_frames = 5, 3, 7
    layer = randomize_((CausalDeconv2d if transposed else CausalConv2d)(n_in, n_out), 4)
    x = _x((1, n_in, n_frames, F), 5)
    with torch.no_grad():
        want = _frames(layer(x))
    prefix = "deconv." if transposed else "conv."
    got = T.causal_conv(tensors(layer, prefix), transposed, n_in, n_out, _frames(x))
    assert_parity(got, want, f"causal {'deconv' if transposed else 'conv'} {n_in}->{n_out}")


@pytest.mark.parametrize(("d", "h"), [(5, 7), (16, 16)])
def test_intra_frame_blstm(d, h):
    layer = randomize_(IntraFrame(d, h), 6)
    x = _x((1, d, 3, F), 7)
    with torch.no_grad():
        want = _frames(layer(x))
    assert_parity(T.intra_frame(tensors(layer), d, h, _frames(x)), want, f"intra-frame BLSTM D={d} H={h}")


@pytest.mark.parametrize(("d", "h"), [(6, 5), (16, 16)])
def test_inter_frame_lstm(d, h):
    layer = randomize_(InterFrame(d, h), 8)
    x = _x((1, d, 11, F), 9)
    with torch.no_grad():
        want = _frames(layer(x))
    assert_parity(T.inter_frame(tensors(layer), d, h, _frames(x)), want, f"inter-frame LSTM D={d} H={h}")


@pytest.mark.parametrize(("d", "heads", "e", "window", "n_frames"), [(6, 3, 5, 4, 9), (8, 2, 3, 50, 5)])
def test_local_attention(d, heads, e, window, n_frames):
    layer = randomize_(LocalSelfAttention(d, heads, e, window), 10)
    x = _x((1, d, n_frames, F), 11)
    with torch.no_grad():
        want = _frames(layer(x))  # offline band mask == the streaming ring's exclusion of absent history
    got = T.local_attention(tensors(layer), d, heads, e, window, _frames(x))
    assert_parity(got, want, f"local attention D={d} L={heads} E={e} W={window}")


@pytest.mark.parametrize(("d", "n_hint", "delay", "heads", "e", "window"),
                         [(6, 3, 0, 3, 2, 4), (6, 3, 2, 2, 5, 4), (16, 8, 5, 4, 3, 50)])
def test_kb_fusion(d, n_hint, delay, heads, e, window):
    n_frames = 10
    layer = randomize_(KBFusion(d, n_hint, delay, heads, e, window), 12)
    x = _x((1, d, n_frames, F), 13)
    hints = _x((1, n_hint, n_frames, F), 14)
    present = np.array([t % 3 != 1 for t in range(n_frames)], np.uint8)  # every third hint missing
    hints_seen = hints * torch.from_numpy(present.astype(np.float32))[None, None, :, None]
    with torch.no_grad():
        want = _frames(layer(x, hints_seen))
    got = T.kb_fusion(tensors(layer), d, n_hint, delay, heads, e, window, _frames(x), _frames(hints), present)
    assert_parity(got, want, f"KB fusion D={d} C_h={n_hint} d={delay} L={heads} E={e} W={window}")
