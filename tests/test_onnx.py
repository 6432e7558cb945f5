"""ONNX export of the streaming step: the real-valued STFT equals the complex one, the wrapped step
equals the torch step, and onnxruntime on the exported graph equals the torch step loop (max-abs
<= 1e-4) over several chunks with the state fed back, for small+KB (device, d=3), large (server) and
TSE small+KB with the speaker FiLM cached in the state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'kboost[onnx]'")
pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install 'kboost[onnx]'")

from kboost.config import CHUNK_SIZE, N_FFT, N_FREQ, N_IN_CHANNELS, SPEAKER_EMBEDDING_DIM  # noqa: E402
from kboost_train.onnx_export import (  # noqa: E402
    OrtStepper,
    RealStft,
    StreamingStep,
    export_step,
    load_module,
    max_abs_vs_torch,
    ort_session,
    torch_reference,
)
from kboost_train.stft import Stft  # noqa: E402

TOL = 1e-4
N_CHUNKS = 6

torch.set_num_threads(1)


def test_real_stft_equals_complex_stft():
    g = torch.Generator().manual_seed(1)
    frames = torch.randn(2, 3, 5, N_FFT, generator=g)
    ref, real = Stft(), RealStft()
    torch.testing.assert_close(real.frames_to_features(frames), ref.frames_to_features(frames),
                               atol=2e-5, rtol=0)
    spec = torch.randn(2, 3, 2, 5, N_FREQ, generator=g)  # DC / Nyquist imaginary parts non-zero
    torch.testing.assert_close(real.features_to_frames(spec), ref.features_to_frames(spec),
                               atol=2e-6, rtol=0)


@pytest.mark.parametrize("name,role", [("ss-small-kb-d3-c1", "device"), ("tse-small", "model")])
def test_wrapped_step_equals_torch_step(name, role):
    """The exported function (flat state, real STFT) run in torch equals the module's own step."""
    module, cfg = load_module(name)
    step = StreamingStep(module, cfg, role)
    g = torch.Generator().manual_seed(2)
    chunks = torch.randn(N_CHUNKS, 1, N_IN_CHANNELS, CHUNK_SIZE, generator=g)
    hints = torch.randn(N_CHUNKS, 1, cfg.n_hint_channels, N_FREQ, generator=g) if cfg.kb else None
    speaker = torch.randn(1, SPEAKER_EMBEDDING_DIM, generator=g) if cfg.has_speaker else None
    ref = torch_reference(module, cfg, role, chunks, hints, speaker)
    state = step.initial_state(1, speaker)
    with torch.no_grad():
        for k in range(N_CHUNKS):
            res = step(chunks[k], *((hints[k],) if hints is not None else ()), *state)
            out, state = res[0], list(res[1:])
            torch.testing.assert_close(out, ref[k][0], atol=1e-5, rtol=0, msg=f"chunk {k}")
    assert state[step.state_names.index("t")].shape == ()


@pytest.mark.parametrize(
    "name,role",
    [("ss-small-kb-d3-c1", "device"), ("ss-small-kb-d3-c1", "server"), ("tse-small-kb-d3-c1", "device")],
)
def test_onnxruntime_matches_torch_step_loop(tmp_path, name, role):
    module, cfg = load_module(name)
    path = tmp_path / f"{name}-{role}.onnx"
    step = export_step(module, cfg, path, role)
    err = max_abs_vs_torch(module, cfg, role, path, N_CHUNKS, seed=3)
    assert err <= TOL, f"{name} {role}: onnxruntime vs torch max-abs {err:.3g} > {TOL}"
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["kboost.state_names"]) == step.state_names
    assert meta["kboost.role"] == role
    if cfg.has_speaker:
        assert any(n.startswith("speaker_films.") for n in step.state_names)


def test_onnxruntime_two_streams_in_one_batch(tmp_path):
    module, cfg = load_module("tse-small")
    path = tmp_path / "tse2.onnx"
    export_step(module, cfg, path, "model", batch=2)
    err = max_abs_vs_torch(module, cfg, "model", path, 4, seed=5, batch=2)
    assert err <= TOL, f"batch 2: onnxruntime vs torch max-abs {err:.3g} > {TOL}"


def test_tse_film_in_state_is_used(tmp_path):
    """Two enrollments give two different outputs through the same graph: the FiLM fed as state
    reaches the network (and the graph does not recompute it from anything else)."""
    module, cfg = load_module("tse-small-kb-d3-c1")
    path = tmp_path / "tse.onnx"
    step = export_step(module, cfg, path, "device")
    sess = ort_session(path)
    g = torch.Generator().manual_seed(4)
    chunk = torch.randn(1, N_IN_CHANNELS, CHUNK_SIZE, generator=g).numpy()
    hint = np.zeros((1, cfg.n_hint_channels, N_FREQ), np.float32)
    outs = []
    for _ in range(2):
        spk = torch.randn(1, SPEAKER_EMBEDDING_DIM, generator=g)
        stepper = OrtStepper(sess, [t.numpy() for t in step.initial_state(1, spk)])
        outs.append(stepper.step(chunk, hint)[0])
    assert np.abs(outs[0] - outs[1]).max() > 1e-4


def test_bad_role_is_a_clear_error():
    module, cfg = load_module("ss-small")
    with pytest.raises(ValueError, match="only role 'model'"):
        StreamingStep(module, cfg, "device")
    kb, kb_cfg = load_module("ss-small-kb-d1-c2")
    with pytest.raises(ValueError, match="'device' and 'server'"):
        StreamingStep(kb, kb_cfg, "model")
    with pytest.raises(ValueError, match="role must be one of"):
        StreamingStep(kb, kb_cfg, "phone")


def test_device_graph_needs_a_hint(tmp_path):
    module, cfg = load_module("ss-small-kb-d1-c2")
    path = tmp_path / "d.onnx"
    step = export_step(module, cfg, path, "device")
    stepper = OrtStepper(ort_session(path), [t.numpy() for t in step.initial_state()])
    with pytest.raises(ValueError, match="delayed hint"):
        stepper.step(np.zeros((1, 2, CHUNK_SIZE), np.float32))


def test_cli_export_onnx(tmp_path, capsys):
    from kboost.cli import main

    out = tmp_path / "step.onnx"
    assert main(["export-onnx", "ss-small", "-o", str(out), "--check", "3"]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "max-abs" in text
    err = float(text.split("max-abs")[-1].split()[0])
    assert err <= TOL


def test_cli_export_onnx_from_checkpoint(tmp_path, capsys):
    from kboost.cli import main

    module, cfg = load_module("ss-small-kb-d1-c2", seed=7)
    ckpt = tmp_path / "m.pt"
    torch.save({"config": cfg.to_dict(), "model": module.state_dict()}, ckpt)
    out = tmp_path / "server.onnx"
    assert main(["export-onnx", str(ckpt), "-o", str(out), "--part", "server", "--check", "3"]) == 0
    text = capsys.readouterr().out
    assert "role=server" in text and float(text.split("max-abs")[-1].split()[0]) <= TOL
    assert main(["export-onnx", str(tmp_path / "missing.pt"), "-o", str(out)]) == 2
