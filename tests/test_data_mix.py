"""The offline mixers and datasets on a tiny cache made in the test (no network, no built cache)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from data_cache import SPEAKERS, make_tiny_cache
from kboost_train.data.datasets import MixtureDataset, build_dataset
from kboost_train.data.mix import MixConfig, Mixer, energy
from kboost_train.data.spatial import MAX_ITD_SAMPLES, binaural, itd_seconds
from kboost_train.data.store import KINDS, SAMPLE_RATE

torch.set_num_threads(1)
CLIP = 1.0
N = int(CLIP * SAMPLE_RATE)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("kboost-data")
    make_tiny_cache(root)
    return root


def _db(a: float, b: float) -> float:
    return 10 * np.log10(a / b)


@pytest.mark.parametrize("task,n_out", [("ss", 4), ("tse", 2), ("se", 2)])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_item_shapes(cache, task, n_out, split):
    ds = MixtureDataset(cache, split, task, clip_seconds=CLIP, seed=1, size=4)
    assert len(ds) == 4
    for i in range(len(ds)):
        item = ds[i]
        assert item["mixture"].shape == (2, N) and item["mixture"].dtype == torch.float32
        assert item["target"].shape == (n_out, N) and item["target"].dtype == torch.float32
        assert item["kind"] in KINDS
        if task == "tse":
            assert item["speaker"].shape == (256,) and item["speaker"].dtype == torch.float32
        else:
            assert "speaker" not in item
        assert torch.isfinite(item["mixture"]).all() and item["mixture"].abs().max() <= 0.99 + 1e-6
        assert item["mixture"].pow(2).mean() > 1e-6


def test_ss_target_sums_to_mixture(cache):
    item = MixtureDataset(cache, "val", "ss", clip_seconds=CLIP, size=3)[2]
    t = item["target"]
    torch.testing.assert_close(t[0:2] + t[2:4], item["mixture"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("task", ["ss", "tse"])
@pytest.mark.parametrize("sir", [-5.0, 0.0, 7.5])
def test_sir_achieved(cache, task, sir):
    ds = MixtureDataset(cache, "train", task, clip_seconds=CLIP, seed=3, size=8, mix={"sir_db": [sir, sir]})
    for i in range(len(ds)):
        item = ds[i]
        t = item["target"].double().numpy()
        if task == "ss":
            s0, s1 = t[0:2], t[2:4]
        else:
            s0, s1 = t, item["mixture"].double().numpy() - t
        assert abs(_db(energy(s0), energy(s1)) - sir) < 0.5, f"item {i}: SIR {_db(energy(s0), energy(s1)):.2f} dB"


@pytest.mark.parametrize("snr", [-5.0, 0.0, 10.0])
def test_snr_achieved(cache, snr):
    ds = MixtureDataset(cache, "train", "se", clip_seconds=CLIP, seed=4, size=12, mix={"snr_db": [snr, snr]})
    seen = set()
    for i in range(len(ds)):
        item = ds[i]
        t = item["target"].double().numpy()
        noise = item["mixture"].double().numpy() - t
        assert abs(_db(energy(t), energy(noise)) - snr) < 0.5
        seen.update(ds.describe(i)["noise"])
    assert len(seen) >= 3, f"noise kinds drawn: {seen}"


def test_ratio_drawn_in_range(cache):
    ds = MixtureDataset(cache, "val", "ss", clip_seconds=CLIP, size=10, mix={"sir_db": [-2.0, 4.0]})
    sirs = []
    for i in range(len(ds)):
        t = ds[i]["target"].double().numpy()
        sirs.append(_db(energy(t[0:2]), energy(t[2:4])))
    assert all(-2.5 < s < 4.5 for s in sirs) and max(sirs) - min(sirs) > 1.0


def test_val_test_fixed_and_seeded(cache):
    for split in ("val", "test"):
        a = MixtureDataset(cache, split, "tse", clip_seconds=CLIP, seed=5, size=4)
        b = MixtureDataset(cache, split, "tse", clip_seconds=CLIP, seed=5, size=4)
        b.set_epoch(7)  # val/test ignore the epoch
        for i in (0, 3):
            for k in ("mixture", "target", "speaker"):
                assert torch.equal(a[i][k], b[i][k])
        c = MixtureDataset(cache, split, "tse", clip_seconds=CLIP, seed=6, size=4)
        assert not torch.equal(a[0]["mixture"], c[0]["mixture"])
        assert [a[i]["kind"] for i in range(4)] == ["real", "synthetic", "real", "synthetic"]


def test_train_reproducible_per_epoch(cache):
    a = MixtureDataset(cache, "train", "se", clip_seconds=CLIP, seed=2, size=3)
    b = MixtureDataset(cache, "train", "se", clip_seconds=CLIP, seed=2, size=3)
    a.set_epoch(1)
    b.set_epoch(1)
    assert torch.equal(a[2]["mixture"], b[2]["mixture"])
    b.set_epoch(2)
    assert not torch.equal(a[2]["mixture"], b[2]["mixture"])


@pytest.mark.parametrize("task", ["ss", "tse", "se"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_speakers_stay_in_their_split(cache, task, split):
    own = {k for k, v in SPEAKERS.items() if v[1] == split}
    train = {k for k, v in SPEAKERS.items() if v[1] == "train"}
    ds = MixtureDataset(cache, split, task, clip_seconds=0.25, seed=11, size=60)
    used = set()
    for i in range(len(ds)):
        meta = ds.describe(i)
        assert set(meta["speakers"]) <= own, f"{split} item {i} drew {meta['speakers']}"
        assert set(meta.get("babble_speakers", [])) <= train, f"babble from held-out speakers: {meta}"
        assert meta["speakers"][0] not in meta.get("babble_speakers", []), f"target in its own babble: {meta}"
        used.update(meta["speakers"])
    assert len(used) >= 2


def test_real_and_synthetic_both_drawn_in_train(cache):
    ds = MixtureDataset(cache, "train", "ss", clip_seconds=0.25, seed=0, size=100)
    kinds = [ds.describe(i)["kind"] for i in range(len(ds))]
    assert 25 < kinds.count("real") < 75


def test_enrollment_is_another_utterance(cache):
    ds = MixtureDataset(cache, "train", "tse", clip_seconds=CLIP, seed=8, size=40)
    for i in range(len(ds)):
        meta = ds.describe(i)
        spk = ds.corpus.speakers[meta["speakers"][0]]
        e = meta["enroll_utterance"]
        assert e in spk.enroll
        assert e not in meta["target_utterances"]
        eo, el = int(spk.offsets[e]), int(spk.lengths[e])
        for a, b in meta["target_ranges"]:
            assert b <= eo or a >= eo + el, f"item {i}: window {a}:{b} overlaps enrollment {eo}:{eo + el}"


def test_window_excludes_the_enrollment_samples(cache):
    """Content check: the excluded utterance's samples never appear in a window."""
    ds = MixtureDataset(cache, "train", "tse", clip_seconds=CLIP, size=1)
    spk = ds.corpus.speakers["real-a"]
    audio = np.asarray(spk.audio)
    rng = np.random.default_rng(0)
    for k in (0, 5, len(spk.offsets) - 1):
        o, ln = int(spk.offsets[k]), int(spk.lengths[k])
        probe = audio[o + ln // 2:o + ln // 2 + 64].astype(np.float32) / 32767.0
        for _ in range(10):
            x, _ = ds.mixer._window(spk, rng, 3 * N, exclude=(o, ln))  # longer than the rest: wraps round
            hits = np.flatnonzero(np.isclose(x, probe[0], atol=0))
            assert not any(np.array_equal(x[h:h + 64], probe) for h in hits)


def test_held_out_too_small_errors(cache):
    with pytest.raises(ValueError, match="task must be"):
        MixtureDataset(cache, "train", "xx", clip_seconds=CLIP)
    with pytest.raises(ValueError, match="split must be"):
        MixtureDataset(cache, "dev", "ss", clip_seconds=CLIP)
    with pytest.raises(ValueError, match="unknown mix option"):
        MixtureDataset(cache, "train", "ss", clip_seconds=CLIP, mix={"snr": 3})
    with pytest.raises(FileNotFoundError, match="kboost data build"):
        MixtureDataset(cache / "nope", "train", "ss")


def test_build_dataset_spec(cache):
    ds = build_dataset({"source": "offline", "root": str(cache), "task": "SE", "clip_seconds": 0.5, "n_items": 5},
                       split="test", seed=3)
    assert isinstance(ds, MixtureDataset) and len(ds) == 5 and ds.split == "test" and ds.seed == 3
    assert ds[0]["mixture"].shape == (2, 8000)
    with pytest.raises(ValueError, match="unknown key"):
        build_dataset({"task": "ss", "batch": 3})
    with pytest.raises(ValueError, match="source must be"):
        build_dataset({"task": "ss", "source": "web"})


def test_dataloader_collates(cache):
    ds = MixtureDataset(cache, "val", "tse", clip_seconds=0.5, size=4)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4)))
    assert batch["mixture"].shape == (4, 2, 8000) and batch["speaker"].shape == (4, 256)
    assert batch["kind"] == ["real", "synthetic", "real", "synthetic"]


# ---- binaural cues ------------------------------------------------------------------------------

def _lag(left: np.ndarray, right: np.ndarray, max_lag: int = 20) -> int:
    """Lag (samples) by which left trails right, from the cross-correlation peak."""
    lags = range(-max_lag, max_lag + 1)
    n = len(left)
    cc = [np.dot(left[max_lag + k:n - max_lag + k], right[max_lag:n - max_lag]) for k in lags]
    return list(lags)[int(np.argmax(cc))]


@pytest.mark.parametrize("az", [-80.0, -35.0, 0.0, 20.0, 60.0, 90.0])
def test_itd_ild(az):
    x = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)
    y = binaural(x, az)
    assert y.shape == (2, SAMPLE_RATE) and y.dtype == np.float32
    want = itd_seconds(az) * SAMPLE_RATE
    assert abs(want) <= MAX_ITD_SAMPLES + 1e-9
    assert abs(_lag(y[0], y[1]) - want) <= 1.0, f"az {az}: lag {_lag(y[0], y[1])}, ITD {want:.2f} samples"
    ild = _db(energy(y[1]), energy(y[0]))  # right over left
    if az == 0:
        np.testing.assert_array_equal(y[0], y[1])
    else:
        assert np.sign(ild) == np.sign(az) and abs(ild) > 1.0
    if abs(az) >= 60:
        assert abs(ild) > 3.0


def test_mixture_channels_carry_cues(cache):
    ds = MixtureDataset(cache, "val", "se", clip_seconds=CLIP, size=2)
    for i in range(2):
        m = ds.draw(i)
        az = m.meta["azimuths"][0]
        t = m.target
        assert not np.allclose(t[0], t[1])
        assert abs(_lag(t[0], t[1]) - itd_seconds(az) * SAMPLE_RATE) <= 1.0


def test_reverb_optional(cache):
    pytest.importorskip("pyroomacoustics", reason="pyroomacoustics not installed: pip install 'kboost[data]'")
    ds = MixtureDataset(cache, "val", "ss", clip_seconds=0.5, size=2, mix={"reverb_prob": 1.0, "sir_db": [2, 2]})
    m = ds.draw(0)
    assert m.meta["reverb"] is True and m.target.shape == (4, 8000)
    assert abs(_db(energy(m.target[:2]), energy(m.target[2:])) - 2.0) < 0.5


def test_mixer_config_validation(cache):
    from kboost_train.data.store import Corpus

    with pytest.raises(ValueError, match="low"):
        Mixer(Corpus(cache), "train", "ss", MixConfig(sir_db=(5.0, -5.0)))
