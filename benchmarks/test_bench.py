"""pytest-benchmark suite: one chunk step per benchmark round, for every case of cases.py and every
runtime (kboost C++ core when it is built, PyTorch eager step, ONNX Runtime on the exported step),
all on one thread. Not part of the test suite (testpaths = tests); run it with

    pytest benchmarks/test_bench.py --benchmark-columns=min,median,mean,max,rounds

The kboost runtime is skipped, with the reason, until kboost._core has Model/Streamer and
kboost_train.export has export_module. ``kboost bench`` runs the same cases and runtimes interleaved
in one run and writes the docs/ table; this suite gives pytest-benchmark's statistics and history.
"""

from __future__ import annotations

import itertools

import pytest
import torch

from cases import CASES

bench = pytest.importorskip("kboost_train.bench")
pytest.importorskip("onnxruntime")

ROUNDS = 300
WARMUP = 30

torch.set_num_threads(1)


@pytest.mark.parametrize("runtime", bench.RUNTIMES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_chunk_step(benchmark, tmp_path, case, runtime):
    module, cfg = bench.load_module(case.config, seed=0)
    inp = bench.make_inputs(cfg, case.role, ROUNDS + WARMUP + 1, seed=1)
    if runtime == "torch":
        step = bench.torch_runner(module, cfg, case.role, inp)
    elif runtime == "onnxruntime":
        step = bench.ort_runner(module, cfg, case.role, inp, tmp_path)
    else:
        try:
            step = bench.kboost_runner(module, cfg, case.role, inp, tmp_path)
        except bench.Unavailable as e:
            pytest.skip(f"kboost runtime not measured: {e}")
    counter = itertools.count()
    benchmark.group = case.name
    benchmark.extra_info.update(config=case.config, role=case.role, runtime=runtime)
    out = benchmark.pedantic(lambda: step(next(counter)), rounds=ROUNDS, iterations=1,
                             warmup_rounds=WARMUP)
    assert out.shape == (cfg.n_out * 128 + (cfg.hint_size if case.role == "server" else 0),)
