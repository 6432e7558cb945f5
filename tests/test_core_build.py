"""The compiled extension kboost._core is built, importable and reports how it was built."""

import kboost
from kboost import _core


def test_core_version_matches_package():
    assert _core.version() == kboost.__version__ == "0.1.0"


def test_build_info_names_eigen_and_arch():
    info = _core.build_info()
    assert info.startswith("kboost 0.1.0")
    assert " eigen 3." in info
    assert any(a in info for a in (" x86_64", " aarch64"))
