#!/usr/bin/env python3
"""Effect of the hint codecs (fp32, fp16, int8) on bandwidth and on the device's output.

    python scripts/codec_effect.py                                  # RANDOM ss-small-kb-d3-c1, synthetic sample
    python scripts/codec_effect.py --checkpoint ckpt.pt --input mix.wav --sources src.wav

Runs the hint server and the device on loopback once per codec, every hint waited for (so the
only difference between runs is the codec), and reports: bytes per second in each direction (whole
frames, TCP/IP headers not counted), the hint frame size, the output's max-abs difference and
SI-SNR against the fp32 run, and SI-SNRi against the reference sources when given. Needs torch
(PyTorch reference engines) unless --server-model/--device-model name .gguf files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", default="ss-small-kb-d3-c1", help="KB config (random weights) or checkpoint")
    ap.add_argument("--checkpoint", help="KB training checkpoint (overrides --reference)")
    ap.add_argument("--server-model")
    ap.add_argument("--device-model")
    ap.add_argument("--input")
    ap.add_argument("--sources")
    ap.add_argument("--seconds", type=float, default=4.0, help="synthetic sample length")
    ap.add_argument("--json")
    args = ap.parse_args()

    from kboost import protocol as P
    from kboost.audio import pad_for_stream, read_wav, unpad_stream
    from kboost.commands.demo import synthetic_sample
    from kboost.engine import load_engine
    from kboost.metrics import si_snr, si_snr_improvement
    from kboost.realtime import run_device
    from kboost.server import HintServer

    if args.server_model:
        server = load_engine("server", model=args.server_model)
        device = load_engine("device", model=args.device_model)
    else:
        ref = args.checkpoint or args.reference
        server, device = load_engine("server", reference=ref), load_engine("device", reference=ref)
    ident = device.identity
    if args.input:
        mix = read_wav(args.input)
        refs = read_wav(args.sources, n_channels=ident.n_out) if args.sources else None
        sample = args.input
    else:
        mix, refs = synthetic_sample(ident.task, args.seconds)
        sample = f"synthetic two-voice mixture, {args.seconds:g} s"
    n = mix.shape[1]
    secs = n / 16000
    x = pad_for_stream(mix)
    rows = {}
    outs = {}
    srv = HintServer(server, "127.0.0.1", 0)
    _, port = srv.start()
    try:
        for codec in (P.Codec.FP32, P.Codec.FP16, P.Codec.INT8):
            y, st = run_device(device.open_stream(), x, ("127.0.0.1", port), wait_hint_s=30.0,
                               connect_wait_s=5.0, codec=codec)
            y = unpad_stream(y, n)
            outs[codec.name] = y
            c = st.client
            rows[codec.name.lower()] = {
                "hint_frame_bytes": P.hint_payload_bytes(ident.n_hint_channels * ident.n_freq, codec),
                "server_to_device_bytes_per_s": c.get("bytes_in", 0) / secs,
                "device_to_server_bytes_per_s": c.get("bytes_out", 0) / secs,
                "hints_used": st.counters["hints_used"],
            }
            if refs is not None:
                rows[codec.name.lower()].update(si_snr_improvement(ident.task, y, refs, mix))
    finally:
        srv.close()
    base = outs["FP32"]
    for name, y in outs.items():
        r = rows[name.lower()]
        r["max_abs_diff_vs_fp32"] = float(np.abs(y - base).max())
        r["si_snr_vs_fp32_db"] = float("inf") if name == "FP32" else float(si_snr(y, base).mean())
    res = {"sample": sample, "seconds": secs, "server": server.description, "device": device.description,
           "hint_shape": list(ident.hint_shape), "codecs": rows}
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    print("| codec | hint frame (bytes) | server->device (kB/s) | device->server (kB/s) | max-abs diff vs fp32 "
          "| SI-SNR vs fp32 (dB) |" + (" SI-SNRi (dB) |" if refs is not None else ""))
    print("|---|---|---|---|---|---|" + ("---|" if refs is not None else ""))
    for name, r in rows.items():
        line = (f"| {name} | {r['hint_frame_bytes']} | {r['server_to_device_bytes_per_s'] / 1000:.1f} | "
                f"{r['device_to_server_bytes_per_s'] / 1000:.1f} | {r['max_abs_diff_vs_fp32']:.2e} | "
                f"{r['si_snr_vs_fp32_db']:.1f} |")
        if refs is not None:
            line += f" {r['si_snri']:.3f} |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
