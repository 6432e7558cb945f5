"""Speed of on-the-fly mixing: mixtures per second on ONE core, per task, from a built cache.

    python benchmarks/data_mix.py [--cache DIR] [--seconds 4] [--n 200] [--reverb 0.0]

Without a built cache (``kboost data build``) it measures on a tiny synthetic cache made in a temp
dir (same code path, smaller files). Prints one line per task: mixtures/s and ms per mixture, for
the numpy mixture alone and for the torch Dataset item (with the TSE d-vector read from the cache),
per wall-clock second and per CPU-second of this process.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")


def main() -> int:
    import torch

    torch.set_num_threads(1)
    from kboost_train.data.datasets import MixtureDataset
    from kboost_train.data.store import default_cache_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--reverb", type=float, default=0.0, help="reverb probability")
    args = ap.parse_args()
    cache = args.cache or default_cache_dir()
    tmp = None
    if not (cache / "manifest.json").is_file():
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from data_cache import make_tiny_cache

        tmp = tempfile.TemporaryDirectory()
        cache = Path(tmp.name)
        make_tiny_cache(cache)
        print(f"no built cache: measuring on a tiny synthetic cache in {cache}")
    for task in ("ss", "tse", "se"):
        ds = MixtureDataset(cache, "train", task, clip_seconds=args.seconds, size=args.n,
                            mix={"reverb_prob": args.reverb})
        ds[0]  # warm up (memory maps, FFT plans, d-vector files)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(args.n):
            ds.draw(i)
        t_mix, c_mix = (time.perf_counter() - t0) / args.n, (time.process_time() - c0) / args.n
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(args.n):
            ds[i]
        t_item, c_item = (time.perf_counter() - t0) / args.n, (time.process_time() - c0) / args.n
        print(f"{task:3s} {args.seconds:g} s mixtures, 1 thread: mixer {1 / t_mix:4.0f} /s wall, {1 / c_mix:4.0f} /s "
              f"per CPU-second; dataset item {1 / t_item:4.0f} /s wall, {1 / c_item:4.0f} /s per CPU-second")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall figures drop "
          "when the machine is shared; CPU-second figures much less)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
