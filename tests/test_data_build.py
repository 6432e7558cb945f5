"""The cache builder's pure parts (segmentation, catalogue, cache format, summary), the d-vector path,
and ``kboost data info``: no network, no Debian packages, no built cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_cache import make_tiny_cache
from kboost_train.data import sources
from kboost_train.data.build import speech_segments, summary
from kboost_train.data.embed import EMBED_DIM, resemblyzer_available, utterance_embedding
from kboost_train.data.store import SAMPLE_RATE, Corpus, write_manifest, write_speaker

SR = SAMPLE_RATE


def _burst(seconds: float, f: float = 300.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), np.float32)


def test_segments_trim_and_split_at_pauses():
    x = np.concatenate([_silence(0.5), _burst(2.0), _silence(0.6), _burst(3.0), _silence(0.6), _burst(4.0),
                        _silence(1.0)])
    segs = speech_segments(x, max_seconds=6.0)
    # 2 + 3 s join (5 s <= 6), the 4 s burst is its own; leading/trailing silence trimmed to the margin
    assert [round(len(s) / SR, 1) for s in segs] == [5.7, 4.1]


def test_segments_cut_overlong_and_drop_short():
    segs = speech_segments(np.concatenate([_burst(20.0), _silence(1.0), _burst(0.1)]), max_seconds=8.0)
    assert len(segs) == 3 and all(len(s) <= 8.1 * SR for s in segs)
    assert speech_segments(_silence(2.0)) == []


def test_catalogue_held_out_covers_both_kinds():
    real = {s.id for s in sources.REAL_SPEAKERS}
    for split in ("val", "test"):
        held = set(sources.HELD_OUT[split])
        assert held & real and held - real, f"{split} must hold out real and synthetic speakers"
    assert not set(sources.HELD_OUT["val"]) & set(sources.HELD_OUT["test"])
    test_real = [s for s in sources.REAL_SPEAKERS if s.id in sources.HELD_OUT["test"]]
    assert {s.sex for s in test_real} == {"f", "m"}
    # identities shared by two engines are built from one engine only
    voices = {(v.engine, v.voice) for v in sources.SYNTHETIC_VOICES}
    assert ("festival", "kal_diphone") not in voices and ("festival", "cmu_us_slt_arctic_hts") not in voices
    assert len(sources.SYNTHETIC_VOICES) >= 30 and len(sources.REAL_SPEAKERS) == 11


def test_store_round_trip_and_enrollment(tmp_path):
    rng = np.random.default_rng(0)
    utts = [rng.standard_normal(int(SR * s)).astype(np.float32) for s in (0.5, 2.0, 1.7, 0.8, 3.0)]
    meta = write_speaker(tmp_path, "a", utts, kind="real", split="train", sex="f")
    write_speaker(tmp_path, "b", utts[:2], kind="synthetic", split="test")
    manifest = write_manifest(tmp_path)
    assert manifest["splits"] == {"train": ["a"], "val": [], "test": ["b"]}
    assert sorted(meta["enroll"]) == [1, 2, 4]  # the utterances of >= 1.5 s
    c = Corpus(tmp_path)
    a = c.speakers["a"]
    assert a.n_samples == sum(len(u) for u in utts)
    u = a.utterance(2)
    assert u.shape == (len(utts[2]),) and abs(np.corrcoef(u, utts[2])[0, 1]) > 0.999
    assert list(a.utterances_in(int(a.offsets[1]) + 5, int(a.offsets[2]) + 1)) == [1, 2]
    with pytest.raises(ValueError, match="kind must be"):
        write_speaker(tmp_path, "c", utts, kind="robot", split="train")


def test_summary_lists_held_out(tmp_path):
    make_tiny_cache(tmp_path, n_utterances=3)
    text = summary(json.loads((tmp_path / "manifest.json").read_text()))
    assert "held out for test: real-t1 (real, f), real-t2 (real, m), syn-t (synthetic, m)" in text
    assert "train real     :   3 speakers" in text


def test_data_info_command(tmp_path, capsys):
    from kboost.cli import main

    make_tiny_cache(tmp_path, n_utterances=3)
    assert main(["data", "info", "--cache", str(tmp_path)]) == 0
    assert "held out for val" in capsys.readouterr().out
    assert main(["data", "info", "--cache", str(tmp_path / "missing")]) == 2


def test_missing_embedding_without_compute(tmp_path):
    c = make_tiny_cache(tmp_path, n_utterances=3)
    with pytest.raises(FileNotFoundError, match="kboost data build"):
        utterance_embedding(c, "real-a", 10_000, compute=False)


@pytest.mark.skipif(not resemblyzer_available(),
                    reason="resemblyzer not installed (pip install --no-deps resemblyzer && "
                           "pip install librosa webrtcvad-wheels): d-vector path not exercised")
def test_dvector_computed_and_cached(tmp_path):
    c = make_tiny_cache(tmp_path, n_utterances=4)
    spk = c.speakers["real-b"]
    u = int(spk.enroll[0])
    path = c.embedding_path("real-b", u)
    path.unlink()
    e = utterance_embedding(c, "real-b", u)
    assert e.shape == (EMBED_DIM,) and e.dtype == np.float32 and abs(np.linalg.norm(e) - 1) < 1e-3
    assert path.is_file() and np.array_equal(np.load(path), e)
    # a different speaker's tone gets a different d-vector
    other = c.speakers["real-a"]
    c.embedding_path("real-a", int(other.enroll[0])).unlink()
    e2 = utterance_embedding(c, "real-a", int(other.enroll[0]))
    assert float(e @ e2) < 0.999


def test_missing_tools_are_named(monkeypatch):
    from kboost_train.data import build

    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(build.BuildError, match="apt-get not found"):
        build.require_apt()
    with pytest.raises(build.BuildError, match=r"apt-get install -y --no-install-recommends festival\b"):
        build.ensure_engines([v for v in sources.SYNTHETIC_VOICES if v.id == "festival-ked"], allow_install=False)
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)  # import fails
    with pytest.raises(build.BuildError, match="pip install imageio-ffmpeg"):
        build.ffmpeg_exe()


def test_build_reports_missing_tool(monkeypatch, tmp_path, capsys):
    from kboost.cli import main
    from kboost_train.data import build

    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    assert main(["data", "build", "--cache", str(tmp_path)]) == 1
    assert "ffmpeg is needed" in capsys.readouterr().err
