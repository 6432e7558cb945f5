"""The paper's dataset layout loader on a tiny directory of that layout made in the test."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from kboost_train.data.datasets import PaperDataset, build_dataset

torch.set_num_threads(1)
SR = 16000


def _write_item(d, rng, n, rate=SR, channels=2, spk=True):
    d.mkdir(parents=True)
    srcs = rng.uniform(-0.3, 0.3, size=(2, n, channels)).astype(np.float32)
    for j in range(2):
        sf.write(d / f"source0{j}.wav", srcs[j], rate, subtype="FLOAT")
        if spk:
            torch.save(torch.from_numpy(rng.standard_normal(256).astype(np.float32)), d / f"spk_id0{j}.pt")
    return srcs


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    rng = np.random.default_rng(0)
    items = {}
    for split, count in (("train", 3), ("val", 4), ("test", 2)):
        for k in range(count):
            items[split, k] = _write_item(root / split / str(k), rng, SR + 500 * k)
    return root, items


def test_ss_items(paper):
    root, items = paper
    ds = PaperDataset(root, "test", "ss", clip_seconds=None)
    assert len(ds) == 2
    for k in range(2):
        item = ds[k]
        src = items["test", k]  # [2 sources, N, 2 channels]
        want = np.concatenate([src[0].T, src[1].T])
        assert item["target"].shape == (4, src.shape[1])
        np.testing.assert_allclose(item["target"].numpy(), want, atol=1e-7)
        np.testing.assert_allclose(item["mixture"].numpy(), src[0].T + src[1].T, atol=1e-6)
        assert item["kind"] == "real"


def test_tse_val_targets_fixed_and_consistent(paper):
    root, items = paper
    a = PaperDataset(root, "val", "tse", clip_seconds=0.5, seed=3)
    b = PaperDataset(root, "val", "tse", clip_seconds=0.5, seed=3)
    b.set_epoch(5)
    chosen = []
    for k in range(len(a)):
        x, y = a[k], b[k]
        assert torch.equal(x["target"], y["target"]) and torch.equal(x["speaker"], y["speaker"])
        assert torch.equal(a[k]["target"], x["target"])  # re-reading gives the same target
        assert x["mixture"].shape == (2, 8000) and x["speaker"].shape == (256,)
        src = items["val", k][:, :8000]  # val crops from the start
        t = [j for j in range(2) if np.allclose(x["target"].numpy(), src[j].T, atol=1e-7)]
        assert len(t) == 1
        spk = torch.load(root / "val" / str(k) / f"spk_id0{t[0]}.pt", weights_only=True)
        assert torch.equal(x["speaker"], spk)  # the target's own d-vector
        chosen.append(t[0])
    assert set(chosen) == {0, 1}  # both sources get to be the target across items


def test_train_redraws_per_epoch(paper):
    root, _ = paper
    ds = PaperDataset(root, "train", "tse", clip_seconds=0.25, seed=0, size=6)
    assert len(ds) == 6  # more than the 3 items: they repeat
    first = [ds[i]["target"] for i in range(6)]
    ds.set_epoch(1)
    again = [ds[i]["target"] for i in range(6)]
    assert any(not torch.equal(a, b) for a, b in zip(first, again))


def test_short_items_padded(paper):
    root, _ = paper
    item = PaperDataset(root, "test", "ss", clip_seconds=2.0)[0]
    assert item["mixture"].shape == (2, 32000) and float(item["mixture"][:, -100:].abs().max()) == 0.0


def test_errors(tmp_path, paper):
    root, _ = paper
    rng = np.random.default_rng(1)
    _write_item(tmp_path / "rate" / "test" / "0", rng, 800, rate=8000)
    with pytest.raises(ValueError, match="sample rate 8000 Hz, expected 16000"):
        PaperDataset(tmp_path / "rate", "test", "ss")[0]
    _write_item(tmp_path / "mono" / "test" / "0", rng, 800, channels=1)
    with pytest.raises(ValueError, match="1 channel"):
        PaperDataset(tmp_path / "mono", "test", "ss")[0]
    _write_item(tmp_path / "nospk" / "test" / "0", rng, 800, spk=False)
    with pytest.raises(FileNotFoundError, match="spk_id00.pt"):
        PaperDataset(tmp_path / "nospk", "test", "tse")[0]
    (tmp_path / "nospk" / "test" / "0" / "source01.wav").unlink()
    with pytest.raises(FileNotFoundError, match="source01.wav"):
        PaperDataset(tmp_path / "nospk", "test", "ss")[0]
    with pytest.raises(FileNotFoundError, match="no such directory"):
        PaperDataset(tmp_path, "val", "ss")
    with pytest.raises(ValueError, match="SE needs the offline cache"):
        PaperDataset(root, "val", "se")
    with pytest.raises(ValueError, match="size"):
        PaperDataset(root, "val", "ss", size=9)


def test_build_dataset_paper(paper):
    root, _ = paper
    ds = build_dataset({"source": "paper", "root": str(root), "task": "tse", "clip_seconds": 0.5}, split="val")
    assert isinstance(ds, PaperDataset) and len(ds) == 4
    with pytest.raises(ValueError, match="needs 'root'"):
        build_dataset({"source": "paper", "task": "ss"})
