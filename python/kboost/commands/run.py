"""``kboost run``: the device loop over a WAV file (or live audio), boosted by a hint server."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from kboost.commands import add_engine_arguments, load_engine_from_args, setup_logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_engine_arguments(p, "device")
    p.add_argument("--input", help="binaural 16 kHz input audio (WAV/FLAC)")
    p.add_argument("--output", help="output WAV: n_out channels (SS: s0 L, s0 R, s1 L, s1 R; TSE/SE: L, R)")
    p.add_argument("--server", metavar="HOST:PORT", help="hint server; without it the small model runs alone")
    p.add_argument("--delay", type=int, default=None,
                   help="hint delay in chunks (8 ms); must equal the delay the model was trained for")
    p.add_argument("--codec", default="fp32", choices=["fp32", "fp16", "int8"], help="hint encoding to ask for")
    p.add_argument("--token", default=os.environ.get("KBOOST_TOKEN", ""), help="auth token (default $KBOOST_TOKEN)")
    p.add_argument("--speaker", metavar="EMB.npy", help="TSE: the 256-value enrollment embedding")
    p.add_argument("--realtime", action="store_true", help="pace the chunks at real time (8 ms each)")
    p.add_argument("--wait-hints", type=float, default=0.0, metavar="SECONDS",
                   help="offline evaluation: wait up to this long for each hint (NOT real-time)")
    p.add_argument("--connect-wait", type=float, default=2.0, metavar="SECONDS",
                   help="wait this long for the server's TCP connection before starting (default 2)")
    p.add_argument("--no-align", action="store_true",
                   help="write the raw stream output (delayed by the 64-sample lookahead) instead of aligning it")
    p.add_argument("--stats", metavar="FILE.json", help="write per-chunk timing and hint statistics")
    p.add_argument("--live", action="store_true", help="microphone -> model -> speakers via sounddevice")
    p.add_argument("--duration", type=float, default=None, help="--live: stop after this many seconds")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    from kboost import protocol as P
    from kboost.audio import pad_for_stream, read_wav, unpad_stream, write_wav
    from kboost.cli import CommandError
    from kboost.client import parse_address
    from kboost.realtime import run_device, run_live

    setup_logging(args.log_level)
    if args.realtime or args.live:
        sys.setswitchinterval(5e-4)  # hand the GIL to the audio thread within 0.5 ms, not 5 ms
    engine = load_engine_from_args(args, "device")
    ident = engine.identity
    if args.delay is not None and ident.is_boosted and args.delay != ident.delay:
        raise CommandError(
            f"--delay {args.delay}: this device model was trained for delay {ident.delay} chunks; "
            "use a model exported for that delay"
        )
    server = parse_address(args.server) if args.server else None
    if server is not None and not ident.is_boosted:
        raise CommandError("--server: this device model takes no hints (not knowledge-boosted)")
    speaker = None
    if args.speaker:
        speaker = np.load(args.speaker).astype(np.float32).ravel()
    stream = engine.open_stream(speaker)

    if args.live:
        from kboost.client import HintClient
        from kboost.realtime import DeviceLoop

        client = None
        if server is not None:
            loop = DeviceLoop(stream)
            client = HintClient(server[0], server[1], ident, loop.on_hint, codec=P.Codec.parse(args.codec),
                                token=args.token, speaker=speaker).start()
        try:
            run_live(stream, client, args.duration)
        except RuntimeError as e:
            raise CommandError(str(e)) from e
        finally:
            if client is not None:
                client.close()
        return 0

    if not args.input or not args.output:
        raise CommandError("--input and --output are required (or --live)")
    x = read_wav(args.input, ident.n_in_channels, ident.sample_rate)
    align = not args.no_align
    y, stats = run_device(stream, pad_for_stream(x, align), server, realtime=args.realtime,
                          wait_hint_s=args.wait_hints, codec=P.Codec.parse(args.codec), token=args.token,
                          speaker=speaker, connect_wait_s=args.connect_wait if server else 0.0)
    write_wav(args.output, unpad_stream(y, x.shape[1], align), ident.sample_rate)
    refused = stats.client.get("refused")
    if args.stats:
        d = stats.to_dict()
        d["engine"] = engine.description
        Path(args.stats).parent.mkdir(parents=True, exist_ok=True)
        Path(args.stats).write_text(json.dumps(d, indent=1) + "\n")
    print(f"kboost run: wrote {args.output}: {stats.summary()}")
    if server is not None and not refused and stats.client.get("connects", 0) == 0:
        print(f"kboost run: warning: could not reach the hint server at {args.server}; the output was "
              "made without hints", file=sys.stderr)
    if refused:
        raise CommandError(f"the hint server refused the stream ({refused}); the output was made without hints")
    return 0
