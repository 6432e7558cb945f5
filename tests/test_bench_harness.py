"""kboost bench: the harness runs every runtime on the same inputs, checks their outputs against the
torch step, and writes the JSON / markdown / PNG; a runtime that is not there is reported as not
measured, never given figures. (Speed itself is reported by the benchmark, not tested here.)"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'kboost[onnx]'")

from kboost.cli import main  # noqa: E402
from kboost_train import bench  # noqa: E402


def test_bench_small_case_writes_report(tmp_path, capsys):
    js, md, png = tmp_path / "b.json", tmp_path / "docs" / "b.md", tmp_path / "docs" / "b.png"
    rc = main(["bench", "--cases", "ss-small", "--chunks", "6", "--warmup", "2", "--round", "3",
               "--json", str(js), "--markdown", str(md), "--plot", str(png)])
    assert rc == 0
    report = json.loads(js.read_text())
    (res,) = report["results"]
    assert res["case"] == "ss-small" and res["macs_per_chunk"] > 1e6
    for rt in ("torch", "onnxruntime"):
        v = res["runtimes"][rt]
        assert v["available"] and len(v["samples_us"]) == 6 and 0 < v["p50_us"] <= v["max_us"]
        # cycles = microseconds x the measured clock (GHz), where the core could measure it
        ghz = report["fma_peak"]["ghz"]
        assert v["p50_kcycles"] == pytest.approx(v["p50_us"] * ghz)
    assert res["runtimes"]["onnxruntime"]["max_abs_vs_torch"] <= 1e-4
    k = res["runtimes"]["kboost"]
    page = md.read_text()
    if k["available"]:
        assert k["max_abs_vs_torch"] <= 1e-3, "the C++ core's output differs from the torch step"
        assert "speedup" in res
    else:
        assert k["why"] and "NOT MEASURED" in page and "NOT MEASURED" in capsys.readouterr().out
    assert "| ss-small | torch |" in page and png.stat().st_size > 1000


def test_bench_rejects_unknown_case():
    with pytest.raises(ValueError, match="unknown benchmark case"):
        bench.run_bench(["ss-huge"], n_chunks=1)
