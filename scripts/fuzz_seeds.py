"""Writes the seed corpus of the weights-file fuzzer: real files written by the exporter, of every
role (model, device, server) and of tiny random networks (so that mutations stay cheap), plus the
full-size ss-small model. Usage: python scripts/fuzz_seeds.py OUT_DIR"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from kboost.config import KBConfig, ModelConfig, NetConfig, get_config
from kboost_train import build_model
from kboost_train.export import export_module


def main(out: Path) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    tiny = NetConfig(d_model=2, n_blocks=2, n_hidden=2)
    tiny_large = NetConfig(d_model=4, n_blocks=2, n_hidden=2, n_attn_heads=2, attn_head_dim=2, attn_window=3)
    kb = KBConfig(delay=1, compression=4, n_heads=1, head_dim=1, window=2)
    cases = [
        (ModelConfig(task="se", size="small", net=tiny, name="tiny-se"), ["model"], 1),
        (ModelConfig(task="ss", size="large", net=tiny_large, name="tiny-ss-large"), ["model"], 2),
        (ModelConfig(task="ss", size="small", net=tiny, kb=kb, large=tiny_large, name="tiny-ss-kb"),
         ["device", "server"], 2),
        (get_config("ss-small"), ["model"], 1),
    ]
    for cfg, parts, n_chunks in cases:
        module = build_model(cfg).eval()
        for part in parts:
            info = export_module(module, cfg, out / f"{cfg.name}-{part}.gguf", part, n_test_chunks=n_chunks)
            size = Path(info["path"]).stat().st_size
            print(f"seed {info['path']}: {size} bytes, {info['n_tensors']} tensors")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
