"""The benchmark cases: ONE list shared by the pytest-benchmark suite (benchmarks/test_bench.py),
``kboost bench`` (kboost_train.bench) and the C++ per-chunk latency tool (benchmarks/latency.cpp,
run on the weights files ``Case.weights_name``; ``python benchmarks/cases.py`` prints one
``name config role weights_name`` line per case).

Each case is one network run one chunk (8 ms, 128 samples per channel) at a time, batch 1, on one
thread, in a role of ``docs/CONTRACTS.md``: ``model`` (plain TF-GridNet), ``device`` (the small model
of a KB config, fed the delayed hint each chunk), ``server`` (large model + compression conv).
Weights are random (seeded): speed does not depend on their values. This file imports nothing but
the standard library.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    name: str  # short id used in tables, JSON and on the command line
    config: str  # a kboost config name (kboost.config.get_config)
    role: str  # model | device | server
    description: str
    target_p50_us: float | None = None  # the speed target of issue 6 for kboost's C++ core, if any
    min_speedup: tuple[tuple[str, float], ...] = ()  # (peer runtime, at least this many x faster)

    @property
    def weights_name(self) -> str:
        """File name of the case's weights file: ``CONFIG.ROLE.gguf``."""
        return f"{self.config}.{self.role}.gguf"


CASES: tuple[Case, ...] = (
    Case("ss-small", "ss-small", "model", "SS small (D16 B3 H16)"),
    Case("ss-small-kb-d3", "ss-small-kb-d3-c1", "device",
         "SS small + KB fusion, hint delay 3 chunks, compression 1 (the device model)",
         target_p50_us=100.0, min_speedup=(("torch", 30.0), ("onnxruntime", 3.0))),
    Case("ss-medium", "ss-medium", "model", "SS medium (D26 B3 H18): small+KB's size without KB"),
    Case("ss-large", "ss-large", "model", "SS large (D64 B3 H64, 8-head local attention)",
         target_p50_us=1500.0),
    Case("tse-small-kb-d3", "tse-small-kb-d3-c1", "device",
         "TSE small + KB, d=3, c=1, speaker FiLM computed once per enrollment (cached in the state)"),
    Case("ss-kb-server", "ss-small-kb-d3-c1", "server",
         "the hint server's work per chunk: SS large + compression conv (c=1) producing the hint"),
)

CASE_NAMES = tuple(c.name for c in CASES)


def select(names: list[str] | None) -> list[Case]:
    """The cases named (all when ``names`` is empty or None), in the order of :data:`CASES`."""
    if not names:
        return list(CASES)
    unknown = [n for n in names if n not in CASE_NAMES]
    if unknown:
        raise ValueError(f"unknown benchmark case(s) {unknown}: expected some of {list(CASE_NAMES)}")
    return [c for c in CASES if c.name in names]


if __name__ == "__main__":
    for c in select(sys.argv[1:]):
        print(c.name, c.config, c.role, c.weights_name)
