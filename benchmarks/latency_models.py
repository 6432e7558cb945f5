"""Write random-weight weights files for the C++ latency tool (benchmarks/latency.cpp): the cases
of the core's latency report. Timing does not depend on the weight values.

    python benchmarks/latency_models.py OUT_DIR
    build/cpp/kboost_latency OUT_DIR/ss-small-kb-d3-c1.device.gguf
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from kboost.config import get_config
from kboost_train.export import export_module
from kboost_train.models import JointModel, TFGridNet

# (config, part): part None = a plain model file.
CASES = [("ss-small", None), ("ss-small-kb-d3-c1", "device"), ("ss-medium", None), ("ss-large", None),
         ("tse-small-kb-d3-c1", "device"), ("ss-small-kb-d3-c1", "server")]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    for name, part in CASES:
        cfg = get_config(name)
        module = JointModel(cfg) if cfg.kb is not None else TFGridNet(cfg)
        path = args.out / f"{name}.{part or 'model'}.gguf"
        export_module(module.eval(), cfg, path, part)
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
