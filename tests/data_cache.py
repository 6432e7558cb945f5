"""A tiny offline data cache in the cache's own format, made in a test's tmp dir (no network).

Speakers are harmonic tone bursts with speaker-specific fundamentals and noise colours, so their
spectra differ; utterances are 0.6-2.5 s. Enrollment d-vectors are written as fixed random unit
vectors (the resemblyzer path has its own test), so TSE works without resemblyzer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kboost_train.data.store import SAMPLE_RATE, Corpus, write_manifest, write_noise, write_speaker

# id -> (kind, split, sex, f0 Hz)
SPEAKERS = {
    "real-a": ("real", "train", "f", 210.0), "real-b": ("real", "train", "m", 110.0),
    "real-c": ("real", "train", "f", 250.0), "syn-a": ("synthetic", "train", "m", 95.0),
    "syn-b": ("synthetic", "train", "f", 190.0), "syn-c": ("synthetic", "train", "m", 130.0),
    "real-v": ("real", "val", "f", 230.0), "syn-v": ("synthetic", "val", "m", 120.0),
    "syn-v2": ("synthetic", "val", "f", 175.0),
    "real-t1": ("real", "test", "f", 200.0), "real-t2": ("real", "test", "m", 100.0),
    "syn-t": ("synthetic", "test", "m", 140.0),
}


def utterance(rng: np.random.Generator, f0: float, seconds: float) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 3) * t))
    phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    x = sum(k ** -1.0 * np.sin(k * phase) for k in range(1, 12))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(2, 5) * t) ** 2) + 0.05 * rng.standard_normal(n)
    return x.astype(np.float32)


def make_tiny_cache(root: Path, n_utterances: int = 12) -> Corpus:
    root = Path(root)
    for j, (sid, (kind, split, sex, f0)) in enumerate(SPEAKERS.items()):
        rng = np.random.default_rng(j)
        utts = [utterance(rng, f0, float(rng.uniform(0.6, 2.5))) for _ in range(n_utterances)]
        meta = write_speaker(root, sid, utts, kind=kind, split=split, sex=sex, source="test", enroll_seed=j)
        d = root / "embeddings" / sid
        d.mkdir(parents=True, exist_ok=True)
        for u in meta["enroll"]:
            e = np.random.default_rng([j, u]).standard_normal(256).astype(np.float32)
            np.save(d / f"{u}.npy", e / np.linalg.norm(e))
    rng = np.random.default_rng(99)
    items = [(f"tune{i}.ogg", split, rng.standard_normal(int(SAMPLE_RATE * 1.5)).astype(np.float32)
              * np.sin(np.linspace(0, 40, int(SAMPLE_RATE * 1.5))).astype(np.float32))
             for i, split in enumerate(["train", "train", "val", "test"])]
    write_noise(root, "tunes", items, category="music")
    write_manifest(root)
    return Corpus(root)
