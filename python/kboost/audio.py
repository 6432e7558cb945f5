"""WAV input/output for the runtime (soundfile), with the checks a user needs.

Arrays are channel-major float32 ``[n_channels, n_samples]`` at 16 kHz.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kboost.config import CHUNK_SIZE, LOOKAHEAD, N_IN_CHANNELS, SAMPLE_RATE


def read_wav(path: str | Path, n_channels: int = N_IN_CHANNELS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a WAV/FLAC/Ogg file as float32 [n_channels, N]; ValueError on a wrong sample rate or
    channel count, an empty file or non-finite samples."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"input audio {p} does not exist")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except RuntimeError as e:  # soundfile's LibsndfileError derives from RuntimeError
        raise ValueError(f"{p}: not a readable audio file ({e})") from None
    if sr != sample_rate:
        raise ValueError(f"{p}: sample rate {sr} Hz; kboost models run at {sample_rate} Hz (resample first)")
    if data.shape[1] != n_channels:
        raise ValueError(f"{p}: {data.shape[1]} channel(s); expected {n_channels} (binaural left, right)")
    if data.shape[0] == 0:
        raise ValueError(f"{p}: no samples")
    if not np.isfinite(data).all():
        bad = int(np.argmax(~np.isfinite(data).all(axis=1)))
        raise ValueError(f"{p}: sample {bad} is NaN or infinite")
    return np.ascontiguousarray(data.T)


def write_wav(path: str | Path, y: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float32 [n_channels, N] as a 32-bit float WAV (creating the folder)."""
    import soundfile as sf

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(p), np.ascontiguousarray(np.asarray(y, np.float32).T), sample_rate, subtype="FLOAT")


def pad_for_stream(x: np.ndarray, align: bool = True) -> np.ndarray:
    """Zero-pad [C, N] to whole chunks; with ``align``, also by the 64-sample lookahead so that
    :func:`unpad_stream` can return output aligned with the input."""
    n = x.shape[1] + (LOOKAHEAD if align else 0)
    n_pad = -n % CHUNK_SIZE + (n - x.shape[1])
    return np.pad(x, ((0, 0), (0, n_pad)))


def unpad_stream(y: np.ndarray, n: int, align: bool = True) -> np.ndarray:
    """Stream output of :func:`pad_for_stream`'s signal -> [C, n], lookahead removed if ``align``."""
    s = LOOKAHEAD if align else 0
    return y[:, s:s + n]
