"""Binaural rendering of a mono source: interaural time and level differences (ITD/ILD) from a
spherical-head model, and optional shoebox-room reverb (pyroomacoustics, when installed). numpy only.

Conventions: azimuth in degrees, 0 = straight ahead, +90 = the right ear's side, -90 = the left.
Outputs are float32 [2, N], channel 0 = left, 1 = right, at 16 kHz.

- ITD (Woodworth's spherical head): ``itd = a / c * (theta + sin theta)`` for |theta| <= 90 deg,
  a = 8.75 cm, c = 343 m/s, at most 0.66 ms (10.5 samples). A positive ITD means the left ear
  hears the source later. Applied as an exact fractional delay in the frequency domain.
- ILD (head shadow): the far ear is attenuated by ``|sin theta| * (1.5 + 8.5 f / (f + 1500 Hz))``
  dB: about 1.5 dB at low frequencies rising to about 9 dB at 8 kHz for a source at the side.
  The near ear is unchanged.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SAMPLE_RATE = 16000
HEAD_RADIUS_M = 0.0875
SPEED_OF_SOUND_M_S = 343.0
MAX_ITD_SAMPLES = HEAD_RADIUS_M / SPEED_OF_SOUND_M_S * (math.pi / 2 + 1) * SAMPLE_RATE  # ~10.5
_PAD = 32  # > max ITD: the delayed tail never wraps round into the start


def itd_seconds(azimuth_deg: float) -> float:
    """Interaural time difference (left arrival minus right arrival) in seconds."""
    th = math.radians(max(-90.0, min(90.0, float(azimuth_deg))))
    return math.copysign(HEAD_RADIUS_M / SPEED_OF_SOUND_M_S * (abs(th) + math.sin(abs(th))), th)


def ild_db(freqs_hz: np.ndarray, azimuth_deg: float) -> np.ndarray:
    """Attenuation (dB, >= 0) of the far ear at each frequency."""
    s = abs(math.sin(math.radians(max(-90.0, min(90.0, float(azimuth_deg))))))
    return s * (1.5 + 8.5 * freqs_hz / (freqs_hz + 1500.0))


@lru_cache(maxsize=16)
def _grid(n_fft: int, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    return f, -2j * np.pi * f


@lru_cache(maxsize=16)
def _grid32(n_fft: int, sample_rate: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, 1.0 / sample_rate).astype(np.float32)


def _fast_len(n: int) -> int:
    from scipy.fft import next_fast_len

    return next_fast_len(n, real=True)


def far_ear_filter(n_fft: int, azimuth_deg: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The far ear's rfft-domain filter, complex64 [n_fft // 2 + 1]: the head-shadow attenuation and
    the |ITD| delay. The near ear hears the source unfiltered (the model's time origin)."""
    f = _grid32(n_fft, sample_rate)
    gain = np.power(np.float32(10.0), ild_db(f, azimuth_deg).astype(np.float32) / np.float32(-20.0))
    phase = f * np.float32(2 * np.pi * abs(itd_seconds(azimuth_deg)))
    h = np.empty(f.shape, np.complex64)
    h.real = gain * np.cos(phase)
    h.imag = -gain * np.sin(phase)
    return h


def binaural(x: np.ndarray, azimuth_deg: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Render mono ``x`` [N] at ``azimuth_deg``: float32 [2, N] (left, right), free field, no reverb.

    The near ear gets ``x`` itself; the far ear ``x`` delayed by |ITD| and shadowed by the ILD (one
    real FFT pair, single precision)."""
    from scipy import fft

    x = np.asarray(x, np.float32)
    if x.ndim != 1:
        raise ValueError(f"binaural: expected mono audio [N], got shape {x.shape}")
    n = x.shape[0]
    out = np.empty((2, n), np.float32)
    near, far = (1, 0) if azimuth_deg > 0 else (0, 1)
    out[near] = x
    if azimuth_deg == 0:
        out[far] = x
        return out
    n_fft = _fast_len(n + _PAD)
    spec = fft.rfft(x, n_fft)
    spec *= far_ear_filter(n_fft, azimuth_deg, sample_rate)
    out[far] = fft.irfft(spec, n_fft)[:n]
    return out


def binaural_coarse(x: np.ndarray, azimuth_deg: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A cheap rendering for diffuse backgrounds (babble): the ITD rounded to whole samples and a
    broadband ILD (the head shadow at 1 kHz). float32 [2, N]."""
    x = np.asarray(x, np.float32)
    n = x.shape[0]
    out = np.empty((2, n), np.float32)
    near, far = (1, 0) if azimuth_deg > 0 else (0, 1)
    out[near] = x
    d = int(round(abs(itd_seconds(azimuth_deg)) * sample_rate))
    g = np.float32(10 ** (-float(ild_db(np.array([1000.0]), azimuth_deg)[0]) / 20))
    out[far, :d] = 0.0
    np.multiply(x[: n - d], g, out=out[far, d:])
    return out


class RoomReverb:
    """Random shoebox rooms with two ears (pyroomacoustics image-source model) plus the head-shadow
    ILD above. Impulse responses are memoised per (room, azimuth bin), so a long training run
    reuses a bank of ``n_rooms`` x 37 (5-degree bins) responses instead of simulating every mixture.

    ``rt60_s`` is the range of reverberation times drawn per room. Raises ImportError with the
    install command when pyroomacoustics is missing.
    """

    def __init__(self, n_rooms: int = 64, seed: int = 0, rt60_s: tuple[float, float] = (0.15, 0.6),
                 sample_rate: int = SAMPLE_RATE):
        try:
            import pyroomacoustics  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("reverb needs pyroomacoustics: pip install pyroomacoustics "
                              "(or pip install 'kboost[data]')") from e
        rng = np.random.default_rng([seed, 7331])
        self.sample_rate = sample_rate
        self.rooms = []
        for _ in range(n_rooms):
            dim = np.array([rng.uniform(3, 9), rng.uniform(3, 8), rng.uniform(2.4, 3.5)])
            head = np.array([rng.uniform(1.2, dim[0] - 1.2), rng.uniform(1.2, dim[1] - 1.2), rng.uniform(1.1, 1.8)])
            yaw = rng.uniform(0, 2 * math.pi)
            self.rooms.append((dim, head, yaw, float(rng.uniform(*rt60_s)), float(rng.uniform(0.7, 1.1))))
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def rir(self, room: int, azimuth_deg: float) -> np.ndarray:
        """Impulse responses [2, L] (left, right) of ``room`` for a source at ``azimuth_deg`` (rounded to
        5 degrees)."""
        import pyroomacoustics as pra

        az_bin = int(round(max(-90.0, min(90.0, azimuth_deg)) / 5.0))
        key = (room % len(self.rooms), az_bin)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        dim, head, yaw, rt60, dist = self.rooms[key[0]]
        absorption, max_order = pra.inverse_sabine(rt60, dim)
        r = pra.ShoeBox(dim, fs=self.sample_rate, materials=pra.Material(absorption), max_order=min(max_order, 17))
        # facing direction = yaw; +azimuth to the right (clockwise seen from above)
        face = np.array([math.cos(yaw), math.sin(yaw), 0.0])
        right = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
        th = math.radians(az_bin * 5.0)
        src = head + dist * (math.cos(th) * face + math.sin(th) * right)
        src = np.clip(src, 0.2, dim - 0.2)
        ears = np.stack([head - HEAD_RADIUS_M * right, head + HEAD_RADIUS_M * right], axis=1)
        r.add_source(src)
        r.add_microphone_array(pra.MicrophoneArray(ears, self.sample_rate))
        r.compute_rir()
        n = max(len(r.rir[0][0]), len(r.rir[1][0]))
        h = np.zeros((2, n), np.float32)
        for ch in range(2):
            h[ch, :len(r.rir[ch][0])] = r.rir[ch][0]
        # head shadow on top of the free-field geometry
        from scipy import fft

        n_fft = _fast_len(n)
        f, _ = _grid(n_fft, self.sample_rate)
        far = 10 ** (-ild_db(f, az_bin * 5.0) / 20)
        spec = fft.rfft(h, n_fft, axis=-1)
        if az_bin > 0:
            spec[0] *= far
        elif az_bin < 0:
            spec[1] *= far
        h = fft.irfft(spec, n_fft, axis=-1)[:, :n].astype(np.float32)
        h /= max(float(np.max(np.abs(h))), 1e-9)
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[key] = h
        return h

    def render(self, x: np.ndarray, azimuth_deg: float, room: int) -> np.ndarray:
        """Reverberant binaural image [2, N] of mono ``x`` [N] (same length, the tail cut)."""
        from scipy.signal import oaconvolve

        h = self.rir(room, azimuth_deg)
        return oaconvolve(np.asarray(x, np.float32)[None, :], h, axes=-1)[:, :x.shape[0]].astype(np.float32)
