"""``kboost bench``: per-chunk latency of kboost's C++ core against PyTorch eager and ONNX Runtime.

For every case of ``benchmarks/cases.py`` and every runtime, in ONE process and ONE run, all on one
thread (``torch.set_num_threads(1)``; ORT intra/inter-op threads 1, sequential execution; the C++ core
is single-threaded per stream):

* ``kboost``: ``kboost._core.Streamer`` on a GGUF written by ``kboost_train.export.export_module``
  (absent until the C++ core and the exporter exist: the run says so, and no figure is made up);
* ``torch``: the PyTorch reference's eager streaming step (``TFGridNet.step`` / ``JointModel``) under
  ``torch.inference_mode()`` (PyTorch's fastest eager setting for inference: ~12% faster per chunk
  here than ``torch.no_grad()``, which earlier runs used);
* ``onnxruntime``: the same step exported to ONNX (``kboost_train.onnx_export``).

Method: each runtime runs its own stream over the same input chunks (and, for a device model, the same
hints: the hint of chunk k - d at chunk k). After a warm-up, the timed chunks are run in rounds of
``--round`` chunks per runtime in turn, so load changes on a shared machine hit every runtime alike
and the ratios compare runtimes measured in the same minutes. Each chunk call is timed alone with
``time.perf_counter_ns`` from Python, so every runtime pays its binding's call overhead. Outputs are
kept and compared with the torch step (max-abs), which checks every runtime computes the same thing.

Figures per case and runtime: p50 / p99 / max / mean per chunk in microseconds, the real-time factor
(mean compute time / 8 ms of audio), kboost's speed-up over each peer (peer p50 / kboost p50), MACs
per chunk (counted by ``kboost_train.info``) and the fraction of one core's FMA peak that the p50
reaches (an ESTIMATE: FMA units x fp32 lanes of the widest vector ISA x the clock, measured by the
core where it can, else /proc/cpuinfo's; see :func:`fma_peak`).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from kboost.config import CHUNK_SIZE, N_FREQ, N_IN_CHANNELS, SAMPLE_RATE, SPEAKER_EMBEDDING_DIM
from kboost_train.models import JointModel
from kboost_train.onnx_export import (
    OrtStepper,
    StreamingStep,
    export_step,
    load_module,
    ort_session,
)

CHUNK_US = CHUNK_SIZE / SAMPLE_RATE * 1e6  # 8000 us of audio per chunk
RUNTIMES = ("kboost", "torch", "onnxruntime")


# ---- the shared case list ---------------------------------------------------------------------------
def load_cases_module():
    """``benchmarks/cases.py`` of a source checkout: ``$KBOOST_BENCH_CASES`` if set, else the one beside
    this package's source tree (editable install), else ``./benchmarks/cases.py``."""
    env = os.environ.get("KBOOST_BENCH_CASES")
    tried = [Path(env)] if env else [Path(__file__).resolve().parents[2] / "benchmarks" / "cases.py",
                                     Path.cwd() / "benchmarks" / "cases.py"]
    path = next((p for p in tried if p.is_file()), None)
    if path is None:
        raise FileNotFoundError(
            f"benchmark cases not found (tried {', '.join(map(str, tried))}): run kboost bench in a "
            "source checkout of kboost or set KBOOST_BENCH_CASES to benchmarks/cases.py")
    spec = importlib.util.spec_from_file_location("kboost_bench_cases", path)
    if spec.name in sys.modules:
        return sys.modules[spec.name]
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


# ---- inputs -------------------------------------------------------------------------------------------
@dataclass
class Inputs:
    """The same input for every runtime of a case: chunks [N, 1, 2, 128], hint of chunk k [N, 1, C_h, F]
    (device only), speaker embedding [1, 256] (TSE only); delay d (device only)."""

    chunks: np.ndarray
    hints: np.ndarray | None
    speaker: np.ndarray | None
    delay: int

    def delayed_hint(self, k: int) -> np.ndarray | None:
        """The hint the device uses at chunk k: that of chunk k - d, zeros before chunk d."""
        if self.hints is None:
            return None
        j = k - self.delay
        return self.hints[j] if j >= 0 else np.zeros_like(self.hints[0])


def make_inputs(cfg, role: str, n_chunks: int, seed: int = 0) -> Inputs:
    rng = np.random.default_rng(seed)
    chunks = (0.1 * rng.standard_normal((n_chunks, 1, N_IN_CHANNELS, CHUNK_SIZE))).astype(np.float32)
    hints = (rng.standard_normal((n_chunks, 1, cfg.n_hint_channels, N_FREQ)).astype(np.float32)
             if role == "device" else None)
    speaker = (rng.standard_normal((1, SPEAKER_EMBEDDING_DIM)).astype(np.float32)
               if cfg.has_speaker else None)
    return Inputs(chunks, hints, speaker, cfg.kb.delay if role == "device" else 0)


# ---- runtimes: each is a callable processing chunk k of its own stream and returning its outputs as one
# flat float32 array: the audio out [n_out * 128], then, for a server, the compressed hint [C_h * 97] ------
class Unavailable(Exception):
    """A runtime that cannot run here; the message says why (shown in every output)."""


def torch_runner(module, cfg, role: str, inp: Inputs) -> Callable[[int], np.ndarray]:
    torch.set_num_threads(1)
    speaker = torch.from_numpy(inp.speaker) if inp.speaker is not None else None
    chunks = torch.from_numpy(inp.chunks)
    if role == "model":
        state = [module.init_state(1, speaker)]

        def step(k: int) -> np.ndarray:
            with torch.inference_mode():
                out, state[0] = module.step(chunks[k], state[0])
            return out.numpy().ravel()
    elif role == "device":
        state = [module.small.init_state(1, speaker)]
        hints = [torch.from_numpy(inp.delayed_hint(k)) for k in range(len(chunks))]

        def step(k: int) -> np.ndarray:
            with torch.inference_mode():
                out, state[0] = module.small.step(chunks[k], state[0], hints[k])
            return out.numpy().ravel()
    else:  # server: the large model's output and its compressed hint
        state = [module.init_state(1, speaker)]

        def step(k: int) -> np.ndarray:
            with torch.inference_mode():
                out, spec, ls = module.large.step_spec(chunks[k], JointModel._sub(state[0], "large."))
                e, cs = module.compress.step(spec, {"compress.hist": state[0]["compress.hist"]})
                state[0] = {**cs, **{f"large.{n}": v for n, v in ls.items()}}
            return np.concatenate([out.numpy().ravel(), e.numpy().ravel()])
    return step


def ort_runner(module, cfg, role: str, inp: Inputs, workdir: Path) -> Callable[[int], np.ndarray]:
    path = workdir / f"{cfg.name}-{role}.onnx"
    step_fn: StreamingStep = export_step(module, cfg, path, role)
    speaker = torch.from_numpy(inp.speaker) if inp.speaker is not None else None
    stepper = OrtStepper(ort_session(path, n_threads=1),
                         [t.numpy() for t in step_fn.initial_state(1, speaker)])
    hints = [inp.delayed_hint(k) for k in range(len(inp.chunks))]

    def step(k: int) -> np.ndarray:
        return np.concatenate([a.ravel() for a in stepper.step(inp.chunks[k], hints[k])])
    return step


def kboost_status() -> str | None:
    """None when kboost's C++ core and GGUF exporter are both there, else why not."""
    try:
        import kboost._core as core
    except ImportError as e:  # pragma: no cover - the extension is built with the package
        return f"kboost._core does not import ({e})"
    missing = [n for n in ("Model", "Streamer") if not hasattr(core, n)]
    if missing:
        return f"the C++ core is not built yet (kboost._core has no {', '.join(missing)})"
    try:
        from kboost_train import export
    except ImportError as e:
        return f"the GGUF exporter is not there yet (kboost_train.export: {e})"
    if not hasattr(export, "export_module"):
        return "the GGUF exporter is not there yet (kboost_train.export has no export_module)"
    return None


def kboost_runner(module, cfg, role: str, inp: Inputs, workdir: Path) -> Callable[[int], np.ndarray]:
    why = kboost_status()
    if why:
        raise Unavailable(why)
    import kboost._core as core
    from kboost_train.export import export_module

    path = workdir / f"{cfg.name}-{role}.gguf"
    export_module(module, cfg, str(path), role)
    streamer = core.Streamer(core.Model.load(str(path)))
    if inp.speaker is not None:
        streamer.set_speaker(np.ascontiguousarray(inp.speaker[0]))
    out = np.zeros((cfg.n_out, CHUNK_SIZE), np.float32)
    chunks = [np.ascontiguousarray(c[0]) for c in inp.chunks]
    if role == "server":
        hint_out = np.zeros((cfg.n_hint_channels, N_FREQ), np.float32)

        def step(k: int) -> np.ndarray:
            streamer.process_chunk_with_hint(chunks[k], out, hint_out)
            return np.concatenate([out.ravel(), hint_out.ravel()])
        return step
    hints = [np.ascontiguousarray(h[0]) for h in inp.hints] if inp.hints is not None else None
    refused = [0]

    def step(k: int) -> np.ndarray:
        if hints is not None:  # the hint of chunk k arrives now; the device uses it at chunk k + d
            if not streamer.push_hint(k, hints[k]):
                refused[0] += 1
        streamer.process_chunk(chunks[k], out)
        return out.ravel()  # a view, as torch's .numpy(): the harness copies it after the timer
    if hints is not None:
        step.refused = refused  # type: ignore[attr-defined]
    return step


# ---- the run -----------------------------------------------------------------------------------------
def percentiles(us: np.ndarray) -> dict[str, float]:
    return {"min_us": float(us.min()), "p50_us": float(np.percentile(us, 50)), "p99_us": float(np.percentile(us, 99)),
            "max_us": float(us.max()), "mean_us": float(us.mean()),
            "rtf": float(us.mean() / CHUNK_US)}


def case_macs(cfg, role: str) -> tuple[int | None, str]:
    """(MACs per chunk, note): counted by kboost_train.info (the lead's counter)."""
    try:
        from kboost_train.info import model_info
    except ImportError as e:
        return None, f"MACs not counted: kboost_train.info is missing ({e})"
    info = model_info(cfg)
    if role == "server":
        return int(info["server_macs_per_chunk"]), "large model + compression conv"
    note = "speaker FiLM excluded (once per enrollment)" if cfg.has_speaker else ""
    return int(info["macs_per_chunk"]), note


def fma_peak() -> dict[str, Any]:
    """An ESTIMATE of one core's fp32 FMA peak: 2 FMA units x lanes of the widest vector ISA in the
    cpu flags (AVX-512: 16, AVX2+FMA: 8, else NEON/SSE: 4) x the clock, measured where the C++ core
    can (kboost._core.measure_clock_ghz: a timed chain of dependent register-register integer adds,
    the best of five; the scalar clock, turbo included, so wide-vector code may run below it), else the clock
    /proc/cpuinfo reports (nominal: turbo ignored)."""
    flags, mhz, model = set(), None, platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key == "flags" and not flags:
                flags = set(val.split())
            elif key == "cpu MHz" and mhz is None:
                mhz = float(val)
            elif key == "model name":
                model = val.strip()
    except OSError:
        pass
    lanes, isa = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2+FMA") if {"avx2", "fma"} <= flags \
        else (4, "128-bit SIMD")
    measured = 0.0
    try:
        import kboost._core as core
        measured = max(core.measure_clock_ghz(0.05) for _ in range(5))
    except (ImportError, AttributeError):
        pass
    if measured > 0:
        ghz, source = measured, "measured after the run: dependent register-register integer adds, best of five"
    else:
        ghz = (mhz or 2000.0) / 1000
        source = "/proc/cpuinfo cpu MHz" if mhz else "assumed 2 GHz (no /proc/cpuinfo)"
    units = 2
    return {"cpu": model, "isa": isa, "fma_units": units, "lanes": lanes, "ghz": ghz,
            "clock_source": source, "cpuinfo_ghz": (mhz / 1000) if mhz else None,
            "gfma_per_s": units * lanes * ghz, "avx2_gfma_per_s": units * 8 * ghz}


def run_case(case, n_chunks: int, n_warmup: int, round_size: int, runtimes: list[str],
             workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    torch.manual_seed(0)
    module, cfg = load_module(case.config, seed=0)
    inp = make_inputs(cfg, case.role, n_warmup + n_chunks, seed=1)
    makers = {"torch": lambda: torch_runner(module, cfg, case.role, inp),
              "onnxruntime": lambda: ort_runner(module, cfg, case.role, inp, workdir),
              "kboost": lambda: kboost_runner(module, cfg, case.role, inp, workdir)}
    steps, res = {}, {"case": case.name, "config": case.config, "role": case.role,
                      "description": case.description, "runtimes": {}}
    for rt in runtimes:
        try:
            steps[rt] = makers[rt]()
        except Unavailable as e:
            res["runtimes"][rt] = {"available": False, "why": str(e)}
            log(f"  {rt}: NOT MEASURED: {e}")
    n_values = cfg.n_out * CHUNK_SIZE + (cfg.hint_size if case.role == "server" else 0)
    outs = {rt: np.zeros((n_warmup + n_chunks, n_values), np.float32) for rt in steps}
    times = {rt: np.zeros(n_chunks, np.float64) for rt in steps}
    for rt, step in steps.items():
        for k in range(n_warmup):
            outs[rt][k] = step(k)
    for start in range(n_warmup, n_warmup + n_chunks, round_size):
        for rt, step in steps.items():
            for k in range(start, min(start + round_size, n_warmup + n_chunks)):
                t0 = time.perf_counter_ns()
                y = step(k)
                times[rt][k - n_warmup] = (time.perf_counter_ns() - t0) / 1000
                outs[rt][k] = y
    for rt in steps:
        r = {"available": True, **percentiles(times[rt]), "n_chunks": n_chunks}
        if "torch" in outs and rt != "torch":
            r["max_abs_vs_torch"] = float(np.abs(outs[rt] - outs["torch"]).max())
        refused = getattr(steps[rt], "refused", None)
        if refused is not None:
            r["hints_refused"] = refused[0]
        r["samples_us"] = [round(float(t), 2) for t in times[rt]]
        res["runtimes"][rt] = r
    macs, note = case_macs(cfg, case.role)
    res["macs_per_chunk"], res["macs_note"] = macs, note
    k = res["runtimes"].get("kboost", {})
    if k.get("available"):
        res["speedup"] = {rt: res["runtimes"][rt]["p50_us"] / k["p50_us"]
                          for rt in steps if rt != "kboost"}
    return res


def add_peak_fraction(results: list[dict], peak: dict) -> None:
    for r in results:
        for rt in r["runtimes"].values():
            if rt.get("available") and r["macs_per_chunk"]:
                rt["gmac_per_s"] = r["macs_per_chunk"] / rt["p50_us"] / 1e3
            if rt.get("available"):
                # p50 in cycles of the measured clock: comparable between runs at different turbo
                # states (not between hosts whose other tenants share the core's pipes).
                rt["p50_kcycles"] = rt["p50_us"] * peak["ghz"]
                rt["fraction_of_peak"] = rt["gmac_per_s"] / peak["gfma_per_s"]
                rt["fraction_of_avx2_peak"] = rt["gmac_per_s"] / peak["avx2_gfma_per_s"]


def run_bench(case_names: list[str] | None = None, n_chunks: int = 1000, n_warmup: int = 100,
              round_size: int = 50, runtimes: list[str] | None = None,
              log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the cases; returns the JSON-able report (see the module doc)."""
    _limiter, pools = _one_thread_helper_pools()  # noqa: F841 (the limits hold while it lives)
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process
    cases = load_cases_module().select(case_names)
    runtimes = list(runtimes or RUNTIMES)
    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad:
        raise ValueError(f"unknown runtime(s) {bad}: expected some of {list(RUNTIMES)}")
    results = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="kboost-bench-") as tmp:
        for case in cases:
            log(f"{case.name} ({case.config}, {case.role}) ...")
            r = run_case(case, n_chunks, n_warmup, round_size, runtimes, Path(tmp), log)
            r["target_p50_us"] = case.target_p50_us
            r["min_speedup"] = dict(case.min_speedup)
            results.append(r)
    peak = fma_peak()
    add_peak_fraction(results, peak)
    import kboost

    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": peak["cpu"], "n_cpus": os.cpu_count(), "platform": platform.platform(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "versions": {"kboost": kboost.__version__, "kboost_core_build": kboost.build_info(),
                     "torch": torch.__version__, "onnxruntime": _version("onnxruntime"),
                     "python": platform.python_version(),
                     "kboost_kernels": _kernel_isa(),
                     "KBOOST_KERNELS": os.environ.get("KBOOST_KERNELS", "")},
        "method": {"threads": 1, "n_chunks": n_chunks, "n_warmup": n_warmup, "round_size": round_size,
                   "timer": "time.perf_counter_ns around each chunk call, from Python",
                   "helper_pools": pools},
        "fma_peak": peak,
        "kboost_status": kboost_status() or "measured",
        "results": results,
    }


def _one_thread_helper_pools() -> tuple[Any, dict[str, Any]]:
    """The helper thread pools (OpenMP, OpenBLAS, MKL) at one thread: their idle workers spin on the
    other core of a small machine and slow the measured thread (torch's eager step by ~11% on the
    2-core VM). `kboost bench` sets OMP/OPENBLAS/MKL_NUM_THREADS=1 before numpy and torch load
    (kboost.cli.COMMAND_ENV); threadpoolctl, where installed, also caps pools loaded already.
    Returns the limiter (keep it alive for the run) and what the report records."""
    env = {k: os.environ.get(k, "") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None, {"env": env, "threadpoolctl": "not installed"}
    limiter = threadpool_limits(limits=1)
    return limiter, {"env": env, "threadpoolctl": [
        {"api": p.get("internal_api"), "num_threads": p.get("num_threads")} for p in threadpool_info()]}


def _kernel_isa() -> str:
    import kboost._core as core

    return core.kernel_isa() if hasattr(core, "kernel_isa") else "unknown (kboost._core has no kernel_isa)"


def _version(mod: str) -> str:
    try:
        return importlib.import_module(mod).__version__
    except ImportError:
        return "absent"


# ---- reporting ------------------------------------------------------------------------------------------
def _f(x: float | None, fmt: str = "{:,.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def _peak(v: dict) -> str:
    if v.get("fraction_of_peak") is None:
        return "-"
    avx2 = v.get("fraction_of_avx2_peak")
    return f"{100 * v['fraction_of_peak']:.1f}%" + (f"; {100 * avx2:.1f}%" if avx2 is not None else "")


def format_table(report: dict) -> str:
    """The markdown table: one row per case and runtime."""
    head = ("| case | runtime | p50 us | p50 k cycles | p99 us | max us | RTF | kboost speed-up | MACs/chunk | "
            "GMAC/s | of FMA peak (widest; AVX2) | max-abs vs torch |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in report["results"]:
        for rt in RUNTIMES:
            v = r["runtimes"].get(rt)
            if v is None:
                continue
            if not v["available"]:
                lines.append(f"| {r['case']} | {rt} | not measured: {v['why']} |" + " |" * 9)
                continue
            sp = r.get("speedup", {}).get(rt)
            sp_s = "1" if rt == "kboost" else (f"{sp:.1f}x" if sp else "-")
            lines.append(
                f"| {r['case']} | {rt} | {_f(v['p50_us'])} | {_f(v.get('p50_kcycles'))} | {_f(v['p99_us'])} | {_f(v['max_us'])} | "
                f"{v['rtf']:.3f} | {sp_s} | {_f(r['macs_per_chunk'] and r['macs_per_chunk'] / 1e6, '{:.2f} M')} | "
                f"{_f(v.get('gmac_per_s'), '{:.2f}')} | {_peak(v)} | "
                f"{_f(v.get('max_abs_vs_torch'), '{:.1e}')} |")
    return "\n".join(lines)


def format_targets(report: dict) -> str:
    lines = []
    for r in report["results"]:
        k = r["runtimes"].get("kboost", {})
        if r.get("target_p50_us"):
            got = f"{k['p50_us']:,.1f} us" if k.get("available") else "not measured"
            ok = "" if not k.get("available") else (" (met)" if k["p50_us"] <= r["target_p50_us"] else " (NOT met)")
            lines.append(f"- {r['case']}: kboost p50 <= {r['target_p50_us']:,.0f} us: {got}{ok}")
        for peer, need in r.get("min_speedup", {}).items():
            sp = r.get("speedup", {}).get(peer)
            got = f"{sp:.2f}x" if sp else "not measured"
            ok = "" if sp is None else (" (met)" if sp >= need else " (NOT met)")
            lines.append(f"- {r['case']}: kboost >= {need:g}x faster than {peer}: {got}{ok}")
    return "\n".join(lines)


def format_markdown(report: dict, plot_name: str | None = None, memory: dict | None = None) -> str:
    m, p = report["machine"], report["fma_peak"]
    meth = report["method"]
    out = [
        "# kboost benchmarks: the C++ core vs PyTorch eager and ONNX Runtime",
        "",
        f"Generated by `kboost bench` on {report['date_utc']}. Machine: {m['cpu']}, {m['n_cpus']} CPUs "
        f"({m['platform']}), load average {m['loadavg_before'][0]:.2f} before and "
        f"{m['loadavg_after'][0]:.2f} after the run: OTHER AGENTS WERE LOADING THIS SHARED MACHINE while it "
        "ran, so absolute times are noisy (p99/max most of all); the ratios compare runtimes measured "
        "in the same run, interleaved in rounds.",
        "",
        f"Method: one thread per runtime (torch.set_num_threads(1) and torch.inference_mode(); ONNX Runtime "
        f"intra/inter-op threads 1, helper pools OpenMP/OpenBLAS/MKL at 1 thread, "
        f"sequential execution; the C++ core runs one stream on the calling thread); batch 1; "
        f"{meth['n_warmup']} warm-up chunks, then {meth['n_chunks']} timed chunks per runtime in rounds of "
        f"{meth['round_size']} per runtime in turn; each 8 ms chunk call timed alone from Python "
        "(perf_counter_ns), so every runtime pays its Python binding's call overhead. "
        "RTF = mean compute time / 8 ms. p50 k cycles = p50 x the measured clock below (it takes out the "
        "turbo state, not the other tenants of a shared core). Speed-up = peer p50 / kboost p50. "
        "Max-abs vs torch: the largest difference of a runtime's output from the torch step over all "
        "chunks of the run (random seeded weights and inputs).",
        "",
        f"MACs per chunk are counted by `kboost info` (kboost_train.info). FMA peak (an ESTIMATE): "
        f"{p['fma_units']} FMA units x {p['lanes']} fp32 lanes ({p['isa']}) x {p['ghz']:.2f} GHz "
        f"({p['clock_source']}) = {p['gfma_per_s']:.1f} G FMA/s for one core "
        f"(with AVX2 only: {p['avx2_gfma_per_s']:.1f}); the fraction is MACs per chunk / p50 / that peak.",
        "",
        f"The C++ core of this run: `{report['versions']['kboost_core_build']}` (`kboost.build_info()`: "
        "the baseline ISA it was compiled for), kernels chosen at start-up: "
        f"`{report['versions'].get('kboost_kernels', 'unknown')}` (`kboost._core.kernel_isa()`; "
        f"KBOOST_KERNELS={report['versions'].get('KBOOST_KERNELS') or '(unset)'}). "
        "The avx512 table uses 16-lane vectors (the widest figure applies); avx2+fma kernels can reach "
        "the AVX2 figure at most, half the AVX-512 peak; the table gives the fraction of both.",
        "",
        "The ONNX graph is the exported streaming step of `kboost export-onnx` (kboost_train.onnx_export): "
        "the same network with the state as explicit inputs/outputs, its STFT as real DFT matrix products "
        "(about 0.2 M MACs per chunk, not in the counted MACs); ONNX Runtime optimisation level ALL.",
        "",
        f"Versions: {', '.join(f'{k} {v}' for k, v in report['versions'].items())}.",
        "",
    ]
    if report["kboost_status"] != "measured":
        out += [f"**kboost C++ core: NOT MEASURED in this run: {report['kboost_status']}.**", ""]
    out += ["## Per-chunk latency", "", format_table(report), ""]
    targets = format_targets(report)
    run = (memory or {}).get("kboost_run", {})
    if "steady_rss_mb" in run:
        ok = "met" if run["steady_rss_mb"] <= 50 and not run["torch_mapped"] else "NOT met"
        targets += (f"\n- kboost run: steady RSS <= 50 MB without torch: {run['steady_rss_mb']:.1f} MB, "
                    f"torch mapped: {'yes' if run['torch_mapped'] else 'no'} ({ok})")
    if targets:
        out += ["## Targets (issue 6)", "", targets.strip(), ""]
    if plot_name:
        out += [f"![per-chunk latency]({plot_name})", ""]
    if memory:
        out += ["## Memory", "", format_memory(memory), ""]
    cases = load_cases_module().CASES
    out += ["## Cases (benchmarks/cases.py)", ""]
    out += [f"- `{c.name}`: config `{c.config}`, role `{c.role}`: {c.description}" for c in cases]
    return "\n".join(out) + "\n"


def format_memory(mem: dict) -> str:
    """The figures of benchmarks/memory.py as markdown."""
    lines = [f"Measured by `python benchmarks/memory.py` on case `{mem.get('case')}` "
             f"({mem.get('config')}, role {mem.get('role')}); MB = 10^6 bytes; steady RSS = median of "
             "the second half of 20 ms samples of a child process streaming the case.", "",
             "| process | steady RSS MB | peak RSS MB | torch mapped |", "|---|---|---|---|"]
    for key in ("kboost_run", "onnxruntime", "torch"):
        v = mem.get(key)
        if not v:
            continue
        if "not_measured" in v:
            lines.append(f"| {key.replace('_', ' ')} | not measured: {v['not_measured']} | | |")
        else:
            lines.append(f"| {v['command']} | {v['steady_rss_mb']:.1f} | {v['peak_rss_mb']:.1f} | "
                         f"{'yes' if v['torch_mapped'] else 'no'} |")
    m = mem.get("kboost_model")
    if m and "not_measured" in m:
        lines += ["", f"kboost model resident size: not measured: {m['not_measured']}."]
    elif m:
        lines += ["", f"kboost model: GGUF file {m['gguf_file_mb']:.3f} MB; resident after Model.load "
                      f"+{m['model_resident_mb']:.3f} MB, one Streamer +{m['streamer_resident_mb']:.3f} MB "
                      f"(python + numpy + kboost imported: {m['rss_python_numpy_kboost_mb']:.1f} MB; after 200 "
                      f"chunks {m['rss_after_200_chunks_mb']:.1f} MB; torch imported: {m['torch_imported']})."]
    return "\n".join(lines)


def plot(report: dict, path: str | Path) -> None:
    """Bars of p50 per case and runtime (log scale) with p99 and max markers, and the 8 ms budget; and
    the latency distributions (ECDF) of the small+KB device case."""
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    colors = {"kboost": "tab:green", "torch": "tab:red", "onnxruntime": "tab:blue"}
    width = 0.27
    for j, rt in enumerate(RUNTIMES):
        xs, p50, p99, mx = [], [], [], []
        for i, r in enumerate(results):
            v = r["runtimes"].get(rt)
            if v and v["available"]:
                xs.append(i + (j - 1) * width)
                p50.append(v["p50_us"]), p99.append(v["p99_us"]), mx.append(v["max_us"])
        if not xs:
            continue
        ax.bar(xs, p50, width, color=colors[rt], label=f"{rt} p50")
        ax.scatter(xs, p99, marker="_", s=150, color="black", zorder=3)
        ax.scatter(xs, mx, marker=".", s=20, color="gray", zorder=3)
    ax.scatter([], [], marker="_", color="black", label="p99")
    ax.scatter([], [], marker=".", color="gray", label="max")
    ax.axhline(CHUNK_US, color="k", ls="--", lw=0.8, label="8 ms (real time)")
    ax.set_yscale("log")
    ax.set_xticks(range(len(results)), [r["case"] for r in results], rotation=15)
    ax.set_ylabel("per-chunk latency (us, log)")
    missing = report["kboost_status"]
    ax.set_title("one thread, batch 1" + ("" if missing == "measured" else "\n(kboost C++ core not measured)"))
    ax.legend(fontsize=8, ncol=2)
    focus = next((r for r in results if r["case"] == "ss-small-kb-d3"), results[0])
    for rt in RUNTIMES:
        v = focus["runtimes"].get(rt)
        if v and v["available"]:
            s = np.sort(np.asarray(v["samples_us"]))
            ax2.plot(s, np.arange(1, len(s) + 1) / len(s), color=colors[rt], label=rt)
    ax2.set_xscale("log")
    ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax2.set_xlabel("per-chunk latency (us, log)")
    ax2.set_ylabel("fraction of chunks")
    ax2.set_title(f"distribution: {focus['case']}")
    ax2.grid(alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- CLI ------------------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cases", nargs="+", metavar="CASE", help="cases of benchmarks/cases.py (default all)")
    p.add_argument("--runtimes", nargs="+", choices=RUNTIMES, help="runtimes (default all available)")
    p.add_argument("--chunks", type=int, default=1000, help="timed chunks per case and runtime")
    p.add_argument("--warmup", type=int, default=100, help="untimed chunks first")
    p.add_argument("--round", type=int, default=50, help="chunks per runtime per round")
    p.add_argument("--json", metavar="OUT", help="write the full report (with every sample) as JSON")
    p.add_argument("--markdown", metavar="OUT", help="write the markdown page (e.g. docs/benchmarks.md)")
    p.add_argument("--plot", metavar="OUT", help="write the PNG (e.g. docs/benchmarks.png)")
    p.add_argument("--memory", metavar="JSON", help="memory figures (benchmarks/memory.py --json) for the page")
    p.add_argument("--from-json", metavar="IN", help="do not run: re-render the page/plot of a saved report")


def run(args: argparse.Namespace) -> int:
    for name in ("chunks", "warmup", "round"):
        if getattr(args, name) < (1 if name != "warmup" else 0):
            raise ValueError(f"--{name} must be positive, got {getattr(args, name)}")
    if args.from_json:
        report = json.loads(Path(args.from_json).read_text())
    else:
        report = run_bench(args.cases, args.chunks, args.warmup, args.round, args.runtimes,
                           log=lambda s: print(s, flush=True))
    print()
    if report["kboost_status"] != "measured":
        print(f"kboost C++ core: NOT MEASURED: {report['kboost_status']}\n")
    print(format_table(report))
    targets = format_targets(report)
    if targets:
        print("\n" + targets)
    p = report["fma_peak"]
    print(f"\nFMA peak assumed (estimate): {p['fma_units']} x {p['lanes']} lanes ({p['isa']}) x "
          f"{p['ghz']:.2f} GHz = {p['gfma_per_s']:.1f} G FMA/s; load average "
          f"{report['machine']['loadavg_before'][0]:.2f} -> {report['machine']['loadavg_after'][0]:.2f}")
    for out in (args.json, args.plot, args.markdown):
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.plot:
        plot(report, args.plot)
    if args.markdown:
        memory = json.loads(Path(args.memory).read_text()) if args.memory else None
        plot_name = os.path.relpath(args.plot, Path(args.markdown).parent) if args.plot else None
        Path(args.markdown).write_text(format_markdown(report, plot_name, memory))
    return 0
