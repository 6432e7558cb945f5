"""A small synthetic data set with the item format of ``kboost_train.data`` (a test fixture).

Needs nothing outside numpy and torch, so the training and evaluation code can be tested anywhere.
The "voices" are harmonic sources: a speaker is a mean pitch, a pitch range and three formants; an
utterance is a sequence of syllables (pitch glide, formant-shaped harmonics, a breath of noise), each
rendered binaurally with an interaural time difference (whole samples) and level difference. It is
*not* speech: use it to check that code runs and learns, never to report results.

Items (map-style, deterministic in (seed, index), or in (seed, epoch, index) with ``per_epoch``
after ``set_epoch(epoch)``, as the real training sets draw fresh mixtures each epoch; so any worker /
rank / resume order gives the same item)::

    {"mixture": [2, N] float32, "target": [n_out, N] float32,
     "speaker": [256] float32 (TSE only), "kind": "real" | "synthetic"}

SS: target = [s0 left, s0 right, s1 left, s1 right], two different speakers at a random level ratio.
TSE: target = the enrolled speaker's [left, right]; interferer another speaker; ``speaker`` is a fixed
unit vector per speaker id (a stand-in for a d-vector). SE: one speaker in coloured noise.
``kind`` is a label only: with ``kinds=("real", "synthetic")`` it alternates by speaker id so that code
that reports the two groups separately can be exercised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from kboost.config import SAMPLE_RATE, SPEAKER_EMBEDDING_DIM, TASKS


def _voice(speaker: int) -> dict[str, Any]:
    r = np.random.default_rng([7919, speaker])
    return {
        "f0": float(r.uniform(85.0, 260.0)),
        "f0_range": float(r.uniform(0.1, 0.35)),
        "formants": np.sort(r.uniform([300.0, 900.0, 2000.0], [900.0, 2200.0, 3500.0])),
        "breath": float(r.uniform(0.01, 0.08)),
    }


def speaker_embedding(speaker: int) -> np.ndarray:
    """A fixed unit vector [256] per speaker id (stands in for a d-vector)."""
    v = np.random.default_rng([104729, speaker]).standard_normal(SPEAKER_EMBEDDING_DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


def utterance(speaker: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """A mono 'utterance' [N] of a speaker, unit RMS over its voiced part."""
    v = _voice(speaker)
    out = np.zeros(n_samples)
    t0 = int(rng.integers(0, SAMPLE_RATE // 10))
    while t0 < n_samples:
        n = int(rng.integers(SAMPLE_RATE // 10, SAMPLE_RATE // 3))
        n = min(n, n_samples - t0)
        f_start, f_end = v["f0"] * (1 + v["f0_range"] * rng.uniform(-1, 1, size=2))
        f0 = np.linspace(f_start, f_end, n)
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        k = np.arange(1, int(SAMPLE_RATE / 2 / max(f_start, f_end)))  # harmonics below Nyquist
        fk = k[:, None] * f0[None, :]  # [K, n]
        amp = sum(np.exp(-0.5 * ((fk - f) / (0.12 * f)) ** 2) for f in v["formants"]) + 0.02
        syl = (amp / k[:, None] * np.sin(k[:, None] * phase[None, :] + rng.uniform(0, 2 * np.pi, (len(k), 1)))).sum(0)
        syl += v["breath"] * rng.standard_normal(n)
        env = np.sin(np.linspace(0, np.pi, n)) ** 2
        out[t0:t0 + n] = syl * env * rng.uniform(0.5, 1.0)
        t0 += n + int(rng.integers(0, SAMPLE_RATE // 8))
    rms = np.sqrt(np.mean(out**2)) + 1e-9
    return out / rms


def binaural(mono: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[N] -> [2, N] with a random ITD (up to +-10 samples, 0.6 ms) and ILD (up to +-6 dB)."""
    itd = int(rng.integers(-10, 11))
    ild = 10 ** (rng.uniform(-6, 6) / 20)
    left = np.roll(mono, max(itd, 0))
    right = np.roll(mono, max(-itd, 0))
    if itd > 0:
        left[:itd] = 0
    elif itd < 0:
        right[:-itd] = 0
    return np.stack([left * np.sqrt(ild), right / np.sqrt(ild)])


def coloured_noise(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """[2, N] noise with a random spectral slope (white to brown), partly correlated across ears."""
    slope = rng.uniform(0.0, 2.0)
    spec = rng.standard_normal((2, n_samples // 2 + 1)) + 1j * rng.standard_normal((2, n_samples // 2 + 1))
    spec[1] = 0.5 * spec[0] + 0.5 * spec[1]
    f = np.maximum(np.arange(n_samples // 2 + 1), 1.0)
    x = np.fft.irfft(spec / f ** (slope / 2), n=n_samples)
    return x / (np.sqrt(np.mean(x**2)) + 1e-9)


class SyntheticMixtures(Dataset):
    """Seeded on-the-fly mixtures of synthetic harmonic voices (see the module doc).

    ``speakers``: the speaker ids drawn from (hold disjoint ranges out for validation / test).
    ``level_db``: the range of the SIR (SS, TSE: target over interferer) or SNR (SE), in dB.
    """

    def __init__(self, task: str, n_items: int, n_samples: int, seed: int = 0,
                 speakers: tuple[int, int] = (0, 16), level_db: tuple[float, float] = (-5.0, 5.0),
                 kinds: tuple[str, ...] = ("synthetic",), per_epoch: bool = False) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if n_items <= 0 or n_samples < 256:
            raise ValueError(f"need n_items > 0 and n_samples >= 256, got {n_items}, {n_samples}")
        lo, hi = speakers
        if hi - lo < 2:
            raise ValueError(f"need at least 2 speakers, got the id range {speakers}")
        bad = set(kinds) - {"real", "synthetic"}
        if not kinds or bad:
            raise ValueError(f"kinds must be drawn from ('real', 'synthetic'), got {kinds}")
        self.task, self.n_items, self.n_samples, self.seed = task, n_items, n_samples, seed
        self.speakers, self.level_db, self.kinds = (lo, hi), level_db, tuple(kinds)
        self.per_epoch, self.epoch = per_epoch, 0

    def set_epoch(self, epoch: int) -> None:
        """With ``per_epoch``: draw epoch ``epoch``'s items (call before the DataLoader starts)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n_items

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.n_items:
            raise IndexError(f"index {index} out of range for {self.n_items} items")
        rng = np.random.default_rng([self.seed, index] + ([self.epoch] if self.per_epoch else []))
        n = self.n_samples
        a, b = (int(s) for s in rng.choice(np.arange(*self.speakers), size=2, replace=False))
        target = binaural(utterance(a, n, rng), rng)
        level = 10 ** (rng.uniform(*self.level_db) / 20)
        if self.task == "se":
            other = coloured_noise(n, rng)
        else:
            other = binaural(utterance(b, n, rng), rng)
        other = other / level  # target / other power ratio = level_db
        gain = rng.uniform(0.05, 0.3) / max(np.abs(target + other).max(), 1e-9)
        target, other = target * gain, other * gain
        mixture = target + other
        out_target = np.concatenate([target, other]) if self.task == "ss" else target
        item: dict[str, Any] = {
            "mixture": torch.from_numpy(mixture.astype(np.float32)),
            "target": torch.from_numpy(out_target.astype(np.float32)),
            "kind": self.kinds[a % len(self.kinds)],
        }
        if self.task == "tse":
            item["speaker"] = torch.from_numpy(speaker_embedding(a))
        return item


def build_synthetic(spec: dict[str, Any]) -> SyntheticMixtures:
    """A :class:`SyntheticMixtures` from a recipe's ``[data]`` table (``source = "synthetic"``).

    Keys: task, n_items, seconds (or n_samples), seed, speakers = [lo, hi), level_db = [lo, hi],
    kinds = ["synthetic"] or ["real", "synthetic"], per_epoch (fresh items each epoch). Unknown keys
    are an error.
    """
    allowed = {"source", "task", "n_items", "seconds", "n_samples", "seed", "speakers", "level_db",
               "kinds", "split", "per_epoch"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"[data] for source 'synthetic': unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
    for key in ("task", "n_items"):
        if key not in spec:
            raise ValueError(f"[data] for source 'synthetic' needs {key!r}")
    n_samples = int(spec["n_samples"]) if "n_samples" in spec else int(round(float(spec.get("seconds", 1.0)) * SAMPLE_RATE))
    return SyntheticMixtures(
        task=spec["task"], n_items=int(spec["n_items"]), n_samples=n_samples, seed=int(spec.get("seed", 0)),
        speakers=tuple(spec.get("speakers", (0, 16))), level_db=tuple(spec.get("level_db", (-5.0, 5.0))),
        kinds=tuple(spec.get("kinds", ("synthetic",))), per_epoch=bool(spec.get("per_epoch", False)),
    )
