"""Memory of the runtimes: steady-state resident set size (RSS) of a streaming process, and the
resident size of a loaded kboost model.

    python benchmarks/memory.py --json docs/memory.json [--case ss-small-kb-d3] [--seconds 6]
        [-- kboost run ARGS...]

Measures, each in a fresh child process so that nothing else is resident:
  * ``kboost run``: when a command is given after ``--`` (e.g. ``-- kboost run ...``), its RSS sampled
    every 20 ms from /proc/PID/status while it streams; steady state = the median of the samples of
    the second half of the run; also its peak (VmHWM) and whether torch was mapped into it (it must not
    be). Without a command, or while ``kboost run`` does not exist, this is reported as not measured.
  * the kboost model: a child that imports kboost (no torch), then loads the case's GGUF
    (``kboost._core.Model.load``) and makes one Streamer: RSS before / after each step; the delta is the
    model's resident size. Needs the C++ core and the GGUF exporter; reported as not measured without.
  * peers, for context: the steady RSS of a child streaming the same case with onnxruntime (no torch)
    and with the PyTorch step.

Linux only (/proc). Sizes in MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MB = 1e6
HERE = Path(__file__).resolve().parent


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _maps_torch(pid: int) -> bool | None:
    try:
        text = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return None
    return "libtorch" in text or "/torch/" in text


def rss_of_command(cmd: list[str], seconds: float, label: str | None = None) -> dict:
    """Run ``cmd`` for ``seconds`` (then terminate it, if still running) and sample its RSS."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    samples, torch_mapped, hwm = [], None, None
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds and proc.poll() is None:
        kb = _status_kb(proc.pid, "VmRSS")
        if kb is not None:
            samples.append(kb * 1024)
            hwm = _status_kb(proc.pid, "VmHWM") or hwm
            if torch_mapped is not True:
                torch_mapped = _maps_torch(proc.pid)
        time.sleep(0.02)
    ran_to_end = proc.poll() is not None
    if not ran_to_end:
        proc.terminate()
    out, err = proc.communicate(timeout=30)
    if ran_to_end and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()[-2000:]}")
    if len(samples) < 10:
        raise RuntimeError(f"{' '.join(cmd)}: too few RSS samples ({len(samples)}): it ended after "
                           f"{time.monotonic() - t0:.2f} s; give it more work or fewer --seconds")
    steady = statistics.median(samples[len(samples) // 2:])
    return {"command": label or " ".join(cmd), "steady_rss_mb": round(steady / MB, 2),
            "peak_rss_mb": round((hwm or 0) * 1024 / MB, 2), "n_samples": len(samples),
            "torch_mapped": torch_mapped, "stdout_tail": out.strip()[-300:]}


# Children: each streams the case for a while and prints its RSS figures as JSON.
_CHILD_KBOOST_MODEL = textwrap.dedent("""
    import json, sys
    def rss():
        for l in open('/proc/self/status'):
            if l.startswith('VmRSS:'): return int(l.split()[1]) * 1024
    r0 = rss()
    import numpy as np
    import kboost._core as core
    r1 = rss()
    model = core.Model.load(sys.argv[1])
    r2 = rss()
    s = core.Streamer(model)
    r3 = rss()
    x = np.zeros((2, 128), np.float32)
    for _ in range(200):
        s.process_chunk(x)
    r4 = rss()
    print(json.dumps({"python_start": r0, "after_import": r1, "after_model_load": r2,
                      "after_streamer": r3, "after_200_chunks": r4,
                      "torch_imported": "torch" in sys.modules}))
""")

_CHILD_ORT = textwrap.dedent("""
    import json, sys, time
    import numpy as np, onnxruntime as ort
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(sys.argv[1], so, providers=['CPUExecutionProvider'])
    z = np.load(sys.argv[2])
    feed = {k: z[k] for k in z.files}
    names = [o.name for o in sess.get_outputs()]
    t0 = time.monotonic()
    while time.monotonic() - t0 < float(sys.argv[3]):
        res = sess.run(names, feed)
        for n, v in zip(names, res):
            if n.startswith('next.'):
                feed['state.' + n[5:]] = v
    print(json.dumps({"torch_imported": "torch" in sys.modules}))
""")

_CHILD_TORCH = textwrap.dedent("""
    import sys, time, torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[2])
    from kboost_train import bench
    import cases
    case = next(c for c in cases.CASES if c.name == sys.argv[1])
    module, cfg = bench.load_module(case.config)
    inp = bench.make_inputs(cfg, case.role, 200, seed=1)
    step = bench.torch_runner(module, cfg, case.role, inp)
    t0, k = time.monotonic(), 0
    while time.monotonic() - t0 < float(sys.argv[3]):
        step(k % 200); k += 1
""")


def measure(case_name: str, seconds: float, run_cmd: list[str] | None) -> dict:
    import numpy as np
    import torch  # only this parent process imports torch: to export the files the children read

    sys.path.insert(0, str(HERE))
    import cases
    from kboost_train import bench
    from kboost_train.onnx_export import export_step

    torch.set_num_threads(1)
    case = next((c for c in cases.CASES if c.name == case_name), None)
    if case is None:
        raise ValueError(f"unknown case {case_name!r}: expected one of {list(cases.CASE_NAMES)}")
    module, cfg = bench.load_module(case.config)
    report: dict = {"case": case.name, "config": case.config, "role": case.role}
    with tempfile.TemporaryDirectory(prefix="kboost-mem-") as tmp:
        tmp = Path(tmp)
        why = bench.kboost_status()
        gguf = tmp / "model.gguf"
        if not why:
            from kboost_train.export import export_module
            export_module(module, cfg, str(gguf), case.role)
        # kboost run
        from kboost.cli import COMMANDS
        if run_cmd:
            report["kboost_run"] = rss_of_command(run_cmd, seconds)
        elif "run" not in COMMANDS:
            report["kboost_run"] = {"not_measured": "`kboost run` does not exist yet"}
        elif why:
            report["kboost_run"] = {"not_measured": why}
        elif case.role == "server":
            report["kboost_run"] = {"not_measured": "kboost run runs device/model files, not a server"}
        else:
            import soundfile as sf
            rng = np.random.default_rng(0)
            wav = tmp / "in.wav"
            sf.write(wav, (0.1 * rng.standard_normal((int(16000 * (seconds + 3)), 2))).astype(np.float32),
                     16000, subtype="FLOAT")
            cmd = [str(Path(sys.executable).with_name("kboost")), "run", "--model", str(gguf),
                   "--input", str(wav), "--output", str(tmp / "out.wav"), "--realtime"]
            if cfg.has_speaker:
                np.save(tmp / "spk.npy", rng.standard_normal(256).astype(np.float32))
                cmd += ["--speaker", str(tmp / "spk.npy")]
            report["kboost_run"] = rss_of_command(
                cmd, seconds, label="kboost run --model CASE.gguf --input noise.wav --output out.wav --realtime"
                                    " (no hint server: the device model alone, paced at real time)")
        # the kboost model's resident size
        if why:
            report["kboost_model"] = {"not_measured": why}
        else:
            res = subprocess.run([sys.executable, "-c", _CHILD_KBOOST_MODEL, str(gguf)],
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            report["kboost_model"] = {
                "gguf_file_mb": round(gguf.stat().st_size / MB, 3),
                "rss_python_numpy_kboost_mb": round(r["after_import"] / MB, 2),
                "model_resident_mb": round((r["after_model_load"] - r["after_import"]) / MB, 3),
                "streamer_resident_mb": round((r["after_streamer"] - r["after_model_load"]) / MB, 3),
                "rss_after_200_chunks_mb": round(r["after_200_chunks"] / MB, 2),
                "torch_imported": r["torch_imported"],
            }
        # peers
        onnx_path = tmp / "step.onnx"
        step = export_step(module, cfg, onnx_path, case.role)
        speaker = torch.zeros(1, 256) if cfg.has_speaker else None
        feed = {f"state.{n}": t.numpy() for n, t in zip(step.state_names, step.initial_state(1, speaker))}
        feed["chunk"] = (0.1 * torch.randn(1, 2, 128)).numpy()
        if step.has_hint_input:
            feed["hint"] = torch.randn(1, cfg.n_hint_channels, 97).numpy()
        np.savez(tmp / "feed.npz", **feed)
        report["onnxruntime"] = rss_of_command(
            [sys.executable, "-c", _CHILD_ORT, str(onnx_path), str(tmp / "feed.npz"), str(seconds + 5)],
            seconds, label="python: numpy + onnxruntime streaming the exported step (no torch)")
        report["torch"] = rss_of_command(
            [sys.executable, "-c", _CHILD_TORCH, case.name, str(HERE), str(seconds + 5)], seconds,
            label="python: torch eager streaming step")
    return report


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    run_cmd = None
    if "--" in argv:
        i = argv.index("--")
        argv, run_cmd = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default="ss-small-kb-d3", help="a case of benchmarks/cases.py")
    p.add_argument("--seconds", type=float, default=6.0, help="how long each streaming child is sampled")
    p.add_argument("--json", metavar="OUT", help="write the figures as JSON (for kboost bench --memory)")
    args = p.parse_args(argv)
    report = measure(args.case, args.seconds, run_cmd)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
