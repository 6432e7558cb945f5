"""The PyTorch reference: exact parameter counts, and streaming == offline for every model.

Link by link (STYLE habit 8): STFT identity, each model's step loop against its offline forward,
the joint model's hint FIFO against the offline delay, and missing hints against zeroed hint frames.
Tolerance: max-abs <= 1e-5 on 2 s of random binaural input with random weights.
"""

from __future__ import annotations

import pytest
import torch

from kboost.config import get_config
from kboost_train import JointModel, TFGridNet
from kboost_train.info import model_info, n_params
from kboost_train.models import delay_frames
from kboost_train.stft import Stft, n_frames

from streaming import align, chunks, max_abs

TOL = 1e-5
N_SAMPLES = 32_000  # 2 s at 16 kHz

# Counts of the reference implementation (SPEC.md section 3): they pin the architecture down.
PARAMS = {
    "ss-small": 23_960,
    "ss-medium": 37_382,
    "ss-large": 518_771,
    "tse-small": 1_618_836,
    "tse-large": 6_898_287,
}
KB_PARAMS = {1: 36_536, 2: 36_280, 4: 36_152}


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_param_count(name):
    assert n_params(TFGridNet(get_config(name))) == PARAMS[name]


def test_tse_speaker_film_params():
    m = TFGridNet(get_config("tse-small"))
    assert sum(n_params(f) for f in m.speaker_films) == 1_595_456


@pytest.mark.parametrize("c", sorted(KB_PARAMS))
def test_kb_param_counts(c):
    j = JointModel(get_config(f"ss-small-kb-d3-c{c}"))
    assert n_params(j.small) == KB_PARAMS[c]
    if c == 1:
        assert n_params(j.compress) == 584


def test_info_reports_counts():
    info = model_info(get_config("ss-small-kb-d3-c1"))
    assert info["params"]["total"] == 36_536
    assert info["params"]["compression_conv"] == 584
    assert info["params"]["teacher"] == 518_771
    assert info["hint"]["values_per_chunk"] == 8 * 97
    assert info["hint"]["bytes_per_second_fp32"] == 8 * 97 * 4 * 125
    # LSTM work is counted from the shapes run: 3 blocks x 97 bins x (2 + 1 directions) x 4H(I+H).
    assert info["lstm_macs_per_chunk"] == 3 * 97 * 3 * 4 * 16 * 32


def test_stft_identity():
    """Analysis then synthesis gives the signal back, offline and streaming."""
    stft = Stft()
    x = torch.randn(2, 2, 1000)
    feats = stft.analysis(x)
    assert feats.shape == (2, 4, n_frames(1000), 97)
    b, c, t, f = feats.shape
    spec = feats.view(b, 2, c // 2, t, f).transpose(1, 2)  # [B, C, re/im, T, F]
    assert max_abs(stft.synthesis(spec, 1000), x) < 1e-5

    hist, tail, outs = torch.zeros(2, 2, 64), torch.zeros(2, 2, 64), []
    for ch in chunks(x):
        fr, hist = stft.analysis_step(ch, hist)
        out, tail = stft.synthesis_step(fr.view(2, 2, 2, 1, 97).transpose(1, 2), tail)
        outs.append(out)
    assert max_abs(align(torch.cat(outs, -1), 1000), x) < 1e-5


def _speaker(cfg, batch):
    return torch.randn(batch, 256) if cfg.has_speaker else None


def _stream(model, x, speaker=None, **step_kw):
    state = model.init_state(x.shape[0], speaker)
    outs = []
    for ch in chunks(x):
        out, state = model.step(ch, state, **step_kw)
        outs.append(out)
    return align(torch.cat(outs, -1), x.shape[-1])


@pytest.mark.parametrize("task", ["ss", "tse", "se"])
@pytest.mark.parametrize("size", ["small", "medium", "large"])
@torch.no_grad()
def test_streaming_equals_offline(task, size):
    cfg = get_config(f"{task}-{size}")
    model = TFGridNet(cfg).eval()
    batch = 1 if size == "large" else 2
    x = torch.randn(batch, 2, N_SAMPLES)
    spk = _speaker(cfg, batch)
    y = model(x, spk)
    assert y.shape == (batch, cfg.n_out, N_SAMPLES)
    assert max_abs(_stream(model, x, spk), y) <= TOL


@pytest.mark.parametrize("delay", [0, 1, 3, 6])
@pytest.mark.parametrize("compression", [1, 2, 4])
@torch.no_grad()
def test_joint_fifo_streaming_equals_offline(delay, compression):
    """Hints made by the large model's own step loop travel through the FIFO of d chunks."""
    cfg = get_config(f"ss-small-kb-d{delay}-c{compression}")
    joint = JointModel(cfg).eval()
    x = torch.randn(1, 2, N_SAMPLES)
    assert max_abs(_stream(joint, x), joint(x)) <= TOL


@torch.no_grad()
def test_joint_tse_streaming_equals_offline():
    cfg = get_config("tse-small-kb-d3-c2")
    joint = JointModel(cfg).eval()
    x = torch.randn(1, 2, 8_000)
    spk = torch.randn(1, 256)
    assert max_abs(_stream(joint, x, spk), joint(x, spk)) <= TOL


@torch.no_grad()
def test_small_model_with_external_hints():
    """The device's view: the small model's step takes the hint of chunk t-d from outside."""
    d = 3
    cfg = get_config(f"se-small-kb-d{d}-c2")
    small = TFGridNet(cfg).eval()
    x = torch.randn(1, 2, 8_000)
    t = n_frames(8_000)
    hints = torch.randn(1, cfg.n_hint_channels, t, 97)  # hint of chunk k in frame k
    y = small(x, hints=delay_frames(hints, d))
    state, outs = small.init_state(1), []
    for k, ch in enumerate(chunks(x)):
        out, state = small.step(ch, state, hint=hints[:, :, k - d] if k >= d else None)
        outs.append(out)
    assert max_abs(align(torch.cat(outs, -1), 8_000), y) <= TOL


@pytest.mark.parametrize("delay", [0, 3])
@torch.no_grad()
def test_missing_hints_equal_zeroed_hint_frames(delay):
    """Withheld hints behave as zero hints: the step loop with chosen hints withheld equals the
    offline joint forward with those (delayed) hint frames zeroed."""
    cfg = get_config(f"ss-small-kb-d{delay}-c1")
    joint = JointModel(cfg).eval()
    x = torch.randn(1, 2, 16_000)
    t = n_frames(16_000)
    withheld = {5, 6, 7, 40, 41, 90, t - 1}
    mask = torch.ones(1, t)
    mask[0, sorted(withheld)] = 0
    state, outs = joint.init_state(1), []
    for k, ch in enumerate(chunks(x)):
        out, state = joint.step(ch, state, deliver=k not in withheld)
        outs.append(out)
    streamed = align(torch.cat(outs, -1), 16_000)
    assert max_abs(streamed, joint(x, hint_mask=mask)) <= TOL
    # The withheld hints matter: with all hints delivered the output differs.
    assert max_abs(streamed, joint(x)) > 1e-3


def test_bad_input_errors():
    model = TFGridNet(get_config("ss-small"))
    with pytest.raises(ValueError, match="binaural"):
        model(torch.randn(1, 1, 1000))
    with pytest.raises(ValueError, match="chunk"):
        model.step(torch.randn(1, 2, 100), model.init_state(1))
    with pytest.raises(ValueError, match="speaker"):
        TFGridNet(get_config("tse-small")).init_state(1)


@torch.no_grad()
def test_joint_forward_delay_override_equals_model_built_with_that_delay():
    """forward(delay=d) of a model built for another delay == the model built for delay d (same
    weights): the delay is a runtime parameter of the hint FIFO and the feature alignment."""
    built3 = JointModel(get_config("ss-small-kb-d3-c2")).eval()
    built1 = JointModel(get_config("ss-small-kb-d1-c2")).eval()
    built1.load_state_dict(built3.state_dict())
    x = torch.randn(1, 2, 8_000)
    assert max_abs(built3(x, delay=1), built1(x)) == 0.0
    assert max_abs(_stream(built1, x), built3(x, delay=1)) <= TOL
