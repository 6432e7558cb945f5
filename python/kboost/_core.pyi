"""Type stubs for the C++ extension module kboost._core."""

def version() -> str:
    """Version of the C++ core, "MAJOR.MINOR.PATCH"."""

def build_info() -> str:
    """Compiler, architecture, Eigen version and SIMD sets the core was built with."""
