"""On-the-fly binaural mixtures for SS, TSE and SE, drawn from a cache ``Corpus``. numpy only.

A ``Mixer`` is bound to one split and task; ``Mixer.mix(rng)`` draws everything (speakers, windows,
azimuths, SIR/SNR, noise) from the numpy ``Generator`` it is given and returns a ``Mixture``, so a
mixture is a pure function of the generator's seed: the datasets seed it per item (val/test) or per
(epoch, item) (train).

Levels: SIR / SNR are ratios of the energies of the binaural images (both channels together) of the
target and of the interference / noise, exactly as requested (up to float32 rounding). After mixing,
mixture and targets are scaled together so the mixture's RMS is drawn from ``level_db`` (dBFS) and its
peak stays below 0.99; the ratios are unchanged.

Held-out speakers: a mixer only ever draws speakers of its own split (babble for SE is drawn from
training speakers only, whatever the split); noise recordings are split by file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kboost_train.data.spatial import RoomReverb, binaural, binaural_coarse
from kboost_train.data.store import KINDS, SAMPLE_RATE, Corpus, Speaker

TASKS = ("ss", "tse", "se")
NOISE_KINDS = ("coloured", "hum", "clicks", "babble", "music", "effects", "crowd")
_INT16 = 32767.0


@dataclass(frozen=True)
class MixConfig:
    """How mixtures are drawn. Ranges are (low, high), uniform."""

    clip_seconds: float = 4.0
    sir_db: tuple[float, float] = (-5.0, 5.0)  # SS / TSE: target over interferer
    snr_db: tuple[float, float] = (-5.0, 15.0)  # SE: speech over noise
    real_fraction: float = 0.5  # probability that a training mixture's target is a real speaker
    cross_kind_prob: float = 0.25  # train: interferer of the other kind (real vs synthetic)
    reverb_prob: float = 0.0  # probability of a reverberant room (needs pyroomacoustics)
    level_db: tuple[float, float] = (-33.0, -18.0)  # mixture RMS, dBFS
    min_separation_deg: float = 10.0  # SS / TSE: azimuth gap between the two speakers
    n_noise: tuple[int, int] = (1, 2)  # SE: number of noise components
    babble_talkers: tuple[int, int] = (3, 7)
    sample_rate: int = SAMPLE_RATE

    @property
    def clip_size(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))

    def validate(self) -> None:
        if self.clip_seconds <= 0:
            raise ValueError(f"clip_seconds must be > 0, got {self.clip_seconds}")
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"sample_rate must be {SAMPLE_RATE}, got {self.sample_rate}")
        for name in ("sir_db", "snr_db", "level_db"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: low {lo} > high {hi}")
        if not 0.0 <= self.min_separation_deg <= 60.0:
            raise ValueError(f"min_separation_deg must be in [0, 60], got {self.min_separation_deg}")
        if not 0.0 <= self.real_fraction <= 1.0:
            raise ValueError(f"real_fraction must be in [0, 1], got {self.real_fraction}")


@dataclass
class Mixture:
    """One mixture. ``mixture`` float32 [2, N]; ``target`` float32 [n_out, N] (SS: s0 L, s0 R, s1 L,
    s1 R; TSE/SE: L, R); ``enroll`` = (speaker id, utterance index) for TSE; ``meta`` describes the
    draw (speakers, azimuths, ratios, noise)."""

    mixture: np.ndarray
    target: np.ndarray
    kind: str
    enroll: tuple[str, int] | None = None
    meta: dict = field(default_factory=dict)


def energy(x: np.ndarray) -> float:
    """Sum of squares (float64 result; float32 inputs are reduced by BLAS in single precision, which
    is accurate to ~1e-6 relative here)."""
    x = np.ascontiguousarray(x).ravel()
    return float(np.dot(x, x))


def _scale_to_ratio(ref: np.ndarray, other: np.ndarray, ratio_db: float) -> np.ndarray:
    """``other`` scaled so that 10 log10(E(ref) / E(other)) == ratio_db."""
    e_ref, e_oth = energy(ref), energy(other)
    if e_oth <= 0.0:
        return other
    return (other * np.float32(np.sqrt(e_ref / (e_oth * 10 ** (ratio_db / 10))))).astype(np.float32)


# ---- synthetic noise ----------------------------------------------------------------------------

def coloured_noise(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Gaussian noise with a 1/f^beta power spectrum (0 white, 1 pink, 2 brown), unit RMS [n]."""
    from scipy import fft

    m = fft.next_fast_len(n, real=True)
    spec = fft.rfft(rng.standard_normal(m, dtype=np.float32))
    f = np.arange(spec.shape[0], dtype=np.float32)
    f[0] = 1.0
    spec *= f ** np.float32(-beta / 2)
    x = fft.irfft(spec, m)[:n]
    return x / np.float32(max(np.sqrt(energy(x) / n), 1e-12))


def hum(rng: np.random.Generator, n: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mains hum: 50 or 60 Hz (+-1%) with random harmonics and a faint hiss, unit RMS [n]."""
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.01, 0.01))
    # one period-exact table of the harmonic sum, read at the hum's rate (float32 throughout)
    k = np.arange(1, int(rng.integers(3, 13)) + 1)
    amp = (k ** -rng.uniform(0.3, 2.0)).astype(np.float32)
    ph = rng.uniform(0, 2 * np.pi, k.size).astype(np.float32)
    table_size = 4096
    th = np.arange(table_size, dtype=np.float32) * np.float32(2 * np.pi / table_size)
    table = np.zeros(table_size, np.float32)
    for kk, a, p in zip(k, amp, ph):
        if f0 * kk < sample_rate / 2:
            table += a * np.sin(kk * th + p)
    idx = (np.arange(n, dtype=np.float64) * (f0 / sample_rate * table_size)).astype(np.int64) % table_size
    x = table[idx]
    x /= np.float32(max(np.sqrt(energy(x) / n), 1e-12))
    x += np.float32(0.03) * rng.standard_normal(n, dtype=np.float32)
    return x / np.float32(np.sqrt(energy(x) / n))


def clicks(rng: np.random.Generator, n: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Clicks and crackle: Poisson bursts (1-10 ms, exponentially decaying) over a faint hiss, unit RMS."""
    x = 0.01 * rng.standard_normal(n, dtype=np.float32)
    rate = rng.uniform(2.0, 30.0)
    for _ in range(int(rng.poisson(rate * n / sample_rate))):
        m = int(rng.integers(16, 160))
        at = int(rng.integers(0, max(1, n - m)))
        burst = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 4))
        x[at:at + m] += np.float32(10 ** rng.uniform(-1, 0)) * burst[: n - at].astype(np.float32)
    return x / np.float32(np.sqrt(energy(x) / n))


# ---- the mixer ----------------------------------------------------------------------------------

class Mixer:
    """Draws binaural mixtures of one ``task`` ("ss", "tse", "se") from the speakers of one ``split``.

    Not thread-safe (memoises reverb responses); give each worker process its own (a pickled copy
    is fine: DataLoader workers each get one).
    """

    def __init__(self, corpus: Corpus, split: str, task: str, config: MixConfig | None = None,
                 reverb_seed: int = 0):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train/val/test, got {split!r}")
        self.corpus, self.split, self.task = corpus, split, task
        self.config = config or MixConfig()
        self.config.validate()
        self.by_kind = {k: corpus.speaker_ids(split, k) for k in KINDS}
        self.all_ids = corpus.speaker_ids(split)
        need = 1 if task == "se" else 2
        if len(self.all_ids) < need:
            raise ValueError(f"split {split!r} of {corpus.root} has {len(self.all_ids)} speaker(s); task {task} "
                             f"needs at least {need}")
        self.babble_ids = corpus.speaker_ids("train")
        self.babble_by_kind = {k: corpus.speaker_ids("train", k) for k in KINDS}
        self.noise_by_cat: dict[str, list] = {}
        for item in corpus.noise_items(split):
            self.noise_by_cat.setdefault(item.category, []).append(item)
        self.noise_kinds = (["coloured", "hum", "clicks"] + (["babble"] if len(self.babble_ids) >= 3 else [])
                            + sorted(self.noise_by_cat))
        self._reverb_seed = reverb_seed
        self._reverb: RoomReverb | None = None

    @property
    def kinds(self) -> list[str]:
        """The kinds (real / synthetic) that have speakers in this split."""
        return [k for k in KINDS if self.by_kind[k]]

    # -- pieces --
    def _speaker(self, sid: str) -> Speaker:
        return self.corpus.speakers[sid]

    def _window(self, spk: Speaker, rng: np.random.Generator, n: int,
                exclude: tuple[int, int] | None = None) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """A random window [n] of the speaker's packed audio (with samples [o, o + l) of ``exclude``
        cut out); tiled when the speaker has less than n samples. Returns (audio float32 [n], the
        ranges [start, stop) of packed samples it was read from)."""
        audio = spk.audio
        total = spk.n_samples
        if exclude is None:
            pieces = [(0, total)]
        else:
            o, ln = exclude
            pieces = [p for p in ((0, o), (o + ln, total)) if p[1] > p[0]]
        avail = sum(b - a for a, b in pieces)
        if avail <= 0:
            raise ValueError(f"speaker {spk.id}: no audio left outside its enrollment utterance")
        start = int(rng.integers(0, avail - n + 1)) if avail >= n else int(rng.integers(0, avail))
        out = np.empty(n, np.float32)
        ranges: list[tuple[int, int]] = []
        filled, pos = 0, start
        while filled < n:  # walk the (virtual) concatenation of pieces, wrapping round
            pos %= avail
            acc = 0
            for a, b in pieces:
                if pos < acc + (b - a):
                    s = a + (pos - acc)
                    take = min(n - filled, b - s)
                    out[filled:filled + take] = audio[s:s + take]
                    ranges.append((s, s + take))
                    filled += take
                    pos += take
                    break
                acc += b - a
        out *= np.float32(1.0 / _INT16)
        return out, ranges

    def _azimuths(self, rng: np.random.Generator, k: int) -> list[float]:
        sep = self.config.min_separation_deg
        out: list[float] = []
        while len(out) < k:
            a = float(rng.uniform(-90.0, 90.0))
            if all(abs(a - b) >= sep for b in out):
                out.append(a)
        return out

    def _image(self, x: np.ndarray, az: float, room: int | None) -> np.ndarray:
        if room is None:
            return binaural(x, az, self.config.sample_rate)
        if self._reverb is None:
            self._reverb = RoomReverb(seed=self._reverb_seed)
        return self._reverb.render(x, az, room)

    def _room(self, rng: np.random.Generator) -> int | None:
        if self.config.reverb_prob > 0 and rng.random() < self.config.reverb_prob:
            return int(rng.integers(0, 1 << 30))
        return None

    def _pick_kind(self, rng: np.random.Generator, kind: str | None) -> str:
        kinds = self.kinds
        if kind is None:
            kind = "real" if rng.random() < self.config.real_fraction else "synthetic"
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS} or None, got {kind!r}")
        return kind if kind in kinds else kinds[0]

    def _two_speakers(self, rng: np.random.Generator, kind: str) -> tuple[str, str]:
        target = str(rng.choice(self.by_kind[kind]))
        pool = self.by_kind[kind]
        other_kind = [k for k in self.kinds if k != kind]
        if (self.split == "train" and other_kind and rng.random() < self.config.cross_kind_prob) or len(pool) < 2:
            pool = self.all_ids
        pool = [s for s in pool if s != target]
        return target, str(rng.choice(pool))

    def _level(self, rng: np.random.Generator, mixture: np.ndarray, target: np.ndarray):
        rms = np.sqrt(energy(mixture) / mixture.size)
        if rms <= 0:
            return mixture, target
        g = 10 ** (rng.uniform(*self.config.level_db) / 20) / rms
        peak = float(np.max(np.abs(mixture))) * g
        if peak > 0.99:
            g *= 0.99 / peak
        g = np.float32(g)
        return mixture * g, target * g

    # -- noise for SE --
    def _noise_component(self, rng: np.random.Generator, kind: str, n: int, room: int | None,
                         meta: dict, target: str = "") -> np.ndarray:
        sr = self.config.sample_rate
        if kind in ("coloured", "hum", "clicks"):
            gen = {"coloured": lambda: coloured_noise(rng, n, float(rng.uniform(0.0, 2.0))),
                   "hum": lambda: hum(rng, n, sr), "clicks": lambda: clicks(rng, n, sr)}[kind]
            if kind == "coloured" and rng.random() < 0.5:  # diffuse: independent ears
                return np.stack([gen(), gen()])
            return self._image(gen(), float(rng.uniform(-90, 90)), room)
        if kind == "babble":
            k = int(rng.integers(self.config.babble_talkers[0], self.config.babble_talkers[1] + 1))
            # talkers of both kinds (real_fraction real), never the target, never the same one twice
            ids: list[str] = []
            for _ in range(min(k, len(self.babble_ids) - 1)):
                want = "real" if rng.random() < self.config.real_fraction else "synthetic"
                pool = [s for s in self.babble_by_kind[want] if s not in ids and s != target] or \
                    [s for s in self.babble_ids if s not in ids and s != target]
                ids.append(str(rng.choice(pool)))
            meta.setdefault("babble_speakers", []).extend(ids)
            out = np.zeros((2, n), np.float32)
            for sid in ids:
                x, _ = self._window(self._speaker(sid), rng, n)
                az = float(rng.uniform(-90, 90))
                img = binaural_coarse(x, az, self.config.sample_rate) if room is None else self._image(x, az, room)
                out += img * np.float32(10 ** (rng.uniform(-3, 3) / 20) / np.sqrt(max(energy(img), 1e-12)))
            return out
        items = self.noise_by_cat[kind]
        item = items[int(rng.integers(0, len(items)))]
        meta.setdefault("noise_items", []).append(f"{item.source}/{item.name}")
        audio = self.corpus.noise_audio(item)
        start = int(rng.integers(0, max(1, item.length - n + 1)))
        x = np.asarray(np.resize(audio[start:] if item.length - start >= n else audio, n), np.float32) / _INT16
        return self._image(x, float(rng.uniform(-90, 90)), room)

    # -- the mixers --
    def mix(self, rng: np.random.Generator, kind: str | None = None) -> Mixture:
        """One mixture drawn from ``rng``. ``kind`` ("real"/"synthetic") forces the target's kind
        (val/test sets alternate it); None draws it with ``config.real_fraction``."""
        return {"ss": self.mix_ss, "tse": self.mix_tse, "se": self.mix_se}[self.task](rng, kind)

    def mix_ss(self, rng: np.random.Generator, kind: str | None = None) -> Mixture:
        n = self.config.clip_size
        kind = self._pick_kind(rng, kind)
        s0, s1 = self._two_speakers(rng, kind)
        room = self._room(rng)
        az = self._azimuths(rng, 2)
        x0, _ = self._window(self._speaker(s0), rng, n)
        x1, _ = self._window(self._speaker(s1), rng, n)
        y0, y1 = self._image(x0, az[0], room), self._image(x1, az[1], room)
        sir = float(rng.uniform(*self.config.sir_db))
        y1 = _scale_to_ratio(y0, y1, sir)
        mixture, target = self._level(rng, y0 + y1, np.concatenate([y0, y1]))
        return Mixture(mixture, target, kind, None,
                       {"speakers": [s0, s1], "azimuths": az, "sir_db": sir, "reverb": room is not None})

    def mix_tse(self, rng: np.random.Generator, kind: str | None = None) -> Mixture:
        n = self.config.clip_size
        kind = self._pick_kind(rng, kind)
        s0, s1 = self._two_speakers(rng, kind)
        spk = self._speaker(s0)
        enroll = int(spk.enroll[int(rng.integers(0, len(spk.enroll)))]) if len(spk.enroll) else 0
        room = self._room(rng)
        az = self._azimuths(rng, 2)
        x0, ranges = self._window(spk, rng, n, exclude=(int(spk.offsets[enroll]), int(spk.lengths[enroll])))
        used = sorted({int(u) for a, b in ranges for u in spk.utterances_in(a, b)})
        x1, _ = self._window(self._speaker(s1), rng, n)
        y0, y1 = self._image(x0, az[0], room), self._image(x1, az[1], room)
        sir = float(rng.uniform(*self.config.sir_db))
        y1 = _scale_to_ratio(y0, y1, sir)
        mixture, target = self._level(rng, y0 + y1, y0)
        return Mixture(mixture, target, kind, (s0, enroll),
                       {"speakers": [s0, s1], "azimuths": az, "sir_db": sir, "enroll_utterance": enroll,
                        "target_utterances": used, "target_ranges": ranges,
                        "reverb": room is not None})

    def mix_se(self, rng: np.random.Generator, kind: str | None = None) -> Mixture:
        n = self.config.clip_size
        kind = self._pick_kind(rng, kind)
        s0 = str(rng.choice(self.by_kind[kind]))
        room = self._room(rng)
        az = float(rng.uniform(-90, 90))
        x0, _ = self._window(self._speaker(s0), rng, n)
        y0 = self._image(x0, az, room)
        k = int(rng.integers(self.config.n_noise[0], self.config.n_noise[1] + 1))
        kinds = [str(rng.choice(self.noise_kinds)) for _ in range(k)]
        noise = np.zeros_like(y0)
        meta: dict = {}
        for nk in kinds:
            c = self._noise_component(rng, nk, n, room, meta, target=s0)
            noise += c * np.float32(10 ** (rng.uniform(-6, 0) / 20) / np.sqrt(max(energy(c), 1e-12)))
        snr = float(rng.uniform(*self.config.snr_db))
        noise = _scale_to_ratio(y0, noise, snr)
        mixture, target = self._level(rng, y0 + noise, y0)
        return Mixture(mixture, target, kind, None,
                       {"speakers": [s0], "azimuths": [az], "snr_db": snr, "noise": kinds,
                        "reverb": room is not None, **meta})
