"""Every named error of the weights-file reader (kboost._core.WeightsFile): a valid exported file is
corrupted in one place (located with the gguf package's own reader) and the error must name what is
wrong, what was found and what was expected."""

from __future__ import annotations

import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")
gguf = pytest.importorskip("gguf")

from kboost import _core  # noqa: E402
from kboost.config import get_config  # noqa: E402
from kboost_train import build_model  # noqa: E402
from kboost_train import export as export_mod  # noqa: E402

Error = _core.Error


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """(path, bytes) of a valid ss-small weights file."""
    torch.manual_seed(0)
    cfg = get_config("ss-small")
    path = tmp_path_factory.mktemp("w") / "ss-small.gguf"
    export_mod.export_module(build_model(cfg).eval(), cfg, path)
    return path, path.read_bytes()


def parse(data: bytes):
    return _core.WeightsFile.parse(bytes(data), "test.gguf")


def patched(data: bytes, offset: int, fmt: str, value) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


def field_value_offset(path, key: str) -> tuple[int, int]:
    """(offset of the value type u32, offset of the value) of a scalar metadata key."""
    f = gguf.GGUFReader(str(path)).fields[key]
    type_at = f.offset + 8 + len(key.encode())
    return type_at, type_at + 4


def tensor_data_offset(path, name: str) -> int:
    t = next(t for t in gguf.GGUFReader(str(path)).tensors if t.name == name)
    return int(t.data_offset)


def test_error_is_value_and_runtime_error(good):
    assert issubclass(Error, ValueError) and issubclass(Error, RuntimeError)
    w = parse(good[1])
    assert w.gguf_version == 3 and w.alignment == 32


def test_missing_file(tmp_path):
    with pytest.raises(Error, match=r"cannot open weights file '.*nope\.gguf'"):
        _core.WeightsFile.load(str(tmp_path / "nope.gguf"))
    with pytest.raises(Error, match="it is a directory, expected a .gguf file"):
        _core.WeightsFile.load(str(tmp_path))


@pytest.mark.parametrize("where", ["empty", "magic", "header", "metadata", "tensor_infos", "data", "last_byte"])
def test_truncated(good, where):
    path, data = good
    r = gguf.GGUFReader(str(path))
    cut = {
        "empty": 0,
        "magic": 3,
        "header": 20,
        "metadata": r.fields["kboost.config"].offset + 20,
        "tensor_infos": r.tensors[5].field.offset + 10,
        "data": tensor_data_offset(path, "blocks.1.inter.rnn.weight_hh_l0") + 100,
        "last_byte": len(data) - 1,
    }[where]
    with pytest.raises(Error, match="truncated") as e:
        parse(data[:cut])
    assert "test.gguf" in str(e.value)
    if where == "data":  # the first tensor cut off is named
        assert "data of tensor 'blocks.1.inter.rnn.weight_hh_l0'" in str(e.value)
    if where == "last_byte":
        assert "data of tensor 'decoder.deconv.bias'" in str(e.value)


def test_wrong_magic(good):
    with pytest.raises(Error, match=r"not a GGUF weights file: the magic bytes are 'GGML', expected 'GGUF'"):
        parse(b"GGML" + good[1][4:])


def test_wrong_gguf_version(good):
    with pytest.raises(Error, match=r"unsupported GGUF version 2: this reader supports version 3"):
        parse(patched(good[1], 4, "<I", 2))
    with pytest.raises(Error, match="big-endian"):
        parse(patched(good[1], 4, ">I", 3))


def test_wrong_format_version(good):
    path, data = good
    type_at, value_at = field_value_offset(path, "kboost.format_version")
    with pytest.raises(Error, match=r"unsupported kboost weights format version 7: this build reads version 1"):
        parse(patched(data, value_at, "<I", 7))


def test_not_a_kboost_file(good):
    path, data = good
    # general.architecture is 'kboost'; same length, another value.
    i = data.index(b"kboost", gguf.GGUFReader(str(path)).fields["general.architecture"].offset)
    with pytest.raises(Error, match=r"general.architecture is 'llama2', expected 'kboost'"):
        parse(data[:i] + b"llama2" + data[i + 6:])


def test_bad_metadata_type(good):
    path, data = good
    type_at, _ = field_value_offset(path, "kboost.format_version")
    # The u32 1 reinterpreted as a float32 (a denormal): the key has the wrong type.
    with pytest.raises(Error, match=r"metadata key 'kboost.format_version' has type float32, expected an integer"):
        parse(patched(data, type_at, "<I", 6))
    w = parse(data)
    with pytest.raises(Error, match=r"metadata key 'kboost.task' has type string, expected an integer"):
        w.get_int("kboost.task")
    with pytest.raises(Error, match=r"metadata key 'kboost.d_model' has type uint32, expected string"):
        w.get_string("kboost.d_model")
    with pytest.raises(Error, match=r"metadata key 'kboost.n_fft' has type uint32, expected an array of float32"):
        w.get_floats("kboost.n_fft")
    with pytest.raises(Error, match=r"metadata key 'kboost.not_there' is missing"):
        w.get("kboost.not_there")
    with pytest.raises(Error, match=r"unknown value type 99"):
        parse(patched(data, type_at, "<I", 99))


def test_missing_tensor(good):
    w = parse(good[1])
    with pytest.raises(Error, match=r"missing tensor 'speaker_films.0.conv.weight' \(expected shape \[3104, 256, 1\]\)"):
        w.tensor("speaker_films.0.conv.weight", [3104, 256, 1])


def test_unknown_tensors(good):
    w = parse(good[1])
    names = w.tensor_names()
    for n in names:
        if n not in ("blocks.2.inter.linear.bias", "decoder.deconv.weight"):
            w.tensor(n)
    with pytest.raises(Error, match=r"2 unknown tensors not used by the model: 'blocks.2.inter.linear.bias', "
                                    r"'decoder.deconv.weight'"):
        w.check_all_used()
    w.tensor("blocks.2.inter.linear.bias")
    w.tensor("decoder.deconv.weight")
    w.check_all_used()


def test_misshaped_tensor(good):
    w = parse(good[1])
    np.testing.assert_equal(w.tensor("encoder.conv.weight", [16, 4, 3, 3]).shape, (16, 4, 3, 3))
    with pytest.raises(Error, match=r"tensor 'encoder.conv.weight' has shape \[16, 4, 3, 3\], expected \[16, 4, 3, 2\]"):
        w.tensor("encoder.conv.weight", [16, 4, 3, 2])
    with pytest.raises(Error, match=r"tensor 'blocks.0.intra.rnn.weight_ih_l0' has shape \[64, 16\], expected \[16, 64\]"):
        w.tensor("blocks.0.intra.rnn.weight_ih_l0", [16, 64])


@pytest.mark.parametrize("value,word", [(float("nan"), "NaN"), (float("inf"), "Inf"), (float("-inf"), "Inf")])
def test_non_finite_weight(good, value, word):
    path, data = good
    at = tensor_data_offset(path, "blocks.1.inter.rnn.weight_hh_l0")
    with pytest.raises(Error, match=rf"tensor 'blocks.1.inter.rnn.weight_hh_l0' \[64, 16\] holds {word} at flat index 17"):
        parse(patched(data, at + 17 * 4, "<f", value))


def test_non_f32_tensor(good):
    path, data = good
    t = next(t for t in gguf.GGUFReader(str(path)).tensors if t.name == "encoder_norm.bias")
    # tensor info: name length, name, n_dims, dims, type
    type_at = t.field.offset + 8 + len(t.name) + 4 + 8 * len(t.shape)
    assert struct.unpack_from("<I", data, type_at)[0] == 0
    with pytest.raises(Error, match=r"tensor 'encoder_norm.bias' has type F16 \(1\), expected F32"):
        parse(patched(data, type_at, "<I", 1))


def test_corrupt_counts_and_offsets(good):
    path, data = good
    with pytest.raises(Error, match=r"claims 1152921504606846976 tensors"):
        parse(patched(data, 8, "<Q", 1 << 60))
    with pytest.raises(Error, match=r"claims 4294967296 metadata entries"):
        parse(patched(data, 16, "<Q", 1 << 32))
    t = next(t for t in gguf.GGUFReader(str(path)).tensors if t.name == "encoder_norm.bias")
    dims_at = t.field.offset + 8 + len(t.name) + 4
    with pytest.raises(Error, match=r"tensor 'encoder_norm.bias' claims more elements than the whole file"):
        parse(patched(data, dims_at, "<Q", 1 << 62))
    with pytest.raises(Error, match=r"tensor 'encoder_norm.bias' has a zero-length dim 0"):
        parse(patched(data, dims_at, "<Q", 0))
    with pytest.raises(Error, match=r"tensor 'encoder_norm.bias' has 9 dims, expected 1 to 4"):
        parse(patched(data, dims_at - 4, "<I", 9))
    offset_at = dims_at + 8 * len(t.shape) + 4
    with pytest.raises(Error, match=r"tensor 'encoder_norm.bias' data offset 36 is not a multiple of the alignment 32"):
        parse(patched(data, offset_at, "<Q", 36))
    with pytest.raises(Error, match=r"the data of tensor 'encoder_norm.bias' .* ends past the end of the file"):
        parse(patched(data, offset_at, "<Q", 1 << 40))
    with pytest.raises(Error, match=r"overlap"):
        parse(patched(data, offset_at, "<Q", 0))
    # A string length past the end.
    key_len_at = gguf.GGUFReader(str(path)).fields["kboost.config"].offset
    with pytest.raises(Error, match=r"claims a length of 1099511627776 bytes"):
        parse(patched(data, key_len_at, "<Q", 1 << 40))
