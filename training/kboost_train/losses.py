"""Training losses and evaluation metrics of kboost (section 5 of the spec).

Shapes: B batch, N samples. Model outputs and references are [B, n_out, N] with n_out = 4 for SS
(source-major: [s0 left, s0 right, s1 left, s1 right]) and 2 for TSE/SE ([left, right]); mixtures
are [B, 2, N] (binaural). Every value in dB.

* SI-SDR (scale-invariant signal-to-distortion ratio; "SI-SNR" in the metrics, the same quantity):
  both signals made zero-mean, the reference scaled by the least-squares factor
  alpha = <est, ref> / ||ref||^2, then 10 log10(||alpha ref||^2 / ||alpha ref - est||^2).
* SNR: 10 log10(||ref||^2 / ||ref - est||^2), no mean removal, no scaling.
* TSE / SE loss: negative SI-SDR per ear, averaged over ears and batch.
* SS loss: permutation-invariant negative SI-SDR. The permutation of the two sources is chosen **per
  example**, and **both ears share it** (a source is one talker, heard at both ears: assigning the
  left ear of estimate 0 to talker A and its right ear to talker B would not be a separation). Of the
  two assignments, the one with the larger SI-SDR averaged over the 2 sources x 2 ears is taken; the
  loss is the negative of that average. (The reference solved the assignment per ear and never wired
  it up; see the spec.)
* Metrics: SI-SNRi and SNRi = metric(estimate, ref) - metric(mixture, ref), where the mixture channel
  of ear e is the "estimate" of every reference at ear e; averaged over ears (and over sources for SS,
  under the permutation that the SI-SDR loss would choose).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-8  # keeps silent references / perfect estimates finite


def _check_pair(est: Tensor, ref: Tensor) -> None:
    if est.shape != ref.shape:
        raise ValueError(f"estimate and reference shapes differ: {tuple(est.shape)} vs {tuple(ref.shape)}")
    if est.dim() < 1 or est.shape[-1] < 2:
        raise ValueError(f"expected signals [..., N] with N >= 2 samples, got shape {tuple(est.shape)}")


def si_sdr(est: Tensor, ref: Tensor, eps: float = EPS) -> Tensor:
    """Scale-invariant SDR in dB over the last dim: [..., N] x [..., N] -> [...]."""
    _check_pair(est, ref)
    est = est - est.mean(dim=-1, keepdim=True)
    ref = ref - ref.mean(dim=-1, keepdim=True)
    alpha = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + eps)
    target = alpha * ref
    noise = target - est
    return 10 * torch.log10((target.pow(2).sum(-1) + eps) / (noise.pow(2).sum(-1) + eps))


def snr(est: Tensor, ref: Tensor, eps: float = EPS) -> Tensor:
    """Plain SNR in dB over the last dim: [..., N] x [..., N] -> [...]."""
    _check_pair(est, ref)
    return 10 * torch.log10((ref.pow(2).sum(-1) + eps) / ((ref - est).pow(2).sum(-1) + eps))


def _sources(x: Tensor) -> Tensor:
    """[B, 2 S, N] (source-major, 2 ears) -> [B, S, 2, N]."""
    if x.dim() != 3 or x.shape[1] % 2:
        raise ValueError(f"expected binaural outputs [B, 2*n_sources, N], got shape {tuple(x.shape)}")
    return x.view(x.shape[0], x.shape[1] // 2, 2, x.shape[2])


# The two assignments of 2 estimated sources to 2 references.
PERMUTATIONS = ((0, 1), (1, 0))


def pit_si_sdr(est: Tensor, ref: Tensor) -> tuple[Tensor, Tensor]:
    """Permutation-invariant SI-SDR of 2 binaural sources.

    est, ref [B, 4, N] -> (best SI-SDR averaged over the 2 sources x 2 ears [B], permutation index [B]
    into :data:`PERMUTATIONS`: estimate source ``PERMUTATIONS[p][s]`` is matched to reference s).
    One permutation per example, shared by both ears.
    """
    _check_pair(est, ref)
    e, r = _sources(est), _sources(ref)
    if e.shape[1] != 2:
        raise ValueError(f"PIT expects 2 sources (4 outputs), got {est.shape[1]} outputs")
    scores = torch.stack(
        [si_sdr(e[:, list(p)], r).mean(dim=(1, 2)) for p in PERMUTATIONS], dim=1
    )  # [B, 2]
    best, perm = scores.max(dim=1)
    return best, perm


def permute_sources(est: Tensor, perm: Tensor) -> Tensor:
    """Reorder the sources of est [B, 4, N] by the per-example permutation index perm [B]."""
    e = _sources(est)
    order = torch.tensor(PERMUTATIONS, device=est.device)[perm]  # [B, 2]
    idx = order[:, :, None, None].expand(-1, -1, 2, e.shape[-1])
    return torch.gather(e, 1, idx).reshape(est.shape)


def loss_fn(task: str, est: Tensor, ref: Tensor) -> Tensor:
    """Training loss of a task (scalar): PIT negative SI-SDR for ``ss``, negative SI-SDR per ear for
    ``tse`` and ``se``; averaged over the batch (and ears / sources)."""
    if task == "ss":
        best, _ = pit_si_sdr(est, ref)
        return -best.mean()
    if task in ("tse", "se"):
        return -si_sdr(est, ref).mean()
    raise ValueError(f"unknown task {task!r}: expected 'ss', 'tse' or 'se'")


def improvements(task: str, est: Tensor, ref: Tensor, mixture: Tensor) -> dict[str, Tensor]:
    """Per-example metrics ``{"si_snri": [B], "snri": [B], "si_snr": [B], "snr": [B]}`` (dB).

    est, ref [B, n_out, N]; mixture [B, 2, N]. For SS the estimate's sources are first matched to the
    references by :func:`pit_si_sdr`. The baseline of each reference is the mixture channel of its ear.
    """
    _check_pair(est, ref)
    if mixture.dim() != 3 or mixture.shape[1] != 2 or mixture.shape[-1] != est.shape[-1]:
        raise ValueError(f"mixture must be [B, 2, {est.shape[-1]}], got {tuple(mixture.shape)}")
    if task == "ss":
        _, perm = pit_si_sdr(est, ref)
        est = permute_sources(est, perm)
    elif task not in ("tse", "se"):
        raise ValueError(f"unknown task {task!r}: expected 'ss', 'tse' or 'se'")
    n_src = est.shape[1] // 2
    mix = mixture.repeat(1, n_src, 1)  # ear e of every source sees mixture channel e
    out = {}
    for name, fn in (("si_snr", si_sdr), ("snr", snr)):
        m_est, m_mix = fn(est, ref), fn(mix, ref)  # [B, n_out]
        out[name] = m_est.mean(1)
        out[name + "i"] = (m_est - m_mix).mean(1)
    return out


def mean_ci95(values: Tensor | list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95% confidence interval of the mean: Student t, n-1 dof)."""
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    n = v.numel()
    if n == 0:
        raise ValueError("no values to average")
    mean = float(v.mean())
    if n == 1:
        return mean, math.nan
    try:
        from scipy.stats import t as student_t

        q = float(student_t.ppf(0.975, n - 1))
    except ImportError:  # normal approximation
        q = 1.959964
    return mean, q * float(v.std(unbiased=True)) / math.sqrt(n)
