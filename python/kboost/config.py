"""Model configurations: the hyper-parameters of every kboost model, with no torch dependency.

One :class:`ModelConfig` describes one network of the causal streaming TF-GridNet family (see
``docs/SPEC`` in the team docs / the README): the task, the size and, for a small model with knowledge
boosting (KB), the hint delay ``d`` (chunks) and compression ``c``. The same object drives the PyTorch
reference (``kboost_train``), the weights file metadata and the C++ core.

Named configurations cover every task x size and the KB variants::

    ss-small  ss-medium  ss-large  tse-small ... se-large
    ss-small-kb-d3-c1     (small model boosted at delay 3 chunks, compression 1)

Units: samples at 16 kHz; a chunk is 128 samples (8 ms).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

SAMPLE_RATE = 16_000
CHUNK_SIZE = 128  # samples per chunk (hop), 8 ms
LOOKAHEAD = 64  # samples of lookahead, 4 ms
N_FFT = 192  # window length = FFT size
N_FREQ = N_FFT // 2 + 1  # 97 one-sided bins
N_IN_CHANNELS = 2  # binaural input

TASKS = ("ss", "tse", "se")
SIZES = ("small", "medium", "large")
KB_DELAYS = tuple(range(7))  # 0..6 chunks (0..48 ms)
KB_COMPRESSIONS = (1, 2, 4)
SPEAKER_EMBEDDING_DIM = 256


@dataclass(frozen=True)
class NetConfig:
    """Sizes of one TF-GridNet (section 3 of the spec)."""

    d_model: int  # D: embedding channels
    n_blocks: int  # B: GridNet blocks
    n_hidden: int  # H: LSTM hidden units
    n_attn_heads: int = 0  # L: local self-attention heads (0: no attention)
    attn_head_dim: int = 6  # E: query/key channels per head
    attn_window: int = 50  # frames attended, current one included

    def __post_init__(self) -> None:
        for name in ("d_model", "n_blocks", "n_hidden"):
            if getattr(self, name) <= 0:
                raise ValueError(f"NetConfig.{name} must be positive, got {getattr(self, name)}")
        if self.n_attn_heads and self.d_model % self.n_attn_heads:
            raise ValueError(
                f"d_model {self.d_model} must be divisible by n_attn_heads {self.n_attn_heads}"
            )


NET_SIZES: dict[str, NetConfig] = {
    "small": NetConfig(d_model=16, n_blocks=3, n_hidden=16),
    "medium": NetConfig(d_model=26, n_blocks=3, n_hidden=18),
    "large": NetConfig(d_model=64, n_blocks=3, n_hidden=64, n_attn_heads=8),
}


@dataclass(frozen=True)
class KBConfig:
    """Knowledge boosting of a small model by a large one (section 4 of the spec)."""

    delay: int = 0  # d: chunks between the large model's chunk and the chunk that uses its hint
    compression: int = 1  # c: hint channels = 2 * n_out / c
    n_heads: int = 4  # cross-attention heads
    head_dim: int = 3  # E: query/key channels per head
    window: int = 50  # fused frames attended

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"KB delay must be >= 0 chunks, got {self.delay}")
        if self.compression not in KB_COMPRESSIONS:
            raise ValueError(f"KB compression must be one of {KB_COMPRESSIONS}, got {self.compression}")


@dataclass(frozen=True)
class ModelConfig:
    """A whole model: task + network size (+ KB fusion for a boosted small model)."""

    task: str
    size: str
    net: NetConfig
    kb: KBConfig | None = None
    large: NetConfig | None = None  # the teacher of a KB model (the large size by default)
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.kb is not None and self.large is None:
            object.__setattr__(self, "large", NET_SIZES["large"])

    # ---- derived sizes -------------------------------------------------------------------------
    @property
    def n_out(self) -> int:
        """Output waveforms: 4 for SS (2 sources x 2 ears), 2 for TSE/SE (one binaural target)."""
        return 4 if self.task == "ss" else 2

    @property
    def n_sources(self) -> int:
        return self.n_out // 2

    @property
    def n_spec_channels(self) -> int:
        """Channels of the output spectrogram (re/im per output): the hint source."""
        return 2 * self.n_out

    @property
    def n_hint_channels(self) -> int:
        if self.kb is None:
            return 0
        return self.n_spec_channels // self.kb.compression

    @property
    def hint_size(self) -> int:
        """Values per chunk in one compressed hint."""
        return self.n_hint_channels * N_FREQ

    @property
    def has_speaker(self) -> bool:
        return self.task == "tse"

    def teacher(self) -> "ModelConfig":
        """The large model that produces this KB model's hints."""
        if self.kb is None or self.large is None:
            raise ValueError(f"{self.name or self.task}: not a knowledge-boosted config")
        return ModelConfig(task=self.task, size="large", net=self.large, name=f"{self.task}-large")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "ModelConfig":
        kb = KBConfig(**d["kb"]) if d.get("kb") else None
        large = NetConfig(**d["large"]) if d.get("large") else None
        return ModelConfig(
            task=d["task"], size=d["size"], net=NetConfig(**d["net"]), kb=kb, large=large,
            name=d.get("name", ""),
        )


_NAME_RE = re.compile(r"^(ss|tse|se)-(small|medium|large)(?:-kb-d(\d+)-c(\d+))?$")


def get_config(name: str) -> ModelConfig:
    """A named configuration, e.g. ``ss-small`` or ``tse-small-kb-d3-c2``."""
    m = _NAME_RE.match(name)
    if not m:
        raise ValueError(
            f"unknown config {name!r}: expected TASK-SIZE or TASK-small-kb-dD-cC with TASK in "
            f"{TASKS}, SIZE in {SIZES}, D in 0..6, C in {KB_COMPRESSIONS} (see `kboost info --list`)"
        )
    task, size, d, c = m.groups()
    kb = None
    if d is not None:
        if size != "small":
            raise ValueError(f"{name}: only the small model is knowledge-boosted")
        if int(d) not in KB_DELAYS:
            raise ValueError(f"{name}: delay must be in 0..6 chunks, got {d}")
        kb = KBConfig(delay=int(d), compression=int(c))
    return ModelConfig(task=task, size=size, net=NET_SIZES[size], kb=kb, name=name)


def list_configs() -> list[str]:
    names = [f"{t}-{s}" for t in TASKS for s in SIZES]
    names += [f"{t}-small-kb-d{d}-c{c}" for t in TASKS for d in KB_DELAYS for c in KB_COMPRESSIONS]
    return names
