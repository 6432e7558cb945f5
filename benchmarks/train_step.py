"""Training step time of the kboost models (forward + backward + Adam + clip), for training plans.

    python benchmarks/train_step.py [--batch 4] [--seconds 2] [--threads 1] [--repeat 3]
                                    [--configs ss-small,ss-medium,ss-large,ss-small-kb-d3-c1]
                                    [--device cpu|cuda] [--json OUT.json]

Prints, per config: parameters, median / min seconds per step over ``--repeat`` timed steps after one
warm-up step, and the training throughput in seconds of audio per second. Random weights and random
binaural input (the time does not depend on the values). A KB config's step is the joint step: the
large model's forward and backward are included, as in joint training; ``NAME+frozen`` times the joint
step with the large model frozen (``[train] freeze_large``: its backward pass skipped).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from kboost.config import SAMPLE_RATE, get_config
from kboost_train import build_model
from kboost_train.losses import loss_fn


def time_steps(name: str, batch: int, seconds: float, repeat: int, device: str) -> dict:
    frozen = name.endswith("+frozen")
    cfg = get_config(name.removesuffix("+frozen"))
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    if frozen:  # [train] freeze_large: the large model fixed, the compression and small model trained
        model.large.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    n = int(seconds * SAMPLE_RATE)
    x = 0.1 * torch.randn(batch, 2, n, device=device)
    ref = 0.1 * torch.randn(batch, cfg.n_out, n, device=device)
    spk = torch.randn(batch, 256, device=device) if cfg.has_speaker else None
    times = []
    for i in range(repeat + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        y = model(x, spk)
        loss = loss_fn(cfg.task, y, ref)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step is a warm-up
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"config": name, "params": sum(p.numel() for p in model.parameters()), "batch": batch,
            "seconds_audio": seconds, "median_s": med, "min_s": min(times), "times_s": times,
            "audio_s_per_s": batch * seconds / med}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seconds", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--configs", default="ss-small,ss-medium,ss-large,ss-small-kb-d3-c1")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--json", default=None)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    dev = torch.cuda.get_device_name() if a.device == "cuda" else f"CPU, {a.threads} thread(s)"
    print(f"training step (forward + backward + Adam), batch {a.batch} x {a.seconds} s, {dev}, torch {torch.__version__}")
    rows = []
    for name in a.configs.split(","):
        r = time_steps(name, a.batch, a.seconds, a.repeat, a.device)
        rows.append(r)
        print(f"{name:20s} {r['params']:>9,d} params  median {r['median_s']:7.3f} s/step  min {r['min_s']:7.3f}  "
              f"{r['audio_s_per_s']:6.2f} s of audio per s", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"device": dev, "threads": a.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
