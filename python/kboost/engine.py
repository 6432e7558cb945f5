"""Engines: what the hint server and the device loop run, behind one small interface.

The network runtime never touches a model directly. It takes an *engine*, an immutable model
that opens per-connection *streams* (whisper's model/state split):

* a **hint-source** engine (the server side: large model + compression conv) opens
  :class:`HintSourceStream` objects: ``process(chunk_index, samples[2, 128]) -> hint[C_h, 97]``;
* a **device** engine (the small model with KB fusion) opens :class:`DeviceStream` objects:
  ``process_chunk(samples[2, 128]) -> out[n_out, 128]`` and ``push_hint(chunk_index, hint) -> bool``.

Both carry a :class:`ModelIdentity` that the protocol's hello compares. Two implementations:
:class:`CoreHintSource` / :class:`CoreDevice` over the C++ core (``kboost._core``, no torch), and
the PyTorch reference in ``kboost_train.engines`` (tests, and ``--reference`` on the command line).
:func:`load_engine` picks one from a path. This module never imports torch.

Units: samples at 16 kHz, chunks of 128 samples (8 ms); arrays are float32, C-contiguous, and
owned by the caller on return (engines copy what they keep).
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass
from pathlib import Path
import numpy as np

from kboost.config import CHUNK_SIZE, N_FREQ, N_IN_CHANNELS, SAMPLE_RATE, SPEAKER_EMBEDDING_DIM


@dataclass(frozen=True)
class ModelIdentity:
    """What a device and a hint server must agree on.

    ``model_id``: for a hint source its own id; for a device the id of the hint source it was
    trained with (``kboost.hint_source_id``). ``delay``: the device's hint delay in chunks (-1 for a
    hint source that does not know it). ``n_hint_channels`` x ``n_freq``: the hint shape (0 x 97 for
    a model without KB).
    """

    model_id: str
    task: str
    delay: int
    n_hint_channels: int
    n_out: int
    n_freq: int = N_FREQ
    sample_rate: int = SAMPLE_RATE
    chunk_size: int = CHUNK_SIZE
    n_in_channels: int = N_IN_CHANNELS

    @property
    def hint_shape(self) -> tuple[int, int]:
        return (self.n_hint_channels, self.n_freq)

    @property
    def is_boosted(self) -> bool:
        return self.n_hint_channels > 0


def check_chunk(samples: np.ndarray, ident: ModelIdentity) -> np.ndarray:
    """``samples`` as float32 C-contiguous [n_in_channels, chunk_size], or a ValueError."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    want = (ident.n_in_channels, ident.chunk_size)
    if x.shape != want:
        raise ValueError(f"audio chunk: expected shape {want} (channels, samples), got {x.shape}")
    return x


def check_hint(hint: np.ndarray, ident: ModelIdentity) -> np.ndarray:
    h = np.ascontiguousarray(hint, dtype=np.float32)
    if h.shape != ident.hint_shape:
        raise ValueError(f"hint: expected shape {ident.hint_shape} (channels, bins), got {h.shape}")
    return h


def check_speaker(speaker: np.ndarray | None, task: str) -> np.ndarray | None:
    if task != "tse":
        return None
    if speaker is None:
        raise ValueError(f"a TSE model needs a speaker embedding of {SPEAKER_EMBEDDING_DIM} values")
    s = np.ascontiguousarray(speaker, dtype=np.float32).ravel()
    if s.shape != (SPEAKER_EMBEDDING_DIM,) or not np.isfinite(s).all():
        raise ValueError(
            f"speaker embedding: expected {SPEAKER_EMBEDDING_DIM} finite values, got shape {s.shape}"
        )
    return s


# ---- interfaces -----------------------------------------------------------------------------------
class HintSourceStream(abc.ABC):
    """One connection's state on the server. Not thread-safe: one caller at a time, chunks in order."""

    @abc.abstractmethod
    def process(self, chunk_index: int, samples: np.ndarray) -> np.ndarray:
        """Chunk ``chunk_index`` of the device's audio, float32 [2, 128] -> its compressed hint
        float32 [C_h, 97]. Chunks come in consecutive order; the first may have any index."""

    def close(self) -> None:
        """Free the stream's state (idempotent)."""


class HintSource(abc.ABC):
    """An immutable hint-source model; ``open_stream`` may be called from any thread."""

    identity: ModelIdentity
    description: str = ""

    @abc.abstractmethod
    def open_stream(self, speaker: np.ndarray | None = None) -> HintSourceStream:
        """A fresh stream (TSE: ``speaker`` float32 [256] required)."""


class DeviceStream(abc.ABC):
    """One device stream. ``process_chunk`` is called by the audio thread; ``push_hint`` may be
    called concurrently from a receiver thread and never blocks for long."""

    identity: ModelIdentity

    @abc.abstractmethod
    def process_chunk(self, samples: np.ndarray) -> np.ndarray:
        """Next chunk, float32 [2, 128] -> float32 [n_out, 128]. Uses the hint of chunk
        ``k - delay`` if it was pushed in time, else a missing hint (zeros)."""

    @abc.abstractmethod
    def push_hint(self, chunk_index: int, hint: np.ndarray) -> bool:
        """Offer the hint of chunk ``chunk_index`` (float32 [C_h, 97]). True when it is stored for
        use; False when it is too late (chunk ``chunk_index + delay`` was already processed), a
        duplicate, or too far ahead."""

    @property
    @abc.abstractmethod
    def chunk_index(self) -> int:
        """Index of the next chunk ``process_chunk`` will process."""

    @abc.abstractmethod
    def counters(self) -> dict[str, int]:
        """``chunks``, ``hints_used``, ``hints_missing`` (chunks k >= delay that had none),
        ``hints_late``, ``hints_dropped`` (duplicates / too far ahead)."""

    def close(self) -> None:
        """Free the stream's state (idempotent)."""


class Device(abc.ABC):
    """An immutable device model."""

    identity: ModelIdentity
    description: str = ""

    @abc.abstractmethod
    def open_stream(self, speaker: np.ndarray | None = None) -> DeviceStream: ...


# ---- a hint ring keyed by chunk index (for engines whose step takes the hint explicitly) ---------
class HintRing:
    """Hints waiting for their chunk, keyed by chunk index; thread-safe, bounded.

    ``put`` from the receiver thread, ``take(k)`` from the audio thread when it processes chunk
    ``k + delay``. A hint older than the consumer's position is late; one more than ``capacity``
    chunks ahead is dropped (a confused or hostile peer cannot grow memory).
    """

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._items: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._next_take = 0  # chunk index of the next hint the consumer will ask for
        self.n_late = 0
        self.n_dropped = 0

    def put(self, chunk_index: int, hint: np.ndarray) -> bool:
        with self._lock:
            if chunk_index < self._next_take:
                self.n_late += 1
                return False
            if chunk_index in self._items or chunk_index >= self._next_take + self.capacity:
                self.n_dropped += 1
                return False
            self._items[chunk_index] = hint
            return True

    def take(self, chunk_index: int) -> np.ndarray | None:
        """The hint of ``chunk_index`` or None; forgets every hint at or before it."""
        with self._lock:
            h = self._items.pop(chunk_index, None)
            self._next_take = max(self._next_take, chunk_index + 1)
            for k in [k for k in self._items if k < self._next_take]:
                del self._items[k]
            return h


class RingDeviceStream(DeviceStream):
    """Base of device streams whose step takes its hint explicitly (the PyTorch reference, the load
    test's synthetic device): a :class:`HintRing`, the chunk position and the counters. A subclass's
    ``process_chunk`` calls :meth:`_take_hint` (the hint of chunk ``index - delay`` or None, counted
    as used or missing) and then :meth:`_chunk_done`."""

    def __init__(self, identity: ModelIdentity, capacity: int = 256) -> None:
        self.identity = identity
        self.ring = HintRing(capacity)
        self._next = 0
        self._c = dict(chunks=0, hints_used=0, hints_missing=0)

    @property
    def chunk_index(self) -> int:
        return self._next

    def push_hint(self, chunk_index: int, hint: np.ndarray) -> bool:
        return self.ring.put(chunk_index, check_hint(hint, self.identity).copy())

    def _take_hint(self) -> np.ndarray | None:
        want = self._next - self.identity.delay
        if want < 0:
            return None  # the first `delay` chunks have no hint by design: not counted as missing
        h = self.ring.take(want)
        self._c["hints_missing" if h is None else "hints_used"] += 1
        return h

    def _chunk_done(self) -> None:
        self._next += 1
        self._c["chunks"] += 1

    def counters(self) -> dict[str, int]:
        return dict(self._c, hints_late=self.ring.n_late, hints_dropped=self.ring.n_dropped)


# ---- the C++ core -----------------------------------------------------------------------------
def core_available() -> bool:
    """True when the C++ core in this build can load models (``kboost._core.Model``)."""
    try:
        from kboost import _core
    except ImportError:
        return False
    return hasattr(_core, "Model") and hasattr(_core, "Streamer")


def read_identity(path: str | Path) -> tuple[str, ModelIdentity]:
    """(role, identity) from a weights file's metadata (docs/weights-format.md), read with the core's
    bounds-checked reader. A ``server`` file's id is its ``kboost.model_id``; a ``device`` file's is
    its ``kboost.hint_source_id``; a plain ``model`` file has no hint input."""
    from kboost import _core

    w = _core.WeightsFile.load(str(path))

    def num(key: str, default: int) -> int:
        return int(w.get_int(key)) if w.has_key(key) else default

    role = w.get_string("kboost.role")
    task = w.get_string("kboost.task")
    if role == "server":
        mid, delay = w.get_string("kboost.model_id"), num("kboost.kb.delay", -1)
    elif role == "device":
        mid, delay = w.get_string("kboost.hint_source_id"), num("kboost.kb.delay", 0)
    else:
        mid, delay = "", 0
    n_hint = num("kboost.n_hint_channels", 0) if role != "model" else 0
    ident = ModelIdentity(model_id=mid, task=task, delay=delay, n_hint_channels=n_hint,
                          n_out=num("kboost.n_out", 4 if task == "ss" else 2),
                          n_freq=num("kboost.n_freq", N_FREQ), sample_rate=num("kboost.sample_rate", SAMPLE_RATE),
                          chunk_size=num("kboost.chunk_size", CHUNK_SIZE),
                          n_in_channels=num("kboost.n_in_channels", N_IN_CHANNELS))
    return role, ident


class _CoreHintSourceStream(HintSourceStream):
    def __init__(self, owner: "CoreHintSource", speaker: np.ndarray | None) -> None:
        from kboost import _core

        self._ident = owner.identity
        self._s = _core.Streamer(owner.model)
        if speaker is not None:
            self._s.set_speaker(speaker)
        self._out = np.empty((owner.identity.n_out, CHUNK_SIZE), np.float32)
        self._hint = np.empty(owner.identity.hint_shape, np.float32)

    def process(self, chunk_index: int, samples: np.ndarray) -> np.ndarray:
        x = check_chunk(samples, self._ident)
        _, hint = self._s.process_chunk_with_hint(x, out=self._out, hint_out=self._hint)
        return np.array(hint, dtype=np.float32, copy=True)

    def close(self) -> None:
        self._s = None


class CoreHintSource(HintSource):
    """A ``server`` weights file (large model + compression conv) run by the C++ core."""

    def __init__(self, path: str | Path) -> None:
        from kboost import _core

        role, self.identity = read_identity(path)
        if role != "server":
            raise ValueError(f"{path}: a {role!r} weights file; the hint server needs a 'server' file "
                             "(kboost export --part server)")
        self.model = _core.Model.load(str(path))
        self.description = f"C++ core, {path}"

    def open_stream(self, speaker: np.ndarray | None = None) -> HintSourceStream:
        return _CoreHintSourceStream(self, check_speaker(speaker, self.identity.task))


class _CoreDeviceStream(DeviceStream):
    """The core's streamer keeps its own hint ring keyed by chunk index; its ``push_hint`` may be
    called from the receiver thread while the audio thread is in ``process_chunk`` (lock-free ring,
    see kboost._core.Streamer), and ``process_chunk`` releases the GIL."""

    def __init__(self, owner: "CoreDevice", speaker: np.ndarray | None) -> None:
        from kboost import _core

        self.identity = owner.identity
        self._s = _core.Streamer(owner.model)
        if speaker is not None:
            self._s.set_speaker(speaker)
        self._out = np.empty((owner.identity.n_out, CHUNK_SIZE), np.float32)

    @property
    def chunk_index(self) -> int:
        return int(self._s.chunk_index)

    def push_hint(self, chunk_index: int, hint: np.ndarray) -> bool:
        return bool(self._s.push_hint(chunk_index, check_hint(hint, self.identity)))

    def process_chunk(self, samples: np.ndarray) -> np.ndarray:
        return self._s.process_chunk(check_chunk(samples, self.identity), out=self._out).copy()

    def counters(self) -> dict[str, int]:
        c = self._s.stats()
        return dict(chunks=int(c["chunks"]), hints_used=int(c["hints_used"]),
                    hints_missing=int(c["hints_missing"]), hints_late=int(c["hints_late"]),
                    hints_dropped=int(c.get("hints_duplicate", 0) + c.get("hints_future", 0)
                                      + c.get("hints_bad_size", 0)))

    def close(self) -> None:
        self._s = None


class CoreDevice(Device):
    """A ``device`` (or plain ``model``) weights file run by the C++ core."""

    def __init__(self, path: str | Path) -> None:
        from kboost import _core

        role, self.identity = read_identity(path)
        if role == "server":
            raise ValueError(f"{path}: a 'server' weights file; the device needs a 'device' or 'model' file")
        self.model = _core.Model.load(str(path))
        self.description = f"C++ core, {path}"

    def open_stream(self, speaker: np.ndarray | None = None) -> DeviceStream:
        return _CoreDeviceStream(self, check_speaker(speaker, self.identity.task))


# ---- picking an engine -----------------------------------------------------------------------
def load_engine(role: str, model: str | None = None, reference: str | None = None,
                seed: int = 0) -> HintSource | Device:
    """The engine for ``role`` ('server' or 'device').

    ``model``: a ``.gguf`` weights file, run by the C++ core (no torch). ``reference``: a training
    checkpoint (``.pt``) or a KB config name (random weights from ``seed``; server and device built
    with the same config and seed share weights), run by the PyTorch reference (needs torch).
    """
    if role not in ("server", "device"):
        raise ValueError(f"role must be 'server' or 'device', got {role!r}")
    if (model is None) == (reference is None):
        raise ValueError("give exactly one of --model FILE.gguf or --reference CHECKPOINT_OR_CONFIG")
    if model is not None:
        p = Path(model)
        if not p.is_file():
            raise FileNotFoundError(f"model file {p} does not exist")
        if p.suffix != ".gguf":
            raise ValueError(
                f"{p}: --model takes a .gguf weights file (kboost export); use --reference for a "
                "PyTorch checkpoint"
            )
        if not core_available():
            raise RuntimeError(
                "this build of kboost has no C++ model runtime (kboost._core.Model); use "
                "--reference with the PyTorch reference instead"
            )
        return CoreHintSource(p) if role == "server" else CoreDevice(p)
    try:
        from kboost_train import engines
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in ("torch", "kboost_train"):
            raise RuntimeError(
                f"--reference needs the PyTorch reference ({e.name} is not installed): "
                "pip install 'kboost[train]'"
            ) from e
        raise
    return engines.load_reference(role, reference, seed=seed)
