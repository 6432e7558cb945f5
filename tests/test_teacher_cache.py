"""The frozen-teacher cache of joint KB training: exact reuse, sharing between processes, staleness."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kboost.config import get_config, ModelConfig, NetConfig
from kboost_train import JointModel, teacher_cache
from kboost_train.train import build_dataset, load_checkpoint, load_recipe, train

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def _tiny_joint() -> JointModel:
    d = get_config("ss-small-kb-d1-c2").to_dict()
    d["net"] = NetConfig(d_model=4, n_blocks=2, n_hidden=4).__dict__
    d["large"] = NetConfig(d_model=8, n_blocks=2, n_hidden=8, n_attn_heads=2, attn_window=8).__dict__
    torch.manual_seed(0)
    return JointModel(ModelConfig.from_dict(d)).eval()


def test_joint_forward_with_precomputed_large_spec_is_identical():
    m = _tiny_joint()
    x = torch.randn(2, 2, 4000)
    with torch.no_grad():
        spec = m.large_spec(x)
        assert spec.shape[1] == m.cfg.n_spec_channels
        for d in (0, 1, 3):
            assert torch.equal(m(x, delay=d), m(x, delay=d, large_spec=spec))


def _data(n: int):
    spec = {**load_recipe(CONFIGS / "tiny-ss-kb.toml").data_spec("val"), "n_items": n}
    return spec, build_dataset(spec)


def test_fill_computes_once_and_reads_back(tmp_path, monkeypatch):
    m = _tiny_joint()
    spec, ds = _data(5)
    got = teacher_cache.fill(m.large, ds, spec, tmp_path, batch=2, progress=False)
    with torch.no_grad():
        want = torch.cat([m.large_spec(ds[i]["mixture"][None]) for i in range(len(ds))])
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)

    def fail(*a, **k):
        raise AssertionError("recomputed a cached chunk")

    monkeypatch.setattr(teacher_cache, "_compute", fail)
    assert torch.equal(teacher_cache.fill(m.large, ds, spec, tmp_path, progress=False), got)
    # Another teacher (one weight changed) or other data never reads this cache.
    with torch.no_grad():
        m.large.decoder.deconv.weight[0, 0, 0, 0] += 1.0
    with pytest.raises(AssertionError, match="recomputed"):
        teacher_cache.fill(m.large, ds, spec, tmp_path, progress=False)
    with pytest.raises(AssertionError, match="recomputed"):
        teacher_cache.fill(_tiny_joint().large, ds, {**spec, "seed": 9}, tmp_path, progress=False)


def test_a_dead_owners_lock_is_taken_over_and_corrupt_chunks_are_named(tmp_path):
    m = _tiny_joint()
    spec, ds = _data(3)
    folder = tmp_path / teacher_cache.fingerprint(m.large, spec)
    folder.mkdir()
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()  # a pid that no longer runs
    (folder / "items-000000-000003.lock").write_text(str(p.pid))
    out = teacher_cache.fill(m.large, ds, spec, tmp_path, progress=False, poll_s=0.01)
    assert out.shape[0] == 3 and not (folder / "items-000000-000003.lock").exists()
    torch.save(torch.zeros(2, 1), folder / "items-000000-000003.pt")
    with pytest.raises(ValueError, match="corrupt teacher cache chunk"):
        teacher_cache.fill(m.large, ds, spec, tmp_path, progress=False)


def _recipe(tmp_path: Path, cache: bool) -> Path:
    text = (CONFIGS / "tiny-ss-kb.toml").read_text()
    # A fixed training pool of 6 mixtures either way: cached, or drawn by the data set each time.
    text = text.replace("n_items = 16", "n_items = 6").replace("per_epoch = true", "per_epoch = false")
    text = text.replace("[train]\n", "[train]\nfreeze_large = true\n" + ("teacher_cache = 6\n" if cache else ""))
    p = tmp_path / f"kb-{'cached' if cache else 'live'}.toml"
    p.write_text(text)
    return p


def test_cached_teacher_training_matches_running_the_teacher(tmp_path):
    runs = tmp_path / "runs"
    train(load_recipe(_recipe(tmp_path, True)), runs / "cached", progress=False)
    train(load_recipe(_recipe(tmp_path, False)), runs / "live", progress=False)
    assert len(list((runs / "teacher-cache").glob("*/items-*.pt"))) == 2  # train pool + val set
    a, b = (load_checkpoint(runs / n / "last.pt")["model"] for n in ("cached", "live"))
    for k in a:
        if k.endswith("k_norm.bias"):
            # The keys' bias adds q.b to every score of a query: softmax ignores it, its gradient is
            # zero up to rounding, and Adam turns that rounding into steps of size lr. Skip it.
            continue
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    logs = [list(csv.DictReader(open(runs / n / "log.csv"))) for n in ("cached", "live")]
    assert [r["phase"] for r in logs[0]] == [r["phase"] for r in logs[1]]
    for ra, rb in zip(*logs):
        assert float(ra["loss"]) == pytest.approx(float(rb["loss"]), abs=1e-3)


def test_teacher_cache_needs_a_frozen_large_model(tmp_path):
    p = _recipe(tmp_path, True)
    p.write_text(p.read_text().replace("freeze_large = true\n", ""))
    with pytest.raises(ValueError, match="teacher_cache = 6: .* needs freeze_large"):
        load_recipe(p)
