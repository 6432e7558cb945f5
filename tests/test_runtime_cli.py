"""The runtime's commands end to end: ``kboost serve`` in a subprocess, ``kboost run`` against it,
``kboost demo`` on a tiny checkpoint, and their errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from kboost.cli import main
from kboost.commands.demo import synthetic_sample
from runtime_helpers import make_signal, tiny_engines


@pytest.fixture()
def tiny_checkpoint(tmp_path):
    joint, _, _ = tiny_engines(3)
    path = tmp_path / "tiny.pt"
    torch.save({"config": joint.cfg.to_dict(), "model": joint.state_dict()}, path)
    return path


def test_serve_and_run_commands(tmp_path, tiny_checkpoint, capsys):
    mix = tmp_path / "mix.wav"
    x = make_signal(60)[:, :7000]  # not a whole number of chunks
    sf.write(mix, x.T, 16000)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "kboost", "serve", "--reference", str(tiny_checkpoint),
                             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert m, line + proc.stderr.read()
        port = m.group(1)
        out, stats = tmp_path / "out.wav", tmp_path / "stats.json"
        rc = main(["run", "--reference", str(tiny_checkpoint), "--input", str(mix), "--output", str(out),
                   "--server", f"127.0.0.1:{port}", "--delay", "3", "--wait-hints", "5", "--stats", str(stats)])
        assert rc == 0
        assert "hints used" in capsys.readouterr().out
        y, sr = sf.read(out, always_2d=True)
        assert sr == 16000 and y.shape == (7000, 4) and np.isfinite(y).all()
        st = json.loads(stats.read_text())
        assert st["hints_used"] == st["n_chunks"] - 3 and st["hints_missing"] == 0
        assert len(st["per_chunk"]["compute_ms"]) == st["n_chunks"]
        assert "p99" in st["compute_ms"] and "p50" in st["hint_age_ms"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "hints_sent" in err  # the server printed its counters on the way out


def test_run_command_errors(tmp_path, tiny_checkpoint, capsys):
    bad = tmp_path / "mono.wav"
    sf.write(bad, np.zeros(1000), 16000)
    nan = tmp_path / "nan.wav"
    z = np.zeros((1000, 2))
    z[500, 1] = np.nan
    sf.write(nan, z, 16000, subtype="FLOAT")
    common = ["run", "--reference", str(tiny_checkpoint), "--output", str(tmp_path / "o.wav")]
    assert main(common + ["--input", str(bad)]) == 2
    assert "1 channel(s); expected 2" in capsys.readouterr().err
    assert main(common + ["--input", str(nan)]) == 2
    assert "sample 500 is NaN" in capsys.readouterr().err
    assert main(common + ["--input", str(bad), "--delay", "2"]) == 2
    assert "trained for delay 3" in capsys.readouterr().err
    assert main(common + ["--input", str(bad), "--server", "nohost"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert main(["serve", "--reference", str(tiny_checkpoint), "--host", "0.0.0.0"]) == 2
    assert "needs an auth token" in capsys.readouterr().err


def test_demo_command_on_a_tiny_checkpoint(tmp_path, tiny_checkpoint, capsys):
    mix, refs = synthetic_sample("ss", seconds=0.5)
    sf.write(tmp_path / "mix.wav", mix.T, 16000)
    sf.write(tmp_path / "src.wav", refs.T, 16000)
    out = tmp_path / "demo"
    rc = main(["demo", "--checkpoint", str(tiny_checkpoint), "--input", str(tmp_path / "mix.wav"),
               "--sources", str(tmp_path / "src.wav"), "--out", str(out), "--fast"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "SI-SNRi with boosting" in printed and str(out / "report.md") in printed
    report = json.loads((out / "report.json").read_text())
    for run in ("boosted", "alone"):
        assert np.isfinite(report["runs"][run]["si_snri"])
    assert report["runs"]["boosted"]["hints_used"] == report["runs"]["boosted"]["n_chunks"] - 3
    assert report["runs"]["alone"]["hints_used"] == 0
    # boosting changed the output: the two runs differ
    b, _ = sf.read(out / "boosted.wav")
    a, _ = sf.read(out / "alone.wav")
    assert b.shape == a.shape == (mix.shape[1], 4) and np.abs(a - b).max() > 1e-6
    assert (out / "demo.png").stat().st_size > 1000


def test_demo_without_models_says_what_to_do(tmp_path, capsys):
    rc = main(["demo", "--server-model", str(tmp_path / "none.gguf"), "--device-model", str(tmp_path / "d.gguf")])
    assert rc == 2
    assert "--random" in capsys.readouterr().err



def test_runtime_modules_do_not_import_torch():
    code = ("import sys\n"
            "import kboost.protocol, kboost.engine, kboost.server, kboost.client, kboost.realtime, kboost.audio, "
            "kboost.metrics, kboost.commands.serve, kboost.commands.run, kboost.commands.demo\n"
            "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'kboost_train')))\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_live_without_sound_device_is_a_clear_error(tiny_checkpoint, capsys):
    try:
        import sounddevice  # noqa: F401
        has_sd = True
    except (ImportError, OSError):
        has_sd = False
    if has_sd:
        pytest.skip("sounddevice is installed here: the missing-package error cannot be exercised")
    rc = main(["run", "--reference", str(tiny_checkpoint), "--live", "--duration", "0.1"])
    assert rc == 2 and "sounddevice" in capsys.readouterr().err


def test_demo_random_only_when_asked(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--random", "--fast", "--seconds", "0.5", "--out", str(out)])
    assert rc == 0
    assert "[random weights]" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    assert report["random_weights"] and "RANDOM" in report["server_engine"]
    b = report["runs"]["boosted"]
    assert b["hints_used"] == b["n_chunks"] - 3 and np.isfinite(b["si_snri"])
    assert "RANDOM weights" in (out / "report.md").read_text()


def test_demo_tse_needs_and_uses_the_speaker(tmp_path, capsys):
    joint, _, _ = tiny_engines(3, task="tse")
    ckpt = tmp_path / "tse.pt"
    torch.save({"config": joint.cfg.to_dict(), "model": joint.state_dict()}, ckpt)
    mix, refs = synthetic_sample("tse", seconds=0.4)
    sf.write(tmp_path / "mix.wav", mix.T, 16000)
    sf.write(tmp_path / "src.wav", refs.T, 16000)
    args = ["demo", "--checkpoint", str(ckpt), "--input", str(tmp_path / "mix.wav"), "--sources",
            str(tmp_path / "src.wav"), "--out", str(tmp_path / "demo"), "--fast"]
    assert main(args + ["--speaker", str(tmp_path / "none.npy")]) == 2
    assert "embedding" in capsys.readouterr().err
    np.save(tmp_path / "spk.npy", np.random.default_rng(0).standard_normal(256).astype(np.float32))
    assert main(args + ["--speaker", str(tmp_path / "spk.npy")]) == 0
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["task"] == "tse" and report["runs"]["boosted"]["hints_used"] > 0


def test_reference_without_torch_is_a_clear_error(monkeypatch, capsys):
    import kboost_train

    # as if the training extra were absent: the import of kboost_train.engines fails
    monkeypatch.delattr(kboost_train, "engines", raising=False)
    monkeypatch.setitem(sys.modules, "kboost_train.engines", None)
    assert main(["run", "--reference", "ss-small-kb-d3-c1", "--input", "in.wav", "--output", "out.wav"]) == 2
    assert "pip install 'kboost[train]'" in capsys.readouterr().err
