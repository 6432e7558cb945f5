"""Write random-weight weights files for the C++ latency tool (benchmarks/latency.cpp): the cases
of benchmarks/cases.py (CONFIG.ROLE.gguf). Timing does not depend on the weight values.

    python benchmarks/latency_models.py OUT_DIR
    build/cpp/kboost_latency OUT_DIR/ss-small-kb-d3-c1.device.gguf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cases import CASES  # noqa: E402  (the one list of benchmark cases)

from kboost.config import get_config  # noqa: E402
from kboost_train import build_model  # noqa: E402
from kboost_train.export import export_module  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for case in CASES:
        cfg = get_config(case.config)
        path = args.out / case.weights_name
        export_module(build_model(cfg).eval(), cfg, path, None if case.role == "model" else case.role)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
