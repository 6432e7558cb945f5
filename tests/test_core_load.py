"""The C++ core from a weights file: `kboost export` output loaded by Model.load runs the file's
embedded test vector (the PyTorch step loop that wrote it) for each role, and the model's config
and identity come from the file's metadata."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core_parity import assert_parity, randomize_
from kboost import _core
from kboost.config import get_config
from kboost_train.export import export_module
from kboost_train.models import JointModel, TFGridNet


def _vector(path):
    w = _core.WeightsFile.load(str(path))
    n = w.get_int("kboost.test.n_chunks")
    tv = {"n": n, "input": np.asarray(w.get("kboost.test.input"), np.float32).reshape(n, 2, 128)}
    for key in ("output", "hints", "speaker", "hint_mask"):
        if w.has_key(f"kboost.test.{key}"):
            tv[key] = np.asarray(w.get(f"kboost.test.{key}"))
    return tv


def _streamer(model, tv):
    s = _core.Streamer(model)
    if "speaker" in tv:
        s.set_speaker(tv["speaker"].astype(np.float32))
    return s


@pytest.mark.parametrize("name", ["ss-small", "tse-medium"])
def test_plain_model_file_runs_its_test_vector(tmp_path, name):
    cfg = get_config(name)
    torch.manual_seed(0)
    export_module(randomize_(TFGridNet(cfg), 1), cfg, tmp_path / "m.gguf")
    model = _core.Model.load(str(tmp_path / "m.gguf"))
    c = model.config
    assert (c["role"], c["task"], c["d_model"], c["n_out"], c["delay"]) == ("model", cfg.task, cfg.net.d_model,
                                                                             cfg.n_out, None)
    assert len(c["model_id"]) == 16
    tv = _vector(tmp_path / "m.gguf")
    s = _streamer(model, tv)
    got = np.stack([s.process_chunk(np.ascontiguousarray(tv["input"][k])) for k in range(tv["n"])])
    assert_parity(got, tv["output"].reshape(got.shape), f"{name} file test vector")


def test_device_and_server_files_run_their_test_vectors(tmp_path):
    cfg = get_config("tse-small-kb-d2-c2")
    torch.manual_seed(0)
    joint = randomize_(JointModel(cfg), 2)
    export_module(joint, cfg, tmp_path / "server.gguf", "server")
    export_module(joint, cfg, tmp_path / "device.gguf", "device")
    server, device = _core.Model.load(str(tmp_path / "server.gguf")), _core.Model.load(str(tmp_path / "device.gguf"))
    assert server.config["role"] == "server" and device.config["role"] == "device"
    assert device.config["hint_source_id"] == server.config["model_id"]
    assert device.config["delay"] == 2 and device.config["n_hint_channels"] == 2

    tv = _vector(tmp_path / "server.gguf")
    s = _streamer(server, tv)
    outs, hints = zip(*(s.process_chunk_with_hint(np.ascontiguousarray(tv["input"][k])) for k in range(tv["n"])))
    assert_parity(np.stack(outs), tv["output"].reshape(np.stack(outs).shape), "server output")
    assert_parity(np.stack(hints), tv["hints"].reshape(np.stack(hints).shape), "server hints")

    tv = _vector(tmp_path / "device.gguf")
    s = _streamer(device, tv)
    hints = tv["hints"].reshape(tv["n"], 2, 97).astype(np.float32)
    got = []
    for k in range(tv["n"]):
        if tv["hint_mask"][k]:
            assert s.push_hint(k, np.ascontiguousarray(hints[k]))
        got.append(s.process_chunk(np.ascontiguousarray(tv["input"][k])))
    assert_parity(np.stack(got), tv["output"].reshape(np.stack(got).shape), "device output")
    st = s.stats()
    n_needed = tv["n"] - 2
    assert st["hints_used"] == int(tv["hint_mask"][:n_needed].sum())
    assert st["hints_used"] + st["hints_missing"] == n_needed


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(_core.Error, match="nope.gguf"):
        _core.Model.load(str(tmp_path / "nope.gguf"))


@pytest.mark.parametrize("key,value,message", [
    ("kboost.attn_window", 100_000, r"kboost.attn_window"),
    ("kboost.kb.window", 100_000, r"kboost.kb.window"),
    ("kboost.kb.delay", 1_000, r"kboost.kb.delay"),
])
def test_buffer_sizes_from_metadata_are_bounded(tmp_path, key, value, message):
    """Windows and the delay size stream buffers but no tensor: a file tampered to ask for a
    huge one is refused with an error naming the key, never a multi-GB allocation (found by the
    fuzz_model target)."""
    import struct

    import gguf

    torch.manual_seed(0)
    cfg = get_config("ss-small-kb-d3-c1")
    path = tmp_path / "device.gguf"
    export_module(JointModel(cfg).eval(), cfg, path, part="device")
    field = gguf.GGUFReader(str(path)).fields[key]
    value_at = field.offset + 8 + len(key.encode()) + 4  # key length, key, value type, value
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, value_at, value)
    path.write_bytes(bytes(data))
    with pytest.raises(_core.Error, match=message):
        _core.Model.load(str(path))
