"""256-d speaker d-vectors for TSE: resemblyzer's GE2E encoder (its weights ship inside the PyPI
wheel), cached per utterance under ``<cache>/embeddings/<speaker>/<utterance>.npy``.

Install: ``pip install --no-deps resemblyzer && pip install librosa webrtcvad-wheels`` (resemblyzer's
own pins pull in ``webrtcvad``, which compiles from source; ``webrtcvad-wheels`` is the same module
prebuilt). ``kboost data build`` precomputes the d-vectors of every enrollment candidate; anything
missing is computed on first use and written (atomically, so concurrent workers are safe).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kboost_train.data.store import SAMPLE_RATE, Corpus

EMBED_DIM = 256
INSTALL_HINT = "pip install --no-deps resemblyzer && pip install librosa webrtcvad-wheels"

_encoder = None


def resemblyzer_available() -> bool:
    try:
        import resemblyzer  # noqa: F401
    except ImportError:
        return False
    return True


def encoder():
    """The process-wide resemblyzer VoiceEncoder on the CPU (loaded once)."""
    global _encoder
    if _encoder is None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as e:
            raise ImportError(f"TSE d-vectors need resemblyzer ({e}): {INSTALL_HINT}") from e
        _encoder = VoiceEncoder("cpu", verbose=False)
    return _encoder


def dvector(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """d-vector float32 [256] (unit norm) of mono audio [N] at ``sample_rate``."""
    from resemblyzer import preprocess_wav

    wav = preprocess_wav(np.asarray(audio, np.float32), source_sr=sample_rate)
    if wav.size < sample_rate // 4:  # voice activity trimmed (almost) everything: use the raw audio
        wav = np.asarray(audio, np.float32)
    return np.asarray(encoder().embed_utterance(wav), np.float32)


def utterance_embedding(corpus: Corpus, speaker_id: str, utterance: int, compute: bool = True) -> np.ndarray:
    """The cached d-vector [256] of one utterance; computed and cached when missing (if ``compute``)."""
    path = corpus.embedding_path(speaker_id, utterance)
    if path.is_file():
        e = np.load(path)
        if e.shape != (EMBED_DIM,):
            raise ValueError(f"{path}: d-vector of shape {e.shape}, expected ({EMBED_DIM},): delete it")
        return e.astype(np.float32)
    if not compute:
        raise FileNotFoundError(f"{path}: no cached d-vector (run kboost data build --cache {corpus.root})")
    if not resemblyzer_available():
        raise ImportError(f"{path} is not cached and resemblyzer is not installed to compute it: {INSTALL_HINT} "
                          f"(or run kboost data build, which precomputes them)")
    e = dvector(corpus.speakers[speaker_id].utterance(utterance))
    save_embedding(path, e)
    return e


def save_embedding(path: Path, e: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npy")
    np.save(tmp, np.asarray(e, np.float32))
    os.replace(tmp, path)


def precompute(corpus: Corpus, progress: bool = True) -> int:
    """d-vectors of every enrollment candidate of every speaker; returns how many were computed."""
    import torch
    from tqdm import tqdm

    torch.set_num_threads(1)  # the encoder is tiny: more threads only contend (0.1 s vs > 1 s per utterance)
    todo = [(sid, int(u)) for sid, s in corpus.speakers.items() for u in s.enroll
            if not corpus.embedding_path(sid, int(u)).is_file()]
    for sid, u in tqdm(todo, desc="d-vectors", unit="utt", disable=not progress or not todo):
        utterance_embedding(corpus, sid, u)
    return len(todo)
