#!/usr/bin/env python3
"""Write the bundled files of ``kboost demo`` into python/kboost/assets/ (run once trained weights exist).

    python scripts/make_demo_assets.py --checkpoint runs/ss-small-kb-d3/best.pt \
        [--alone-checkpoint runs/ss-small/best.pt] [--data ~/.cache/kboost/data] [--seed 0] [--seconds 4]

Writes, from the KB checkpoint (delay 3 for the demo), ``server.gguf`` (large model + compression)
and ``device.gguf`` (small model + fusion); from ``--alone-checkpoint`` (a plain small model trained
without hints) ``alone.gguf``; and a test-split mixture of two real held-out speakers drawn from the
offline data cache (``kboost data build``, docs: ../shared DATA.md): ``sample_mix.wav`` (2 channels),
``sample_sources.wav`` (the references, n_out channels), ``sample_speaker.npy`` (TSE: the
enrollment d-vector) and ``SAMPLE.md`` (who speaks, from which package, under which licence).
Needs torch (the training extra). Commit the results only if they are small (a few hundred kB).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, help="KB training checkpoint (JointModel), delay 3 for the demo")
    ap.add_argument("--alone-checkpoint", help="plain small model checkpoint (optional)")
    ap.add_argument("--data", help="data cache (default $KBOOST_DATA or ~/.cache/kboost/data)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--kind", default="real", choices=["real", "synthetic"], help="kind of the target speaker")
    ap.add_argument("--out", default=str(ROOT / "python" / "kboost" / "assets"))
    args = ap.parse_args()

    import numpy as np
    import soundfile as sf
    import torch

    from kboost_train.data.mix import MixConfig, Mixer
    from kboost_train.data.store import Corpus, default_cache_dir
    from kboost_train.export import export_module
    from kboost_train.train import model_from_checkpoint

    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    module, cfg, _ = model_from_checkpoint(args.checkpoint)
    if cfg.kb is None:
        sys.exit(f"{args.checkpoint}: not a knowledge-boosted checkpoint")
    if cfg.kb.delay != 3:
        print(f"warning: the checkpoint's delay is {cfg.kb.delay}; the demo is described at delay 3")
    for part in ("server", "device"):
        info = export_module(module, cfg, out / f"{part}.gguf", part)
        print(f"wrote {info['path']} ({info['n_params']:,} parameters, id {info['model_id']})")
    if args.alone_checkpoint:
        alone, acfg, _ = model_from_checkpoint(args.alone_checkpoint)
        if acfg.kb is not None or acfg.task != cfg.task:
            sys.exit(f"{args.alone_checkpoint}: expected a plain {cfg.task} model without KB")
        info = export_module(alone, acfg, out / "alone.gguf", "model")
        print(f"wrote {info['path']} ({info['n_params']:,} parameters)")

    cache = Path(args.data).expanduser() if args.data else default_cache_dir()
    corpus = Corpus(cache)
    mixer = Mixer(corpus, "test", cfg.task, MixConfig(clip_seconds=args.seconds))
    m = mixer.mix(np.random.default_rng(args.seed), kind=args.kind)
    sf.write(out / "sample_mix.wav", m.mixture.T, 16000, subtype="PCM_16")
    sf.write(out / "sample_sources.wav", m.target.T, 16000, subtype="PCM_16")
    if cfg.task == "tse":
        from kboost_train.data.embed import utterance_embedding

        np.save(out / "sample_speaker.npy", utterance_embedding(corpus, *m.enroll).astype(np.float32))
    manifest = json.loads((cache / "manifest.json").read_text())
    lines = ["# The demo sample", "",
             f"A {args.seconds:g} s binaural {cfg.task.upper()} mixture drawn by `scripts/make_demo_assets.py "
             f"--seed {args.seed}` from the test split (held-out speakers) of the offline data cache; "
             "`sample_sources.wav` holds the references in the order of the model's outputs.", "",
             "| speaker | package | licence |", "|---|---|---|"]
    for sid in m.meta.get("speakers", []):
        s = manifest["speakers"].get(sid, {})
        lines.append(f"| {sid} | {s.get('source', '?')} | {s.get('licence', '?')} |")
    lines += ["", f"Mixing: {json.dumps({k: v for k, v in m.meta.items() if k != 'target_ranges'})}", "",
              "The voices are the work of the people named in the packages' copyright files (Debian), "
              "redistributed under those licences; see the cache's ATTRIBUTION file (`kboost data build`)."]
    (out / "SAMPLE.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out}/sample_mix.wav, sample_sources.wav, SAMPLE.md (speakers {m.meta.get('speakers')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
