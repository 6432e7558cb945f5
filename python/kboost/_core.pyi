"""Type stubs for the C++ extension module kboost._core."""

from typing import Any, Sequence

import numpy as np
import numpy.typing as npt

def version() -> str:
    """Version of the C++ core, "MAJOR.MINOR.PATCH"."""

def build_info() -> str:
    """Compiler, architecture, Eigen version and SIMD sets the core was built with."""

# ---- errors and the weights file (csrc/include/kboost/error.h, weights.h) ----------------------
class Error(ValueError, RuntimeError):
    """Every error of the C++ core (kboost::Error), with its message: a bad weights file, a bad
    argument, a wrong-size buffer."""

class WeightsFile:
    """A parsed kboost weights file (GGUF, docs/weights-format.md), for tests and tools. Shapes are in
    PyTorch order; tensors are float32. Every defect of the file raises Error naming it."""

    @staticmethod
    def load(path: str) -> WeightsFile:
        """Read and check the file at ``path``."""
    @staticmethod
    def parse(data: bytes, origin: str = "<bytes>") -> WeightsFile:
        """Parse a file image; ``origin`` names it in error messages."""
    @property
    def origin(self) -> str: ...
    @property
    def gguf_version(self) -> int: ...
    @property
    def alignment(self) -> int:
        """Data alignment in bytes (general.alignment, 32 by default)."""
    def keys(self) -> list[str]:
        """Metadata keys in file order."""
    def has_key(self, key: str) -> bool: ...
    def get(self, key: str) -> Any:
        """A metadata value: int, float, bool, str; float32 arrays as numpy float32, other arrays as
        lists. Error if the key is missing."""
    def get_int(self, key: str) -> int:
        """An integer of any width; Error if missing or not an integer."""
    def get_float(self, key: str) -> float: ...
    def get_string(self, key: str) -> str: ...
    def get_floats(self, key: str) -> npt.NDArray[np.float32]:
        """An array of floats as a float32 vector."""
    def tensor_names(self) -> list[str]:
        """Tensor names in file order."""
    def tensor_shapes(self) -> dict[str, tuple[int, ...]]:
        """{name: shape}, PyTorch order. Marks every tensor as used."""
    def has_tensor(self, name: str) -> bool: ...
    def tensor(self, name: str, shape: Sequence[int] | None = None) -> npt.NDArray[np.float32]:
        """A copy of tensor ``name``; with ``shape``, checked to have it ("tensor 'x' has shape [..],
        expected [..]"). Marks it used."""
    def check_all_used(self) -> None:
        """Raise Error naming every tensor that no tensor() call requested."""

# ---- the model and the streamer (csrc/include/kboost/model.h, stream.h) ---------------------
_F32 = npt.NDArray[np.float32]

_testing: Any
"""Test-only entry points (per-layer runners, a Model from a dict of arrays); not a public API."""

def measure_clock_ghz(seconds: float = 0.02) -> float:
    """This core's clock in GHz from a timed chain of dependent integer adds (1 cycle each); 0 where
    unsupported. The scalar clock, turbo included: wide-vector code may run slower."""

def kernel_isa() -> str:
    """The kernel set chosen for this CPU at start-up: "avx512", "avx2+fma" or "ref"
    (KBOOST_KERNELS=ref|avx2|avx512 caps it)."""

class Model:
    """An immutable model (weights + config), loaded once, shared by any number of Streamers on any
    threads."""

    @staticmethod
    def load(path: str) -> Model:
        """Load a weights file written by `kboost export` (roles model, device, server). Raises Error
        naming a missing/misshaped/unknown tensor or a bad metadata key, with got and expected."""
    @property
    def config(self) -> dict[str, Any]:
        """task, role, size, name, model_id, hint_source_id, d_model, n_blocks, n_hidden, n_attn_heads,
        attn_head_dim, attn_window, delay and compression (None for role 'model'), kb_n_heads,
        kb_head_dim, kb_window, n_out, n_hint_channels, hint_size, sample_rate, chunk_size,
        lookahead, n_fft, n_freq."""
    @property
    def n_params(self) -> int: ...

class Streamer:
    """One audio stream through a Model, one 8 ms chunk (128 samples at 16 kHz) per call; owns all
    stream state. Threads: one thread calls process_chunk / set_speaker / reset; one other thread may
    call push_hint concurrently (a lock-free ring of `hint_ring_size` chunks). The GIL is released
    while a chunk is computed."""

    def __init__(self, model: Model, hint_ring_size: int = 64) -> None: ...
    def process_chunk(self, x: _F32, out: _F32 | None = None) -> _F32:
        """x: float32 C-contiguous [2, 128], the newest samples of each ear -> [n_out, 128] (into `out`
        if given), the model output delayed by the 64-sample lookahead."""
    def process_chunk_with_hint(self, x: _F32, out: _F32 | None = None,
                                hint_out: _F32 | None = None) -> tuple[_F32, _F32]:
        """Server models: (out [n_out, 128], hint [C_h, 97]): also the compressed hint of this chunk,
        for the device's chunk of the same index."""
    def push_hint(self, chunk_index: int, hint: _F32) -> bool:
        """Device models: the hint float32 [C_h, 97] of chunk `chunk_index`, used at chunk
        chunk_index + delay. False if refused and counted: late, duplicate, beyond the ring, wrong
        shape or dtype. A hint not there when needed is a missing hint (zeros)."""
    def set_speaker(self, embedding: _F32) -> None:
        """TSE: the enrollment embedding float32 [256]; the speaker FiLM is computed once here."""
    def reset(self) -> None:
        """Back to a fresh stream (chunk 0, empty hint ring, zero counters); keeps the speaker."""
    def stats(self) -> dict[str, int]:
        """chunks, hints_used, hints_missing, hints_accepted, hints_late, hints_duplicate,
        hints_future, hints_bad_size."""
    @property
    def chunk_index(self) -> int:
        """The next chunk process_chunk will process."""
    @property
    def has_speaker(self) -> bool: ...
    @property
    def model(self) -> Model: ...
