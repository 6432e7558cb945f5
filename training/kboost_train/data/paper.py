"""The paper's own dataset layout (for users who have it)::

    <root>/{train,val,test}/<n>/source00.wav, source01.wav    binaural (2-channel) 16 kHz sources
                                spk_id00.pt, spk_id01.pt      256-d d-vectors of the two speakers (TSE)

The mixture is the sum of the two sources. For TSE the target is one of the two sources: drawn at
random per read on train, but FIXED per item on val/test (drawn once from (seed, item)), so that
validation and test scores are comparable from run to run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SOURCE_FILES = ("source00.wav", "source01.wav")
SPEAKER_FILES = ("spk_id00.pt", "spk_id01.pt")
EMBED_DIM = 256


class PaperLayout:
    """The items of one split of the paper layout: ``<root>/<split>/<n>/``, sorted by n."""

    def __init__(self, root: Path | str, split: str):
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train/val/test, got {split!r}")
        self.root = Path(root).expanduser()
        d = self.root / split
        if not d.is_dir():
            raise FileNotFoundError(f"{d}: no such directory (expected the paper layout "
                                    f"<root>/{{train,val,test}}/<n>/source00.wav, source01.wav)")
        items = [p for p in d.iterdir() if p.is_dir() and p.name.isdigit()]
        if not items:
            raise FileNotFoundError(f"{d}: no item directories <n>/ (expected <n>/source00.wav, source01.wav)")
        self.items = sorted(items, key=lambda p: int(p.name))
        self.split = split

    def __len__(self) -> int:
        return len(self.items)

    def sources(self, k: int) -> np.ndarray:
        """The two binaural sources of item ``k``: float32 [2 sources, 2 channels, N]."""
        import soundfile as sf

        out = []
        for name in SOURCE_FILES:
            path = self.items[k] / name
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing (each item needs {' and '.join(SOURCE_FILES)})")
            x, rate = sf.read(str(path), dtype="float32", always_2d=True)
            if rate != SAMPLE_RATE:
                raise ValueError(f"{path}: sample rate {rate} Hz, expected {SAMPLE_RATE}")
            if x.shape[1] != 2:
                raise ValueError(f"{path}: {x.shape[1]} channel(s), expected 2 (binaural)")
            out.append(x.T)
        if out[0].shape != out[1].shape:
            raise ValueError(f"{self.items[k]}: sources of different lengths {out[0].shape[1]} and {out[1].shape[1]}")
        return np.stack(out)

    def speaker_embeddings(self, k: int) -> np.ndarray:
        """The d-vectors of item ``k``'s two speakers: float32 [2, 256]."""
        import torch

        out = []
        for name in SPEAKER_FILES:
            path = self.items[k] / name
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing (TSE needs {' and '.join(SPEAKER_FILES)})")
            e = torch.load(path, map_location="cpu", weights_only=True)
            e = np.asarray(e.detach().numpy() if hasattr(e, "detach") else e, np.float32).reshape(-1)
            if e.shape != (EMBED_DIM,):
                raise ValueError(f"{path}: d-vector with {e.size} values, expected {EMBED_DIM}")
            out.append(e)
        return np.stack(out)
