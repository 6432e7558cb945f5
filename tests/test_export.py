"""The weights file round trip: export a random model (training/kboost_train/export.py), read it back
with the C++ reader (kboost._core.WeightsFile): every tensor and every metadata value equal; the
embedded test vector agrees with the offline PyTorch forward; the CLI writes the same file."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("gguf")

from kboost import _core  # noqa: E402
from kboost.cli import main as cli_main  # noqa: E402
from kboost.config import CHUNK_SIZE, LOOKAHEAD, get_config  # noqa: E402
from kboost_train import build_model  # noqa: E402
from kboost_train.export import (  # noqa: E402
    FORMAT_VERSION,
    export_module,
    metadata,
    role_tensors,
    tensors_id,
)

CASES = [
    ("ss-small", "model"),
    ("se-medium", "model"),
    ("tse-small", "model"),
    ("ss-small-kb-d3-c2", "device"),
    ("ss-small-kb-d3-c2", "server"),
    ("tse-small-kb-d1-c4", "device"),
]


def _model(name: str, seed: int = 0):
    torch.manual_seed(seed)
    cfg = get_config(name)
    m = build_model(cfg).eval()
    with torch.no_grad():  # non-default values everywhere, so that a swapped tensor shows
        for p in m.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return m, cfg


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{(config, part): (module, cfg, path)} for every case, exported once."""
    out = {}
    d = tmp_path_factory.mktemp("weights")
    cache = {}
    for name, part in CASES:
        if name not in cache:
            cache[name] = _model(name)
        m, cfg = cache[name]
        path = d / f"{name}-{part}.gguf"
        export_module(m, cfg, path, part)
        out[(name, part)] = (m, cfg, path)
    return out


@pytest.mark.parametrize("name,part", CASES)
def test_tensors_round_trip(exported, name, part):
    m, cfg, path = exported[(name, part)]
    w = _core.WeightsFile.load(str(path))
    want = role_tensors(m, cfg, part)
    assert w.tensor_names() == list(want)
    for tname, a in want.items():
        got = w.tensor(tname, list(a.shape))
        assert got.dtype == np.float32 and got.shape == a.shape, tname
        np.testing.assert_array_equal(got, a, err_msg=tname)
    w.check_all_used()
    sd = m.state_dict()
    prefix = {"model": "", "device": "small.", "server": "large."}[part]
    for tname in want:
        key = tname if tname.startswith("compress.") else prefix + tname
        np.testing.assert_array_equal(w.tensor(tname), sd[key].numpy(), err_msg=key)


@pytest.mark.parametrize("name,part", CASES)
def test_metadata_round_trip(exported, name, part):
    m, cfg, path = exported[(name, part)]
    w = _core.WeightsFile.load(str(path))
    want = metadata(m, cfg, part, role_tensors(m, cfg, part))
    assert w.get("general.architecture") == "kboost"
    assert set(w.keys()) == set(want) | {"general.architecture"}
    for key, (kind, value) in want.items():
        got = w.get(key)
        if kind.endswith("[]"):
            np.testing.assert_array_equal(got, value, err_msg=key)
        else:
            assert got == value, key
    assert w.get_int("kboost.format_version") == FORMAT_VERSION
    assert w.get_string("kboost.role") == part
    net = cfg.teacher().net if part == "server" else cfg.net
    assert (w.get_int("kboost.d_model"), w.get_int("kboost.n_blocks"), w.get_int("kboost.n_hidden")) == (
        net.d_model, net.n_blocks, net.n_hidden)
    assert json.loads(w.get_string("kboost.config")) == json.loads(json.dumps(cfg.to_dict()))
    assert w.get_string("kboost.model_id") == tensors_id(role_tensors(m, cfg, part))
    assert w.get_int("kboost.n_params") == sum(a.size for a in role_tensors(m, cfg, part).values())


def test_device_names_its_server(exported):
    dev = _core.WeightsFile.load(str(exported[("ss-small-kb-d3-c2", "device")][2]))
    srv = _core.WeightsFile.load(str(exported[("ss-small-kb-d3-c2", "server")][2]))
    assert dev.get("kboost.hint_source_id") == srv.get("kboost.model_id")
    assert dev.get("kboost.model_id") != srv.get("kboost.model_id")
    assert not srv.has_key("kboost.hint_source_id")


def test_model_id_changes_with_any_weight():
    m, cfg = _model("ss-small")
    t = role_tensors(m, cfg, "model")
    base = tensors_id(t)
    t["decoder.deconv.bias"] = t["decoder.deconv.bias"].copy()
    t["decoder.deconv.bias"][3] = np.nextafter(t["decoder.deconv.bias"][3], np.float32(1))
    assert tensors_id(t) != base


def _test_vector(w):
    n = w.get_int("kboost.test.n_chunks")
    x = w.get_floats("kboost.test.input").reshape(n, 2, CHUNK_SIZE)
    y = w.get_floats("kboost.test.output").reshape(n, w.get_int("kboost.n_out"), CHUNK_SIZE)
    # [T, C, 128] -> [1, C, T * 128]
    return (torch.from_numpy(np.ascontiguousarray(x.transpose(1, 0, 2).reshape(1, 2, -1))),
            torch.from_numpy(np.ascontiguousarray(y.transpose(1, 0, 2).reshape(1, y.shape[1], -1))), n)


@pytest.mark.parametrize("name,part", [c for c in CASES if c[1] == "model"])
def test_test_vector_matches_offline_forward(exported, name, part):
    """The embedded step-loop output is the offline forward delayed by the 64-sample lookahead."""
    m, cfg, path = exported[(name, part)]
    w = _core.WeightsFile.load(str(path))
    x, s, _ = _test_vector(w)
    spk = torch.from_numpy(w.get_floats("kboost.test.speaker"))[None] if cfg.has_speaker else None
    with torch.no_grad():
        y = m(x, spk)
    np.testing.assert_allclose(s[..., LOOKAHEAD:], y[..., :-LOOKAHEAD], atol=1e-5, rtol=0)
    assert s.abs().max() > 1e-3  # not a silent output


@pytest.mark.parametrize("name", ["ss-small-kb-d3-c2", "tse-small-kb-d1-c4"])
def test_device_test_vector_matches_joint_forward(exported, name):
    """Device: the output with the recorded hints (some withheld) is the offline joint forward with
    the same hint frames zeroed; server: the recorded hints are the joint model's hints."""
    m, cfg, path = exported[(name, "device")]
    w = _core.WeightsFile.load(str(path))
    x, s, n = _test_vector(w)
    spk = torch.from_numpy(w.get_floats("kboost.test.speaker"))[None] if cfg.has_speaker else None
    mask = np.array(w.get("kboost.test.hint_mask"))
    assert set(mask.tolist()) == {0, 1}
    d = cfg.kb.delay
    hints = w.get_floats("kboost.test.hints").reshape(n, cfg.n_hint_channels, -1)
    with torch.no_grad():
        want_hints = m.hints(x, spk)[0].permute(1, 0, 2).numpy()  # [T, C_h, F], T >= n frames
        seen = np.ones(want_hints.shape[0])  # frame t uses the hint of chunk t - d
        seen[d:n] = mask[: n - d]
        y = m(x, spk, hint_mask=torch.from_numpy(seen)[None])
    want_hints = want_hints[:n]
    np.testing.assert_allclose(s[..., LOOKAHEAD:], y[..., :-LOOKAHEAD], atol=1e-5, rtol=0)
    np.testing.assert_allclose(hints, want_hints, atol=1e-5, rtol=0)
    if (name, "server") in exported:
        srv = _core.WeightsFile.load(str(exported[(name, "server")][2]))
        np.testing.assert_array_equal(srv.get_floats("kboost.test.hints"), w.get_floats("kboost.test.hints"))


def test_cli_export_from_checkpoint(tmp_path, capsys):
    m, cfg = _model("ss-small-kb-d0-c1", seed=3)
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"config": cfg.to_dict(), "model": m.state_dict(), "epoch": 1}, ckpt)
    out = tmp_path / "dev.gguf"
    assert cli_main(["export", str(ckpt), "-o", str(out), "--part", "device"]) == 0
    assert "model_id" in capsys.readouterr().out
    w = _core.WeightsFile.load(str(out))
    assert w.get("kboost.role") == "device" and w.get("kboost.kb.delay") == 0
    np.testing.assert_array_equal(w.tensor("fusions.1.proj_norm.bias"), m.small.fusions[1].proj_norm.bias.detach())
    # A KB checkpoint holds two networks: the part must be chosen.
    assert cli_main(["export", str(ckpt), "-o", str(tmp_path / "x.gguf")]) == 2
    assert "--part device" in capsys.readouterr().err
    assert not (tmp_path / "x.gguf").exists()
    assert cli_main(["export", str(tmp_path / "missing.pt"), "-o", str(out)]) == 2


def test_export_refuses_bad_parts_and_weights(tmp_path):
    m, cfg = _model("ss-small")
    with pytest.raises(ValueError, match="needs a knowledge-boosted JointModel"):
        export_module(m, cfg, tmp_path / "a.gguf", "device")
    with pytest.raises(ValueError, match="part must be one of"):
        export_module(m, cfg, tmp_path / "a.gguf", "both")
    with torch.no_grad():
        m.blocks[1].inter.linear.bias[2] = float("nan")
    with pytest.raises(ValueError, match="blocks.1.inter.linear.bias"):
        export_module(m, cfg, tmp_path / "a.gguf")
    assert not (tmp_path / "a.gguf").exists()


def test_stub_matches_the_binding():
    """python/kboost/_core.pyi documents exactly the public members of the WeightsFile binding."""
    import ast
    from pathlib import Path

    import kboost

    tree = ast.parse((Path(kboost.__file__).parent / "_core.pyi").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "WeightsFile")
    stubbed = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    bound = {n for n in dir(_core.WeightsFile) if not n.startswith("_")}
    assert stubbed == bound
    assert any(isinstance(n, ast.ClassDef) and n.name == "Error" for n in tree.body)
