"""SI-SNR(i) in numpy for the runtime (no torch): the definitions of ``kboost_train.losses``
(zero-mean SI-SDR; SS sources matched by the better of the 2 permutations, shared by both ears;
the baseline of each reference is the mixture channel of its ear)."""

from __future__ import annotations

import numpy as np

EPS = 1e-8


def si_snr(est: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """[..., N] x [..., N] -> [...] dB."""
    if est.shape != ref.shape:
        raise ValueError(f"estimate and reference shapes differ: {est.shape} vs {ref.shape}")
    e = est - est.mean(-1, keepdims=True)
    r = ref - ref.mean(-1, keepdims=True)
    alpha = (e * r).sum(-1, keepdims=True) / ((r * r).sum(-1, keepdims=True) + EPS)
    t = alpha * r
    return 10 * np.log10(((t * t).sum(-1) + EPS) / (((t - e) ** 2).sum(-1) + EPS))


def si_snr_improvement(task: str, est: np.ndarray, ref: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
    """est, ref [n_out, N], mixture [2, N] -> {"si_snr", "si_snri"} in dB, averaged over ears (and
    sources for SS)."""
    est, ref, mixture = (np.asarray(a, np.float64) for a in (est, ref, mixture))
    if task == "ss":
        if est.shape[0] != 4:
            raise ValueError(f"SS needs 4 outputs (2 sources x 2 ears), got {est.shape[0]}")
        swapped = est[[2, 3, 0, 1]]
        if si_snr(swapped, ref).mean() > si_snr(est, ref).mean():
            est = swapped
    mix = np.tile(mixture, (est.shape[0] // 2, 1))
    s = si_snr(est, ref)
    return {"si_snr": float(s.mean()), "si_snri": float((s - si_snr(mix, ref)).mean())}
