"""The on-disk format of the offline data cache, its writer and its (memory-mapped) reader. numpy only.

Layout of a cache directory::

    manifest.json            summary: speakers (kind, sex, split, minutes), noise, held-out lists
    ATTRIBUTION              licences and copyright notices of every source package
    speech/<speaker>.npy     int16 [n_samples]: the speaker's trimmed utterances, concatenated, 16 kHz
    speech/<speaker>.json    the speaker's metadata and utterance table [[offset, length, name], ...]
                             and ``enroll``: utterance indices usable as TSE enrollment
    noise/<source>.npy       int16 [n_samples]: the source's files, concatenated, 16 kHz
    noise/<source>.json      {"category", "licence", "items": [[offset, length, name, split], ...]}
    embeddings/<speaker>/<utterance index>.npy   float32 [256] d-vector (resemblyzer), written lazily

A speaker is finished once its ``.json`` exists (written after the ``.npy``, atomically), so an
interrupted build resumes where it stopped. Readers memory-map the ``.npy`` files: a dataset costs no
RAM per worker process and random windows are cheap.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
FORMAT_VERSION = 1
KINDS = ("real", "synthetic")
_INT16_SCALE = 32767.0
# Each utterance is stored at this RMS (dBFS), limited so that its peak stays below full scale.
_STORE_RMS_DB = -23.0
# Utterances usable as enrollment: at least this long; at most this many per speaker.
ENROLL_MIN_SECONDS = 1.5
ENROLL_MAX_PER_SPEAKER = 32


def default_cache_dir() -> Path:
    """``$KBOOST_DATA`` if set, else ``~/.cache/kboost/data``."""
    env = os.environ.get("KBOOST_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "kboost" / "data"


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, arr)
    os.replace(tmp, path)


def _to_int16(x: np.ndarray) -> np.ndarray:
    """Level-normalise one utterance (float, any scale) and quantise it to int16."""
    x = np.asarray(x, dtype=np.float64)
    rms = float(np.sqrt(np.mean(x * x))) if x.size else 0.0
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if rms <= 0.0:
        return np.zeros(x.shape, np.int16)
    gain = min(10 ** (_STORE_RMS_DB / 20) / rms, 0.98 / peak)
    return np.round(x * gain * _INT16_SCALE).astype(np.int16)


def write_speaker(cache: Path | str, speaker_id: str, utterances: list[np.ndarray], *, kind: str, split: str,
                  sex: str | None = None, lang: str | None = None, source: str = "", names: list[str] | None = None,
                  extra: dict | None = None, enroll_seed: int = 0) -> dict:
    """Write one speaker (a list of 16 kHz mono float utterances) into the cache; returns its metadata.

    The utterances are level-normalised, quantised to int16 and concatenated. Enrollment candidates
    are up to ``ENROLL_MAX_PER_SPEAKER`` utterances of at least ``ENROLL_MIN_SECONDS``, picked by a
    permutation seeded by ``enroll_seed`` (falling back to the longest ones when too few are long).
    """
    if kind not in KINDS:
        raise ValueError(f"speaker {speaker_id}: kind must be one of {KINDS}, got {kind!r}")
    if split not in ("train", "val", "test"):
        raise ValueError(f"speaker {speaker_id}: split must be train/val/test, got {split!r}")
    if not utterances:
        raise ValueError(f"speaker {speaker_id}: no utterances")
    cache = Path(cache)
    (cache / "speech").mkdir(parents=True, exist_ok=True)
    names = names or [f"u{i:05d}" for i in range(len(utterances))]
    parts = [_to_int16(u) for u in utterances]
    table, off = [], 0
    for p, n in zip(parts, names):
        table.append([off, int(p.size), n])
        off += int(p.size)
    _atomic_save_npy(cache / "speech" / f"{speaker_id}.npy", np.concatenate(parts))
    lengths = np.array([t[1] for t in table])
    long_ = np.flatnonzero(lengths >= ENROLL_MIN_SECONDS * SAMPLE_RATE)
    if long_.size < 2:  # too few long utterances: the longest ones
        long_ = np.argsort(-lengths)[: min(len(lengths), ENROLL_MAX_PER_SPEAKER)]
    rng = np.random.default_rng(enroll_seed)
    enroll = sorted(int(i) for i in rng.permutation(long_)[:ENROLL_MAX_PER_SPEAKER])
    meta = {"id": speaker_id, "kind": kind, "split": split, "sex": sex, "lang": lang, "source": source,
            "n_utterances": len(table), "seconds": round(off / SAMPLE_RATE, 3), "utterances": table,
            "enroll": enroll, **(extra or {})}
    _atomic_write_text(cache / "speech" / f"{speaker_id}.json", json.dumps(meta))
    return meta


def write_noise(cache: Path | str, source_id: str, items: list[tuple[str, str, np.ndarray]], *, category: str,
                licence: str = "", normalise: bool = True) -> dict:
    """Write one noise source: ``items`` = [(name, split, 16 kHz mono float audio), ...]."""
    if not items:
        raise ValueError(f"noise source {source_id}: no items")
    cache = Path(cache)
    (cache / "noise").mkdir(parents=True, exist_ok=True)
    table, parts, off = [], [], 0
    for name, split, x in items:
        p = _to_int16(x) if normalise else np.asarray(x, np.int16)
        parts.append(p)
        table.append([off, int(p.size), name, split])
        off += int(p.size)
    _atomic_save_npy(cache / "noise" / f"{source_id}.npy", np.concatenate(parts))
    meta = {"id": source_id, "category": category, "licence": licence, "seconds": round(off / SAMPLE_RATE, 3),
            "items": table}
    _atomic_write_text(cache / "noise" / f"{source_id}.json", json.dumps(meta))
    return meta


def write_manifest(cache: Path | str, held_out: dict | None = None, extra: dict | None = None) -> dict:
    """Summarise every finished speaker and noise source of ``cache`` into ``manifest.json``."""
    cache = Path(cache)
    speakers, noise = {}, {}
    for p in sorted((cache / "speech").glob("*.json")):
        m = json.loads(p.read_text())
        speakers[m["id"]] = {k: v for k, v in m.items() if k not in ("utterances", "enroll", "id")}
    for p in sorted((cache / "noise").glob("*.json")) if (cache / "noise").is_dir() else []:
        m = json.loads(p.read_text())
        per_split: dict[str, float] = {}
        for _, n, _, split in m["items"]:
            per_split[split] = per_split.get(split, 0.0) + n / SAMPLE_RATE
        noise[m["id"]] = {"category": m["category"], "licence": m["licence"], "n_items": len(m["items"]),
                          "seconds": {k: round(v, 1) for k, v in per_split.items()}}
    if not speakers:
        raise ValueError(f"{cache}: no speakers in {cache / 'speech'}")
    splits = {s: sorted(k for k, v in speakers.items() if v["split"] == s) for s in ("train", "val", "test")}
    manifest = {"version": FORMAT_VERSION, "sample_rate": SAMPLE_RATE,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "speakers": speakers, "splits": splits, "noise": noise,
                "held_out": held_out if held_out is not None else {s: splits[s] for s in ("val", "test")},
                **(extra or {})}
    _atomic_write_text(cache / "manifest.json", json.dumps(manifest, indent=1))
    return manifest


@dataclass
class Speaker:
    """A speaker of the cache, read-only. ``audio`` is the memory-mapped int16 array."""

    id: str
    kind: str
    split: str
    sex: str | None
    offsets: np.ndarray  # int64 [n_utterances]
    lengths: np.ndarray  # int64 [n_utterances]
    enroll: np.ndarray  # int64 [n_enroll]: utterance indices
    path: Path
    _audio: np.ndarray | None = None

    @property
    def audio(self) -> np.ndarray:
        if self._audio is None:
            self._audio = np.load(self.path, mmap_mode="r")
        return self._audio

    @property
    def n_samples(self) -> int:
        return int(self.offsets[-1] + self.lengths[-1])

    def utterance(self, k: int) -> np.ndarray:
        """Utterance ``k`` as float32 [length]."""
        o, n = int(self.offsets[k]), int(self.lengths[k])
        return np.asarray(self.audio[o:o + n], np.float32) / _INT16_SCALE

    def utterances_in(self, start: int, stop: int) -> np.ndarray:
        """Indices of the utterances that overlap samples [start, stop) of the packed audio."""
        ends = self.offsets + self.lengths
        return np.flatnonzero((self.offsets < stop) & (ends > start))


@dataclass
class NoiseItem:
    source: str
    category: str
    name: str
    offset: int
    length: int
    path: Path


class Corpus:
    """Read access to a cache directory (speakers and noise by split). Cheap to construct and to pickle
    (arrays are memory-mapped on first use, in whichever process uses them)."""

    def __init__(self, cache: Path | str):
        self.root = Path(cache).expanduser()
        mpath = self.root / "manifest.json"
        if not mpath.is_file():
            raise FileNotFoundError(
                f"{mpath} not found: build the offline data cache first (kboost data build --cache {self.root})")
        self.manifest = json.loads(mpath.read_text())
        if self.manifest.get("version") != FORMAT_VERSION or self.manifest.get("sample_rate") != SAMPLE_RATE:
            raise ValueError(f"{mpath}: format version {self.manifest.get('version')} at "
                             f"{self.manifest.get('sample_rate')} Hz, expected version {FORMAT_VERSION} at "
                             f"{SAMPLE_RATE} Hz: rebuild the cache")
        self.speakers: dict[str, Speaker] = {}
        for sid in self.manifest["speakers"]:
            m = json.loads((self.root / "speech" / f"{sid}.json").read_text())
            t = m["utterances"]
            self.speakers[sid] = Speaker(
                id=sid, kind=m["kind"], split=m["split"], sex=m.get("sex"),
                offsets=np.array([u[0] for u in t], np.int64), lengths=np.array([u[1] for u in t], np.int64),
                enroll=np.array(m["enroll"], np.int64), path=self.root / "speech" / f"{sid}.npy")
        self.noise: list[NoiseItem] = []
        self._noise_split: list[str] = []
        for src in self.manifest.get("noise", {}):
            m = json.loads((self.root / "noise" / f"{src}.json").read_text())
            for off, n, name, split in m["items"]:
                self.noise.append(NoiseItem(src, m["category"], name, int(off), int(n),
                                            self.root / "noise" / f"{src}.npy"))
                self._noise_split.append(split)
        self._noise_audio: dict[Path, np.ndarray] = {}

    def __getstate__(self):
        st = dict(self.__dict__)
        st["_noise_audio"] = {}
        st["speakers"] = {k: Speaker(**{**v.__dict__, "_audio": None}) for k, v in self.speakers.items()}
        return st

    def speaker_ids(self, split: str, kind: str | None = None) -> list[str]:
        """Sorted ids of the speakers of ``split`` (and ``kind`` if given)."""
        return sorted(k for k, s in self.speakers.items()
                      if s.split == split and (kind is None or s.kind == kind))

    def noise_items(self, split: str) -> list[NoiseItem]:
        return [n for n, s in zip(self.noise, self._noise_split) if s == split]

    def noise_audio(self, item: NoiseItem) -> np.ndarray:
        a = self._noise_audio.get(item.path)
        if a is None:
            a = self._noise_audio[item.path] = np.load(item.path, mmap_mode="r")
        return a[item.offset:item.offset + item.length]

    def embedding_path(self, speaker_id: str, utterance: int) -> Path:
        return self.root / "embeddings" / speaker_id / f"{utterance}.npy"
