"""Map-style torch Datasets for SS, TSE and SE, from the offline cache or the paper's layout.

Every item is a dict::

    "mixture": float32 [2, N]            binaural mixture (left, right), 16 kHz
    "target":  float32 [n_out, N]        SS: [s0 L, s0 R, s1 L, s1 R]; TSE / SE: [L, R]
    "speaker": float32 [256]             TSE only: d-vector of an enrollment utterance of the target
    "kind":    str                       "real" / "synthetic" (the target speaker's), for reporting

Determinism: val/test item i is a pure function of (seed, task, split, i): the same fixed list of
mixtures in every run and every process. Train items are drawn afresh each epoch from
(seed, epoch, i): call ``dataset.set_epoch(epoch)`` before each epoch (before the DataLoader's
workers start, i.e. without persistent workers, or the workers keep the old epoch).

The trainer builds datasets from a config section with ``build_dataset(spec)``.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from kboost_train.data.mix import TASKS, MixConfig, Mixer, Mixture
from kboost_train.data.paper import PaperLayout
from kboost_train.data.store import KINDS, SAMPLE_RATE, Corpus, default_cache_dir

SPLITS = ("train", "val", "test")
DEFAULT_SIZE = {"train": 20000, "val": 500, "test": 1000}
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_TASK_CODE = {"ss": 0, "tse": 1, "se": 2}


def _check(split: str, task: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


class _EpochDataset(Dataset):
    split: str
    seed: int
    task: str
    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        """Train: draw epoch ``epoch``'s items (val/test items never change)."""
        self.epoch = int(epoch)

    def rng(self, i: int) -> np.random.Generator:
        """The generator of item i: (seed, split, task, i) on val/test, plus the epoch on train."""
        key = [self.seed, _SPLIT_CODE[self.split], _TASK_CODE[self.task], i]
        if self.split == "train":
            key.append(self.epoch)
        return np.random.default_rng(key)


class MixtureDataset(_EpochDataset):
    """Binaural mixtures made on the fly from the offline cache (``kboost data build``).

    ``size`` items per epoch (default: 20000 train, 500 val, 1000 test). val/test alternate the
    target's kind (even items real, odd items synthetic) so both are reported. ``mix`` overrides
    fields of ``MixConfig`` (e.g. ``{"snr_db": [0, 10], "reverb_prob": 0.5}``).
    TSE d-vectors come from the cache (computed with resemblyzer and cached when missing).
    """

    def __init__(self, cache: Path | str | None = None, split: str = "train", task: str = "ss",
                 clip_seconds: float = 4.0, seed: int = 0, size: int | None = None, mix: dict | None = None):
        task = task.lower()
        _check(split, task)
        self.corpus = Corpus(cache if cache is not None else default_cache_dir())
        allowed = {f.name for f in fields(MixConfig)} - {"clip_seconds", "sample_rate"}
        unknown = set(mix or {}) - allowed
        if unknown:
            raise ValueError(f"unknown mix option(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
        opts = {k: tuple(v) if isinstance(v, list) else v for k, v in (mix or {}).items()}
        self.config = MixConfig(clip_seconds=float(clip_seconds), **opts)
        self.mixer = Mixer(self.corpus, split, task, self.config, reverb_seed=seed)
        self.split, self.task, self.seed = split, task, int(seed)
        self.size = int(size) if size is not None else DEFAULT_SIZE[split]
        if self.size <= 0:
            raise ValueError(f"size must be > 0, got {self.size}")

    def __len__(self) -> int:
        return self.size

    def draw(self, i: int) -> Mixture:
        """Item i as a numpy ``Mixture`` (with ``meta``: speakers, azimuths, SIR/SNR, noise)."""
        if not 0 <= i < self.size:
            raise IndexError(f"item {i} out of range [0, {self.size})")
        kind = None
        if self.split != "train" and len(self.mixer.kinds) == 2:
            kind = KINDS[i % 2]
        return self.mixer.mix(self.rng(i), kind)

    def describe(self, i: int) -> dict:
        """What item i is made of (for reports and for checking the fixed val/test lists)."""
        m = self.draw(i)
        return {"kind": m.kind, **m.meta}

    def __getitem__(self, i: int) -> dict:
        from kboost_train.data.embed import utterance_embedding

        m = self.draw(int(i))
        out = {"mixture": torch.from_numpy(m.mixture), "target": torch.from_numpy(m.target), "kind": m.kind}
        if self.task == "tse":
            out["speaker"] = torch.from_numpy(utterance_embedding(self.corpus, *m.enroll))
        return out


class PaperDataset(_EpochDataset):
    """The paper's layout (see ``kboost_train.data.paper``): SS and TSE.

    ``clip_seconds``: None keeps whole items (all must then have the same length to batch); else
    items are cropped (train: random offset per epoch; val/test: from the start) or zero-padded.
    ``size``: None = every item; train may ask for more (items repeat, with fresh crops and targets).
    """

    def __init__(self, root: Path | str, split: str = "train", task: str = "ss", clip_seconds: float | None = 4.0,
                 seed: int = 0, size: int | None = None):
        task = task.lower()
        _check(split, task)
        if task == "se":
            raise ValueError("the paper layout holds two-speaker items (SS / TSE); SE needs the offline cache "
                             "(source: offline)")
        self.layout = PaperLayout(root, split)
        self.split, self.task, self.seed = split, task, int(seed)
        n = len(self.layout)
        self.size = n if size is None else int(size)
        if self.size <= 0:
            raise ValueError(f"size must be > 0, got {self.size}")
        if split != "train" and self.size > n:
            raise ValueError(f"size {self.size} for {split}: at most {n} (the items in {self.layout.root / split})")
        self.clip_size = None if clip_seconds is None else int(round(clip_seconds * SAMPLE_RATE))

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict:
        i = int(i)
        if not 0 <= i < self.size:
            raise IndexError(f"item {i} out of range [0, {self.size})")
        rng = self.rng(i)
        k = i % len(self.layout)
        src = self.layout.sources(k)  # [2, 2, N]
        if self.clip_size is not None:
            n = src.shape[-1]
            if n >= self.clip_size:
                start = int(rng.integers(0, n - self.clip_size + 1)) if self.split == "train" else 0
                src = src[..., start:start + self.clip_size]
            else:
                src = np.pad(src, ((0, 0), (0, 0), (0, self.clip_size - n)))
        mixture = src[0] + src[1]
        out = {"mixture": torch.from_numpy(np.ascontiguousarray(mixture)), "kind": "real"}
        if self.task == "ss":
            out["target"] = torch.from_numpy(np.ascontiguousarray(src.reshape(4, -1)))
        else:
            t = int(rng.integers(0, 2))  # val/test: rng depends on (seed, i) only, so fixed per item
            out["target"] = torch.from_numpy(np.ascontiguousarray(src[t]))
            out["speaker"] = torch.from_numpy(self.layout.speaker_embeddings(k)[t])
        return out


SPEC_KEYS = ("source", "root", "task", "split", "clip_seconds", "n_items", "seed", "mix")


def build_dataset(spec: dict, split: str | None = None, seed: int | None = None) -> Dataset:
    """The dataset a config section describes::

        {"source": "offline" | "paper",   # default "offline"
         "root": PATH,                    # cache dir (default $KBOOST_DATA or ~/.cache/kboost/data) / paper root
         "task": "ss" | "tse" | "se",
         "split": "train" | "val" | "test",   # or the ``split`` argument (which wins)
         "clip_seconds": 4.0, "n_items": N, "seed": 0,
         "mix": {MixConfig overrides}}    # offline only

    ``seed`` (argument) overrides the spec's seed.
    """
    unknown = set(spec) - set(SPEC_KEYS)
    if unknown:
        raise ValueError(f"dataset spec: unknown key(s) {sorted(unknown)}; allowed: {list(SPEC_KEYS)}")
    if "task" not in spec:
        raise ValueError("dataset spec: 'task' is required (ss, tse or se)")
    source = spec.get("source", "offline")
    split = split or spec.get("split", "train")
    seed = int(seed if seed is not None else spec.get("seed", 0))
    clip = spec.get("clip_seconds", 4.0)
    if source == "offline":
        return MixtureDataset(spec.get("root"), split, spec["task"], 4.0 if clip is None else float(clip), seed,
                              spec.get("n_items"), spec.get("mix"))
    if source == "paper":
        if spec.get("root") is None:
            raise ValueError("dataset spec: source 'paper' needs 'root' (the directory holding train/ val/ test/)")
        if spec.get("mix"):
            raise ValueError("dataset spec: 'mix' applies to source 'offline' only")
        return PaperDataset(spec["root"], split, spec["task"], clip, seed, spec.get("n_items"))
    raise ValueError(f"dataset spec: source must be 'offline' or 'paper', got {source!r}")
