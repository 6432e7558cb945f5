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


def test_measure_clock_is_a_plausible_clock():
    # A sanity bound, not a speed target: a timed chain of 1-cycle adds on a 0.2-7 GHz core (a
    # descheduled thread reads low, never above the true clock). 0 would mean "unsupported".
    # Above 7 would mean the chain is not one cycle per add (an `add $1` chain read 7-9 "GHz" on
    # a 2.6 GHz Raptor Cove, which adds small immediates at rename).
    ghz = max(_core.measure_clock_ghz(0.02) for _ in range(3))
    assert 0.2 < ghz < 7.0, ghz
