#!/usr/bin/env python3
"""Load test of the hint server on loopback: N device streams at real-time pace.

    python scripts/load_test.py --streams 16 --seconds 30                       # synthetic engines
    python scripts/load_test.py --streams 2 --seconds 10 --server-reference ss-small-kb-d3-c1
    python scripts/load_test.py --streams 16 --server-model server.gguf --device-model device.gguf

The server runs in its own process (its RSS is sampled from /proc every 0.5 s); the device streams
run as threads spread over ``--procs`` processes, each paced at real time (one 128-sample chunk
every 8 ms) by :class:`kboost.realtime.DeviceLoop`, its audio path handing chunks to the network
client without waiting.

Engines: ``synthetic`` (default) is a numpy stand-in with microseconds of compute per chunk on both
sides (hint = spectrum magnitude of the chunk), so the figures are those of the runtime and the
network alone. ``--server-reference CONFIG`` / ``--server-model FILE.gguf`` run a real hint source
(PyTorch reference / C++ core), with the synthetic device adopting its identity unless
``--device-model`` is given: that measures how many streams one server process holds.

Reported: per stream and in total, deadline misses and those caused by networking (a miss that the
time spent in the network client made), hint age on arrival, missing and late hints; the server's
RSS (idle, peak, per stream) and CPU time. Exit 1 if any miss was caused by networking.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


# ---- synthetic engines (numpy, microseconds per chunk) -------------------------------------------
def _synthetic_classes():
    from kboost.engine import Device, HintSource, HintSourceStream, ModelIdentity, RingDeviceStream

    ident = ModelIdentity(model_id="synthetic-0001", task="ss", delay=3, n_hint_channels=8, n_out=4)

    class SynthSourceStream(HintSourceStream):
        def __init__(self, identity):
            self.identity = identity
            self.state = np.zeros(97, np.float32)  # a little per-stream state, as a model has

        def process(self, chunk_index, samples):
            mag = np.abs(np.fft.rfft(samples.mean(0), 192)).astype(np.float32)
            self.state = 0.9 * self.state + 0.1 * mag
            return np.broadcast_to(self.state, self.identity.hint_shape).copy()

    class SynthSource(HintSource):
        def __init__(self, identity=ident):
            self.identity, self.description = identity, "synthetic numpy hint source"

        def open_stream(self, speaker=None):
            return SynthSourceStream(self.identity)

    class SynthDeviceStream(RingDeviceStream):
        def process_chunk(self, samples):
            h = self._take_hint()
            g = 0.0 if h is None else float(h.mean()) * 1e-3
            self._chunk_done()
            return np.tile(samples * (0.5 + g), (self.identity.n_out // 2, 1))

    class SynthDevice(Device):
        def __init__(self, identity=ident):
            self.identity, self.description = identity, "synthetic numpy device"

        def open_stream(self, speaker=None):
            return SynthDeviceStream(self.identity)

    return SynthSource, SynthDevice


def _server_engine(args):
    if args.server_model or args.server_reference:
        from kboost.engine import load_engine

        return load_engine("server", model=args.server_model, reference=args.server_reference)
    return _synthetic_classes()[0]()


# ---- roles -----------------------------------------------------------------------------------
def role_server(args) -> int:
    from kboost.server import HintServer

    engine = _server_engine(args)
    srv = HintServer(engine, "127.0.0.1", 0, max_streams=args.streams + 8, idle_timeout=30.0)
    _, port = srv.start()
    ident = engine.identity
    print(json.dumps({"port": port, "identity": ident.__dict__, "engine": engine.description}), flush=True)
    sys.stdin.readline()  # the parent closes stdin to stop us
    stats = srv.stats()
    srv.close()
    print(json.dumps(stats), flush=True)
    return 0


def role_devices(args) -> int:
    from kboost.engine import ModelIdentity, load_engine
    from kboost.realtime import run_device

    ident = ModelIdentity(**json.loads(args.identity))
    if args.device_model:
        device = load_engine("device", model=args.device_model)
    else:
        device = _synthetic_classes()[1](ident)
    n = int(round(args.seconds * 16000 / 128))
    rng = np.random.default_rng(args.seed)
    results = [None] * args.streams
    go = threading.Event()

    def one(i: int) -> None:
        x = (0.1 * rng.standard_normal((2, n * 128))).astype(np.float32)
        go.wait()
        time.sleep(i * 0.008 / max(1, args.streams))  # spread the chunk phases a little
        _, st = run_device(device.open_stream(), x, ("127.0.0.1", args.port), realtime=True, connect_wait_s=5.0)
        results[i] = st.to_dict(per_chunk=False)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.streams)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    print(json.dumps(results), flush=True)
    return 0


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    try:
        f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def role_main(args) -> int:
    me = [sys.executable, str(Path(__file__).resolve())]
    common = ["--seconds", str(args.seconds)]
    for k in ("server_model", "server_reference"):
        if getattr(args, k):
            common += [f"--{k.replace('_', '-')}", getattr(args, k)]
    srv = subprocess.Popen(me + ["--role", "server", "--streams", str(args.streams)] + common,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    info = json.loads(srv.stdout.readline())
    port = info["port"]
    time.sleep(0.5)
    rss_idle = _rss_kb(srv.pid)
    cpu0 = _cpu_s(srv.pid)
    per_proc = [args.streams // args.procs + (i < args.streams % args.procs) for i in range(args.procs)]
    devs = []
    for i, k in enumerate(p for p in per_proc if p > 0):
        cmd = me + ["--role", "devices", "--streams", str(k), "--port", str(port), "--seed", str(i),
                    "--identity", json.dumps(info["identity"])] + common
        if args.device_model:
            cmd += ["--device-model", args.device_model]
        devs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    rss = []
    t0 = time.monotonic()
    while any(d.poll() is None for d in devs):
        rss.append(_rss_kb(srv.pid))
        time.sleep(0.5)
    wall = time.monotonic() - t0
    cpu = _cpu_s(srv.pid) - cpu0
    results = []
    for d in devs:
        out, _ = d.communicate()
        results += json.loads(out.strip().splitlines()[-1])
    rss_end = _rss_kb(srv.pid)
    srv.stdin.close()
    server_stats = json.loads(srv.stdout.readline() or "{}")
    srv.wait(30)

    def tot(key):
        return int(sum(r[key] for r in results))

    ages = [r["hint_age_ms"] for r in results if r["hint_age_ms"]]
    computes = [r["compute_ms"] for r in results]
    nets = [r["net_ms"] for r in results]
    rep = {
        "streams": args.streams, "seconds_each": args.seconds, "device_processes": len(devs),
        "server_engine": info["engine"], "device_engine": "synthetic numpy device" if not args.device_model else args.device_model,
        "cpu_count": os.cpu_count(), "load_avg_at_end": os.getloadavg(),
        "chunks_total": tot("n_chunks"), "deadline_misses": tot("deadline_misses"),
        "deadline_misses_network": tot("deadline_misses_network"),
        "hints_used": tot("hints_used"), "hints_missing": tot("hints_missing"), "hints_late": tot("hints_late"),
        "hint_age_p50_ms_median_over_streams": float(np.median([a["p50"] for a in ages])) if ages else None,
        "hint_age_p99_ms_max_over_streams": float(max(a["p99"] for a in ages)) if ages else None,
        "hint_age_max_ms": float(max(a["max"] for a in ages)) if ages else None,
        "device_compute_p99_ms_max_over_streams": float(max(c["p99"] for c in computes)),
        "audio_path_network_ms_p99_max_over_streams": float(max(c["p99"] for c in nets)),
        "audio_path_network_ms_max": float(max(c["max"] for c in nets)),
        "server_rss_idle_mb": rss_idle / 1024, "server_rss_peak_mb": max(rss) / 1024 if rss else None,
        "server_rss_end_mb": rss_end / 1024,
        "server_rss_per_stream_kb": (max(rss) - rss_idle) / args.streams if rss else None,
        "server_cpu_s": cpu, "server_cpu_fraction_of_one_core": cpu / wall if wall else None,
        "server_stats": server_stats, "wall_s": wall,
    }
    print(json.dumps(rep, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(rep, indent=1) + "\n")
    print(f"load: {args.streams} streams x {args.seconds:g} s ({info['engine']}): deadline misses "
          f"{rep['deadline_misses']} of {rep['chunks_total']} chunks, caused by networking "
          f"{rep['deadline_misses_network']}; hints missing {rep['hints_missing']}, late {rep['hints_late']}; "
          f"hint age p50 {rep['hint_age_p50_ms_median_over_streams']} ms, p99 (worst stream) "
          f"{rep['hint_age_p99_ms_max_over_streams']} ms; server RSS idle {rep['server_rss_idle_mb']:.1f} MB, "
          f"peak {rep['server_rss_peak_mb']:.1f} MB; server CPU {rep['server_cpu_fraction_of_one_core']:.2f} core")
    return 1 if rep["deadline_misses_network"] else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--procs", type=int, default=0,
                    help="device processes the streams are spread over (default: one per stream, as devices are)")
    ap.add_argument("--server-model", help="server weights (.gguf) for the C++ core")
    ap.add_argument("--server-reference", help="KB config or checkpoint for the PyTorch reference server")
    ap.add_argument("--device-model", help="device weights (.gguf); default: the synthetic device")
    ap.add_argument("--json", help="write the report here")
    ap.add_argument("--role", default="main", choices=["main", "server", "devices"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--identity", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.role == "server":
        return role_server(args)
    if args.role == "devices":
        sys.setswitchinterval(5e-4)  # a real-time Python process: hand the GIL over within 0.5 ms
        return role_devices(args)
    args.procs = args.procs or args.streams
    return role_main(args)


if __name__ == "__main__":
    sys.exit(main())
