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
