"""``kboost demo``: the whole system on one machine.

Starts a hint server on loopback with the large model, runs the device loop over a sample with the
small model boosted at its delay (3 chunks = 24 ms for the bundled models) and again alone (no
server: every hint missing, or a separately trained small model if one is given), writes both
outputs, a report (SI-SNRi with and without boosting when the sample's references are there,
latency percentiles, hint statistics) and a PNG plot, and prints where they are.

Models, by default the bundled ones in ``kboost/assets/`` (``server.gguf``, ``device.gguf``,
optional ``alone.gguf``; sample ``sample_mix.wav`` + ``sample_sources.wav``). ``--checkpoint`` runs
a training checkpoint with the PyTorch reference instead; ``--random`` uses RANDOM weights (only
when asked: its figures mean nothing about quality), exported to GGUF in the output folder and run
by the C++ core when this build has it (else by the PyTorch reference), and, without a sample, a
synthetic mixture.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from kboost.commands import setup_logging

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server-model", default=str(ASSETS / "server.gguf"), help="hint server weights (.gguf)")
    p.add_argument("--device-model", default=str(ASSETS / "device.gguf"), help="device weights (.gguf)")
    p.add_argument("--alone-model", default=str(ASSETS / "alone.gguf"),
                   help="optional small model trained without hints, run for the 'alone' figures "
                        "(default: the device model with every hint missing)")
    p.add_argument("--checkpoint", help="a KB training checkpoint (.pt) run by the PyTorch reference instead")
    p.add_argument("--random", nargs="?", const="ss-small-kb-d3-c1", metavar="CONFIG",
                   help="use RANDOM weights of CONFIG (default ss-small-kb-d3-c1; PyTorch reference)")
    p.add_argument("--input", default=None, help="binaural 16 kHz mixture (default: the bundled sample)")
    p.add_argument("--sources", default=None,
                   help="reference sources of --input, n_out channels (SS: s0 L, s0 R, s1 L, s1 R)")
    p.add_argument("--speaker", default=None,
                   help="TSE: the enrollment embedding (.npy, 256 values; default: the bundled sample's)")
    p.add_argument("--out", default="kboost-demo", help="folder for the outputs (default ./kboost-demo)")
    p.add_argument("--codec", default="fp32", choices=["fp32", "fp16", "int8"])
    p.add_argument("--fast", action="store_true",
                   help="offline: as fast as possible, each hint waited for (the quality when the network "
                        "and the server keep up), instead of real-time pacing")
    p.add_argument("--seconds", type=float, default=4.0, help="length of the synthetic sample (--random)")
    p.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])


def synthetic_sample(task: str, seconds: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A binaural mixture of two voiced, amplitude-modulated harmonic sources at different azimuths
    (plus light noise): (mixture [2, N], references [n_out, N]). Not speech; for --random only."""
    rng = np.random.default_rng(seed)
    sr = 16000
    t = np.arange(int(seconds * sr)) / sr

    def voice(f0: float, rate: float) -> np.ndarray:
        f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6)))
        ph = 2 * np.pi * np.cumsum(f) / sr
        x = sum(np.sin(h * ph) / h for h in range(1, 12))
        env = np.clip(np.sin(2 * np.pi * rate * t + rng.uniform(0, 6)), 0, None) ** 0.5
        return 0.15 * x * env

    def binaural(x: np.ndarray, itd: int, gain_r: float) -> np.ndarray:
        return np.stack([x, gain_r * np.roll(x, itd)])

    s0 = binaural(voice(140, 2.1), 6, 0.6)
    s1 = binaural(voice(230, 1.7), -5, 1.4)
    noise = 0.005 * rng.standard_normal((2, t.size))
    mix = (s0 + s1 + noise).astype(np.float32)
    refs = np.concatenate([s0, s1]) if task == "ss" else s0
    return mix, refs.astype(np.float32)


def _engines(args: argparse.Namespace):
    """(server engine, device engine, alone engine or None, description)."""
    from kboost.cli import CommandError
    from kboost.engine import core_available, load_engine

    try:
        if args.random and core_available():
            # Random weights written to GGUF files and run by the C++ core, as trained ones would be.
            try:
                from kboost_train.engines import random_joint
                from kboost_train.export import export_module
            except ModuleNotFoundError as e:
                raise CommandError(f"--random needs the training extra to make weights ({e.name} is missing): "
                                   "pip install 'kboost[train]'") from e
            joint = random_joint(args.random, 0)
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            paths = {part: out / f"random-{args.random}-{part}.gguf" for part in ("server", "device")}
            for part, path in paths.items():
                export_module(joint, joint.cfg, path, part)
            server = load_engine("server", model=str(paths["server"]))
            device = load_engine("device", model=str(paths["device"]))
            server.description += f" (RANDOM weights of {args.random}, seed 0)"
            device.description += f" (RANDOM weights of {args.random}, seed 0)"
            return server, device, None
        if args.random or args.checkpoint:
            ref = args.checkpoint or args.random
            server, device = load_engine("server", reference=ref), load_engine("device", reference=ref)
            return server, device, None
        missing = [p for p in (args.server_model, args.device_model) if not Path(p).is_file()]
        if missing:
            raise CommandError(
                f"model file(s) not found: {', '.join(missing)}. This build has no bundled trained "
                "weights; pass --server-model/--device-model (kboost export), --checkpoint CKPT, or "
                "--random for random weights"
            )
        server = load_engine("server", model=args.server_model)
        device = load_engine("device", model=args.device_model)
        alone = load_engine("device", model=args.alone_model) if Path(args.alone_model).is_file() else None
        return server, device, alone
    except RuntimeError as e:
        raise CommandError(str(e)) from e


def _sample(args: argparse.Namespace, task: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    from kboost.audio import read_wav
    from kboost.cli import CommandError

    mix_path = Path(args.input) if args.input else ASSETS / "sample_mix.wav"
    src_path = Path(args.sources) if args.sources else (None if args.input else ASSETS / "sample_sources.wav")
    if not mix_path.is_file():
        if args.random and not args.input:
            mix, refs = synthetic_sample(task, args.seconds)
            return mix, refs, f"synthetic two-voice mixture, {args.seconds:g} s (no bundled sample)"
        raise CommandError(f"sample {mix_path} not found: pass --input MIX.wav (and --sources for SI-SNRi)")
    mix = read_wav(mix_path)
    refs = None
    if src_path is not None and src_path.is_file():
        n_out = 4 if task == "ss" else 2
        refs = read_wav(src_path, n_channels=n_out)
        if refs.shape[1] != mix.shape[1]:
            raise CommandError(f"{src_path}: {refs.shape[1]} samples, the mixture has {mix.shape[1]}")
    return mix, refs, str(mix_path)


def _plot(path: Path, mix: np.ndarray, outs: dict[str, np.ndarray], stats: dict) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot (pip install matplotlib)"
    t = np.arange(mix.shape[1]) / 16000
    fig, ax = plt.subplots(len(outs) + 2, 1, figsize=(10, 2.0 * (len(outs) + 2)), constrained_layout=True)
    ax[0].plot(t, mix[0], lw=0.4)
    ax[0].set_title("mixture (left ear)")
    for a, (name, y) in zip(ax[1:], outs.items()):
        a.plot(t, y[0], lw=0.4, color="tab:green" if "boost" in name else "tab:red")
        a.set_title(f"{name}: output 0 (left ear)")
    a = ax[-1]
    for name, s in stats.items():
        a.plot(np.arange(len(s.compute_ms)) * 8e-3, s.compute_ms, lw=0.6, label=f"{name}: compute per chunk")
    b = stats.get("boosted")
    if b is not None and np.isfinite(b.hint_age_ms).any():
        a.plot(np.arange(b.n_chunks) * 8e-3, b.hint_age_ms, ".", ms=1.5, label="hint age on arrival")
        a.axhline(8 * b.delay, color="k", lw=0.5, ls="--", label=f"hint budget ({b.delay} chunks)")
    a.axhline(8, color="r", lw=0.5, ls=":", label="chunk period (8 ms)")
    a.set_xlabel("time (s)")
    a.set_ylabel("ms (log scale)")
    a.set_yscale("log")
    a.legend(fontsize=7, loc="upper right")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def run(args: argparse.Namespace) -> int:
    from kboost import protocol as P
    from kboost.audio import pad_for_stream, unpad_stream, write_wav
    from kboost.cli import CommandError
    from kboost.metrics import si_snr_improvement
    from kboost.realtime import percentiles, run_device
    from kboost.server import HintServer

    setup_logging(args.log_level)
    server_engine, device, alone = _engines(args)
    ident = device.identity
    mix, refs, sample_desc = _sample(args, ident.task)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    speaker = None
    if ident.task == "tse":
        spk_path = Path(args.speaker) if args.speaker else ASSETS / "sample_speaker.npy"
        if spk_path.is_file():
            speaker = np.load(spk_path).astype(np.float32).ravel()
        elif args.random:
            speaker = np.random.default_rng(0).standard_normal(256).astype(np.float32)
        else:
            raise CommandError(f"a TSE model needs the target's embedding: {spk_path} not found (--speaker)")
    realtime = not args.fast
    n = mix.shape[1]
    x = pad_for_stream(mix)

    srv = HintServer(server_engine, "127.0.0.1", 0)
    host, port = srv.start()
    print(f"kboost demo: hint server on {host}:{port} ({server_engine.description})")
    try:
        y_b, st_b = run_device(device.open_stream(speaker), x, (host, port), realtime=realtime,
                               wait_hint_s=0.0 if realtime else 10.0, codec=P.Codec.parse(args.codec),
                               connect_wait_s=5.0, speaker=speaker)
    finally:
        srv.close()
    print(f"  boosted (delay {ident.delay}): {st_b.summary()}")
    alone_engine = alone or device
    y_a, st_a = run_device(alone_engine.open_stream(speaker), x, realtime=realtime)
    print(f"  alone{'' if alone else ' (same model, every hint missing)'}: {st_a.summary()}")
    outs = {"boosted": unpad_stream(y_b, n), "alone": unpad_stream(y_a, n)}
    stats = {"boosted": st_b, "alone": st_a}
    for name, y in outs.items():
        write_wav(out_dir / f"{name}.wav", y)

    report: dict = {
        "sample": sample_desc, "seconds": n / 16000, "task": ident.task, "delay_chunks": ident.delay,
        "delay_ms": 8 * ident.delay, "codec": args.codec, "realtime": realtime,
        "server_engine": server_engine.description, "device_engine": device.description,
        "alone_engine": alone_engine.description + ("" if alone else " (every hint missing)"),
        "random_weights": bool(args.random), "algorithmic_latency_ms": 12.0, "runs": {},
    }
    for name, s in stats.items():
        r = s.to_dict(per_chunk=False)
        if refs is not None:
            r.update(si_snr_improvement(ident.task, outs[name], refs, mix))
        report["runs"][name] = r
    err = _plot(out_dir / "demo.png", mix, outs, stats)
    (out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")

    lines = [f"# kboost demo ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"Sample: {sample_desc} ({n / 16000:.2f} s). Task {ident.task}, delay {ident.delay} chunks "
             f"({8 * ident.delay} ms), hint codec {args.codec}, {'real-time pacing' if realtime else 'offline (each hint waited for)'}.",
             f"Server: {server_engine.description}. Device: {device.description}.", ""]
    if args.random:
        lines += ["**RANDOM weights: the SI-SNR figures say nothing about quality; this run only shows "
                  "the system working end to end.**", ""]
    lines += ["| run | SI-SNR dB | SI-SNRi dB | compute p50 / p99 ms | deadline misses | hints used / missing / late | hint age p50 / p99 ms |",
              "|---|---|---|---|---|---|---|"]
    for name, r in report["runs"].items():
        s = stats[name]
        c, a = percentiles(s.compute_ms), percentiles(s.hint_age_ms)
        sisnr = f"{r['si_snr']:.2f}" if "si_snr" in r else "n/a"
        sisnri = f"{r['si_snri']:.2f}" if "si_snri" in r else "n/a"
        hints = f"{r['hints_used']} / {r['hints_missing']} / {r['hints_late']}"
        age = f"{a['p50']:.1f} / {a['p99']:.1f}" if a else "-"
        lines.append(f"| {name} | {sisnr} | {sisnri} | {c['p50']:.2f} / {c['p99']:.2f} | "
                     f"{r['deadline_misses']} | {hints} | {age} |")
    if refs is None:
        lines += ["", "No reference sources: SI-SNRi not computed (pass --sources)."]
    rb = report["runs"]["boosted"]
    n_due = rb["hints_used"] + rb["hints_missing"]
    if n_due and rb["hints_used"] < 0.5 * n_due:
        age = percentiles(st_b.hint_age_ms)
        lines += ["", f"Note: only {rb['hints_used']} of {n_due} hints arrived within the {8 * ident.delay} ms "
                  f"budget (hint age p50 {age.get('p50', float('nan')):.0f} ms): the hint server cannot keep up "
                  "with real time on this machine, so the boosted run is mostly unboosted. `--fast` shows the "
                  "quality when it keeps up."]
    (out_dir / "report.md").write_text("\n".join(lines) + "\n")

    print()
    print("\n".join(lines[5 if not args.random else 7:]))
    if "si_snri" in report["runs"]["boosted"]:
        b, al = report["runs"]["boosted"]["si_snri"], report["runs"]["alone"]["si_snri"]
        print(f"\nSI-SNRi with boosting {b:.2f} dB, without {al:.2f} dB ({b - al:+.2f} dB)"
              + (" [random weights]" if args.random else ""))
    print(f"\nwrote {out_dir}/boosted.wav, {out_dir}/alone.wav, {out_dir}/report.md, {out_dir}/report.json"
          + (f", {out_dir}/demo.png" if err is None else f" ({err})"))
    return 0
