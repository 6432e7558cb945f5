"""Losses and metrics (kboost_train.losses) against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from kboost_train.losses import (
    improvements,
    loss_fn,
    mean_ci95,
    permute_sources,
    pit_si_sdr,
    si_sdr,
    snr,
)

N = 1000


def _orthogonal_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """Two zero-mean, orthogonal, unit-power signals of N samples."""
    n = torch.arange(N, dtype=torch.float64)
    a = math.sqrt(2) * torch.sin(2 * math.pi * 5 * n / N)
    b = math.sqrt(2) * torch.sin(2 * math.pi * 13 * n / N)
    return a, b


def test_si_sdr_known_value_and_scale_invariance():
    a, b = _orthogonal_pair()
    est = a + 0.1 * b  # distortion power 0.01 of the target: 20 dB
    assert si_sdr(est, a).item() == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(7.5 * est, a).item() == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(est, 0.2 * a).item() == pytest.approx(20.0, abs=1e-6)
    assert si_sdr(est + 3.0, a).item() == pytest.approx(20.0, abs=1e-6)  # mean removed


def test_snr_known_value_is_not_scale_invariant():
    a, b = _orthogonal_pair()
    assert snr(1.1 * a, a).item() == pytest.approx(20.0, abs=1e-6)
    assert snr(a + 0.1 * b, a).item() == pytest.approx(20.0, abs=1e-6)
    assert snr(2 * a, a).item() == pytest.approx(0.0, abs=1e-6)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(ValueError, match="shapes differ"):
        si_sdr(torch.zeros(2, 10), torch.zeros(2, 11))
    with pytest.raises(ValueError, match="unknown task"):
        loss_fn("xx", torch.zeros(1, 2, 10), torch.zeros(1, 2, 10))


def _ss(s0l, s0r, s1l, s1r):
    return torch.stack([s0l, s0r, s1l, s1r])[None]


def test_pit_undoes_a_source_swap():
    g = torch.Generator().manual_seed(0)
    ref = torch.randn(3, 4, N, generator=g, dtype=torch.float64)
    est = ref + 0.1 * torch.randn(3, 4, N, generator=g, dtype=torch.float64)
    swapped = torch.cat([est[:, 2:], est[:, :2]], dim=1)
    swapped[1] = est[1]  # example 1 keeps its order: the permutation is chosen per example
    best, perm = pit_si_sdr(swapped, ref)
    assert perm.tolist() == [1, 0, 1]
    best_direct, perm_direct = pit_si_sdr(est, ref)
    assert perm_direct.tolist() == [0, 0, 0]
    torch.testing.assert_close(best, best_direct)
    torch.testing.assert_close(permute_sources(swapped, perm), est)
    assert loss_fn("ss", swapped, ref).item() == pytest.approx(-best_direct.mean().item())


def test_pit_shares_one_permutation_across_ears():
    a, b = _orthogonal_pair()
    c, d = a.roll(37), b.roll(91)
    ref = _ss(a, c, b, d)
    # Left ear: estimates in the right order with 20 dB. Right ear: swapped, with 10 dB.
    est = _ss(a + 0.1 * b, d + 0.316227766 * c, b + 0.1 * a, c + 0.316227766 * d)
    best, perm = pit_si_sdr(est, ref)
    per_ear = si_sdr(est, ref).view(2, 2)  # [source, ear] in the identity assignment
    assert perm.item() == 0  # the left ear's 20 dB outweighs the right ear's swapped 10 dB
    assert best.item() == pytest.approx(per_ear.mean().item(), abs=1e-6)
    # A per-ear assignment would have scored (20 + 10) / 2 = 15 dB; a shared one cannot.
    assert best.item() < 15.0 - 1.0


def test_improvements_known_snr_gain_tse():
    a, b = _orthogonal_pair()
    ref = torch.stack([a, a.roll(5)])[None]
    noise = torch.stack([b, b.roll(3)])[None]
    mixture = ref + noise  # 0 dB at both ears
    est = ref + 0.1 * noise  # 20 dB
    m = improvements("tse", est, ref, mixture)
    assert m["snri"].item() == pytest.approx(20.0, abs=1e-4)
    assert m["si_snri"].item() == pytest.approx(20.0, abs=1e-4)
    assert m["snr"].item() == pytest.approx(20.0, abs=1e-4)
    zero = improvements("se", mixture, ref, mixture)
    assert zero["snri"].item() == pytest.approx(0.0, abs=1e-6)
    assert zero["si_snri"].item() == pytest.approx(0.0, abs=1e-6)


def test_improvements_ss_uses_the_pit_permutation():
    a, b = _orthogonal_pair()
    ref = _ss(a, a.roll(4), b, b.roll(4))
    mixture = ref[:, :2] + ref[:, 2:]  # [1, 2, N]: s0 + s1 per ear, 0 dB each
    est = _ss(b + 0.1 * a, b.roll(4) + 0.1 * a.roll(4), a + 0.1 * b, a.roll(4) + 0.1 * b.roll(4))
    m = improvements("ss", est, ref, mixture)
    assert m["si_snri"].item() == pytest.approx(20.0, abs=1e-3)
    assert m["snri"].item() == pytest.approx(20.0, abs=1e-3)


def test_mean_ci95_student_t():
    mean, half = mean_ci95([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)  # t(0.975, 2 dof) * s / sqrt(n)
    with pytest.raises(ValueError):
        mean_ci95([])
