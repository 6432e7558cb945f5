"""The device loop: chunk by chunk through a device stream, boosted by hints that arrive late.

:class:`DeviceLoop` feeds 128-sample chunks of a binaural signal to a :class:`~kboost.engine.DeviceStream`
(paced at real time with ``realtime=True``, else as fast as it can) and, with a
:class:`~kboost.client.HintClient`, sends each chunk to the hint server first. The client's receiver
thread calls :meth:`DeviceLoop.on_hint`, which pushes the hint into the stream; chunk k uses the hint
of chunk k - d if it has arrived, otherwise a missing hint. The audio path never waits on the
network (``send_audio`` only queues), except in the explicit ``wait_hint_s`` mode used for offline
evaluation and the equivalence tests, where chunk k waits up to that long for the hint of k - d.

Timing (``realtime=True``): chunk k is *captured* at t0 + (k+1) P (P = 8 ms: its last sample
exists then) and must be done by its deadline, capture + P, when the next chunk is captured.
A deadline miss is *caused by networking* when it would not have happened without the time the
audio path spent in the network client. Hint age = arrival time - capture time of its chunk.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kboost.config import CHUNK_SIZE, SAMPLE_RATE
from kboost.engine import DeviceStream


def percentiles(x: np.ndarray | list[float], ps: tuple[int, ...] = (50, 90, 99)) -> dict[str, float]:
    a = np.asarray([v for v in x if v is not None and np.isfinite(v)], dtype=np.float64)
    if a.size == 0:
        return {}
    d = {f"p{p}": float(np.percentile(a, p)) for p in ps}
    d["max"] = float(a.max())
    d["mean"] = float(a.mean())
    return d


@dataclass
class LoopStats:
    """What one run of the device loop measured (times in ms). ``per_chunk`` arrays are indexed by
    chunk: ``compute_ms``, ``net_ms`` (audio-path time in the network client), ``hint_used`` (0/1),
    ``hint_age_ms`` (age of the hint *of* that chunk when it arrived; NaN if it never did)."""

    n_chunks: int
    delay: int
    realtime: bool
    boosted: bool
    server: str | None
    compute_ms: np.ndarray
    net_ms: np.ndarray
    hint_used: np.ndarray
    hint_age_ms: np.ndarray
    deadline_misses: int = 0
    deadline_misses_network: int = 0
    wall_s: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    client: dict[str, int] = field(default_factory=dict)

    @property
    def hints_missing(self) -> int:
        return int(self.counters.get("hints_missing", 0))

    @property
    def hints_late(self) -> int:
        return int(self.counters.get("hints_late", 0))

    def to_dict(self, per_chunk: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "n_chunks": self.n_chunks, "chunk_ms": 1000.0 * CHUNK_SIZE / SAMPLE_RATE,
            "delay_chunks": self.delay, "realtime": self.realtime, "boosted": self.boosted,
            "server": self.server, "wall_s": self.wall_s,
            "deadline_misses": self.deadline_misses,
            "deadline_misses_network": self.deadline_misses_network,
            "hints_used": int(self.counters.get("hints_used", 0)),
            "hints_missing": self.hints_missing, "hints_late": self.hints_late,
            "hints_dropped": int(self.counters.get("hints_dropped", 0)),
            "hints_arrived": int(np.isfinite(self.hint_age_ms).sum()),
            "compute_ms": percentiles(self.compute_ms), "net_ms": percentiles(self.net_ms),
            "hint_age_ms": percentiles(self.hint_age_ms),
            "client": self.client,
        }
        if per_chunk:
            d["per_chunk"] = {
                "compute_ms": np.round(self.compute_ms, 4).tolist(),
                "net_ms": np.round(self.net_ms, 4).tolist(),
                "hint_used": self.hint_used.astype(int).tolist(),
                "hint_age_ms": [None if not np.isfinite(v) else round(float(v), 3) for v in self.hint_age_ms],
            }
        return d

    def summary(self) -> str:
        c = percentiles(self.compute_ms)
        a = percentiles(self.hint_age_ms)
        s = (f"{self.n_chunks} chunks ({self.n_chunks * CHUNK_SIZE / SAMPLE_RATE:.2f} s) in {self.wall_s:.2f} s; "
             f"compute p50 {c.get('p50', 0):.2f} ms p99 {c.get('p99', 0):.2f} ms max {c.get('max', 0):.2f} ms; "
             f"deadline misses {self.deadline_misses} (network {self.deadline_misses_network})")
        if self.boosted:
            s += (f"; delay {self.delay}: hints used {self.counters.get('hints_used', 0)}, missing "
                  f"{self.hints_missing}, late {self.hints_late}")
            if a:
                s += f"; hint age p50 {a['p50']:.1f} ms p99 {a['p99']:.1f} ms"
        return s

    def write_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


class DeviceLoop:
    """Run one device stream over a whole signal, optionally boosted by a hint server.

    Build the loop, then the client with ``on_hint=loop.on_hint``, then :meth:`attach` it (or use
    :func:`run_device`). Not reusable: one loop per stream.
    """

    def __init__(self, stream: DeviceStream, *, realtime: bool = False, wait_hint_s: float = 0.0) -> None:
        self.stream = stream
        self.realtime = realtime
        self.wait_hint_s = wait_hint_s
        self.client = None
        self.delay = max(0, stream.identity.delay)
        self.period_s = stream.identity.chunk_size / stream.identity.sample_rate
        self._cond = threading.Condition()
        self._arrival: dict[int, float] = {}
        self._capture: np.ndarray = np.zeros(0)

    def attach(self, client) -> None:
        self.client = client

    def on_hint(self, chunk_index: int, hint: np.ndarray, arrival_s: float) -> None:
        """Receiver thread: push the hint of ``chunk_index`` into the stream, note its arrival."""
        self.stream.push_hint(chunk_index, hint)
        with self._cond:
            self._arrival[chunk_index] = arrival_s
            self._cond.notify_all()

    def _wait_for_hint(self, k: int) -> None:
        t_end = time.monotonic() + self.wait_hint_s
        with self._cond:
            while k not in self._arrival:
                left = t_end - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def run(self, audio: np.ndarray) -> tuple[np.ndarray, LoopStats]:
        """``audio`` float32 [2, N] with N a multiple of 128 -> (stream output [n_out, N], stats)."""
        x = np.ascontiguousarray(audio, dtype=np.float32)
        ident = self.stream.identity
        C = ident.chunk_size
        if x.ndim != 2 or x.shape[0] != ident.n_in_channels or x.shape[1] % C:
            raise ValueError(f"audio: expected [{ident.n_in_channels}, N] with N a multiple of {C}, got {x.shape}")
        n = x.shape[1] // C
        out = np.zeros((ident.n_out, n * C), np.float32)
        compute = np.zeros(n)
        net = np.zeros(n)
        used = np.zeros(n, bool)
        self._capture = np.zeros(n)
        boosted = ident.is_boosted
        client = self.client
        misses = misses_net = 0
        t0 = time.monotonic()
        for k in range(n):
            chunk = x[:, k * C:(k + 1) * C]
            if self.realtime:
                due = t0 + (k + 1) * self.period_s
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            t_start = time.monotonic()
            due = due if self.realtime else t_start
            self._capture[k] = due
            if client is not None:
                client.send_audio(k, chunk)
            t_net = time.monotonic()
            if client is not None and boosted and self.wait_hint_s > 0 and k >= self.delay:
                self._wait_for_hint(k - self.delay)
            t_c = time.monotonic()
            before = self.stream.counters().get("hints_used", 0)
            out[:, k * C:(k + 1) * C] = self.stream.process_chunk(chunk)
            t_end = time.monotonic()
            used[k] = self.stream.counters().get("hints_used", 0) > before
            compute[k] = (t_end - t_c) * 1e3
            net[k] = (t_net - t_start) * 1e3
            if self.realtime and t_end > due + self.period_s:
                misses += 1
                if t_end - (t_net - t_start) <= due + self.period_s:
                    misses_net += 1
        wall = time.monotonic() - t0
        if client is not None:  # let the last hints land before reading the arrivals
            deadline = time.monotonic() + min(1.0, 10 * self.period_s * (self.delay + 1))
            while time.monotonic() < deadline and (n - 1) not in self._arrival and client.connected.is_set():
                time.sleep(0.005)
        age = np.full(n, np.nan)
        with self._cond:
            for k, t in self._arrival.items():
                if 0 <= k < n:
                    age[k] = (t - self._capture[k]) * 1e3
        stats = LoopStats(
            n_chunks=n, delay=self.delay, realtime=self.realtime, boosted=boosted,
            server=None if client is None else f"{client.host}:{client.port}",
            compute_ms=compute, net_ms=net, hint_used=used, hint_age_ms=age,
            deadline_misses=misses, deadline_misses_network=misses_net, wall_s=wall,
            counters=self.stream.counters(), client={} if client is None else client.stats(),
        )
        return out, stats


def run_device(stream: DeviceStream, audio: np.ndarray, server: tuple[str, int] | None = None, *,
               realtime: bool = False, wait_hint_s: float = 0.0, codec=None, token: str = "",
               speaker: np.ndarray | None = None, connect_wait_s: float = 0.0,
               **client_kw) -> tuple[np.ndarray, LoopStats]:
    """Run ``stream`` over ``audio`` [2, N], boosted by the server at ``server`` (host, port) if
    given. ``connect_wait_s``: wait up to that long for the first connection before starting (the
    loop itself never waits for the network)."""
    from kboost import protocol as P
    from kboost.client import HintClient

    loop = DeviceLoop(stream, realtime=realtime, wait_hint_s=wait_hint_s)
    client = None
    if server is not None:
        if not stream.identity.is_boosted:
            raise ValueError("this device model has no hint input (not knowledge-boosted); run it without a server")
        client = HintClient(server[0], server[1], stream.identity, loop.on_hint,
                            codec=P.Codec.FP32 if codec is None else codec, token=token, speaker=speaker,
                            **client_kw).start()
        loop.attach(client)
    try:
        if client is not None and connect_wait_s > 0:
            # The hello goes out with the first chunk, so prime the connection with chunk 0 only
            # in wait mode; otherwise just give the TCP connect a head start.
            t_end = time.monotonic() + connect_wait_s
            while client.stats().get("connects", 0) == 0 and time.monotonic() < t_end:
                if client.refused is not None:
                    break
                time.sleep(0.005)
        out, stats = loop.run(audio)
    finally:
        if client is not None:
            client.close()
    if client is not None and client.refused is not None:
        stats.client["refused"] = f"{client.refused.reason.name}: {client.refused.text}"
    return out, stats


# ---- live audio ------------------------------------------------------------------------------
def run_live(stream: DeviceStream, client=None, duration_s: float | None = None,
             device: str | int | None = None) -> None:
    """Microphone (2 channels) -> stream -> speakers (first 2 output channels) via sounddevice,
    in 128-sample blocks; the stream runs in the audio callback. Raises RuntimeError when
    sounddevice or a sound device is missing."""
    try:
        import sounddevice as sd  # type: ignore[import-not-found]
    except (ImportError, OSError) as e:
        raise RuntimeError(
            f"--live needs the sounddevice package and PortAudio ({e}): pip install 'kboost[live]'"
        ) from e
    try:
        sd.check_input_settings(device=device, channels=2, samplerate=SAMPLE_RATE, dtype="float32")
        sd.check_output_settings(device=device, channels=2, samplerate=SAMPLE_RATE, dtype="float32")
    except Exception as e:  # noqa: BLE001  PortAudio raises several types
        raise RuntimeError(f"no usable sound device for 16 kHz stereo in and out: {e}") from e
    k = [0]

    def callback(indata, outdata, frames, _time, status) -> None:  # audio thread
        x = np.ascontiguousarray(indata.T, dtype=np.float32)
        if client is not None:
            client.send_audio(k[0], x)
        y = stream.process_chunk(x)
        outdata[:] = y[:2].T
        k[0] += 1

    with sd.Stream(samplerate=SAMPLE_RATE, blocksize=CHUNK_SIZE, channels=2, dtype="float32",
                   device=device, callback=callback):
        if duration_s is None:
            threading.Event().wait()
        else:
            time.sleep(duration_s)
