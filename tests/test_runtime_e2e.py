"""Hint server + device loop over a real loopback socket against the in-process streaming reference
(JointModel.step with the same hints), and the server's refusals."""

from __future__ import annotations

import numpy as np
import pytest

from kboost import protocol as P
from kboost.realtime import run_device
from runtime_helpers import (
    RawClient,
    hello_for,
    make_signal,
    reference_output,
    running_server,
    tiny_engines,
    wait_until,
)


@pytest.mark.parametrize("delay", [0, 1, 3, 6])
def test_socket_equals_in_process_reference(delay):
    """Every hint waited for (offline evaluation mode): output == JointModel.step with all hints."""
    joint, source, device = tiny_engines(delay)
    x = make_signal()
    with running_server(source) as srv:
        out, stats = run_device(device.open_stream(), x, ("127.0.0.1", srv.port), wait_hint_s=5.0,
                                connect_wait_s=5.0)
        assert wait_until(lambda: srv.n_active == 0)
    ref = reference_output(joint, x)
    err = float(np.abs(out - ref).max())
    assert err <= 1e-4, f"delay {delay}: max-abs {err} between socket run and in-process reference"
    n = x.shape[1] // 128
    assert stats.counters["hints_used"] == n - delay and stats.hints_missing == 0
    assert stats.counters["chunks"] == n


def test_tse_speaker_embedding_travels_in_the_hello():
    joint, source, device = tiny_engines(1, task="tse")
    spk = np.random.default_rng(3).standard_normal(256).astype(np.float32)
    x = make_signal(40)
    with running_server(source) as srv:
        out, stats = run_device(device.open_stream(spk), x, ("127.0.0.1", srv.port), wait_hint_s=5.0,
                                connect_wait_s=5.0, speaker=spk)
        r = _refusal(srv.port, hello_for(device.identity))  # no embedding: refused, not crashed
    assert r.reason == P.RefuseReason.BAD_HELLO and "speaker" in r.text
    assert stats.counters["hints_used"] == 39
    assert float(np.abs(out - reference_output(joint, x, speaker=spk)).max()) <= 1e-4
    with pytest.raises(ValueError, match="speaker embedding"):
        device.open_stream()


def test_without_hints_equals_reference_with_every_hint_withheld():
    joint, _, device = tiny_engines(3)
    x = make_signal(40)
    out, stats = run_device(device.open_stream(), x)
    ref = reference_output(joint, x, delivered=np.zeros(40, bool))
    assert np.abs(out - ref).max() <= 1e-5
    assert stats.hints_missing == 40 - 3


@pytest.mark.parametrize("codec", [P.Codec.FP16, P.Codec.INT8])
def test_lossy_codecs_stay_close(codec):
    joint, source, device = tiny_engines(1)
    x = make_signal(60)
    with running_server(source) as srv:
        out, stats = run_device(device.open_stream(), x, ("127.0.0.1", srv.port), wait_hint_s=5.0,
                                connect_wait_s=5.0, codec=codec)
    ref = reference_output(joint, x)
    err = float(np.abs(out - ref).max())
    assert stats.counters["hints_used"] == 59
    assert 0 < err < 0.05 * float(np.abs(ref).max()), f"{codec.name}: max-abs {err}"


def _refusal(port, hello) -> P.Refuse:
    c = RawClient(port)
    try:
        c.send(P.encode_hello(hello))
        frames = c.frames_until_closed()
    finally:
        c.close()
    assert frames and isinstance(frames[0], P.Refuse), frames
    return frames[0]


def test_server_refuses_mismatched_devices_with_reason():
    _, source, device = tiny_engines(3)
    ident = device.identity
    _, _, other = tiny_engines(3, seed=1)
    with running_server(source) as srv:
        r = _refusal(srv.port, hello_for(other.identity))
        assert r.reason == P.RefuseReason.MODEL and "hint source" in r.text
        r = _refusal(srv.port, hello_for(ident, sample_rate=48000))
        assert r.reason == P.RefuseReason.FRAMING and "48000" in r.text
        r = _refusal(srv.port, hello_for(ident, chunk_size=256))
        assert r.reason == P.RefuseReason.FRAMING
        r = _refusal(srv.port, hello_for(ident, delay=2))
        assert r.reason == P.RefuseReason.MODEL and "delay" in r.text
        r = _refusal(srv.port, hello_for(ident, task="tse"))
        assert r.reason == P.RefuseReason.MODEL
        r = _refusal(srv.port, hello_for(ident, version=9))
        assert r.reason == P.RefuseReason.VERSION
        st = srv.stats()
        assert st["refused.model"] == 3 and st["refused.framing"] == 2 and st["refused.version"] == 1
        assert st.get("live_stream_objects", 0) == 0


def test_device_client_stops_on_refusal():
    _, source, _ = tiny_engines(3)
    _, _, other = tiny_engines(3, seed=1)
    x = make_signal(30)
    with running_server(source) as srv:
        out, stats = run_device(other.open_stream(), x, ("127.0.0.1", srv.port), connect_wait_s=2.0)
    assert out.shape == (4, 30 * 128) and np.isfinite(out).all()
    assert "MODEL" in stats.client["refused"]
    assert stats.client["refusals"] == 1 and stats.client.get("connects", 0) == 1  # no retry loop


def test_token_required_off_loopback_and_checked():
    _, source, device = tiny_engines(3)
    from kboost.server import HintServer

    with pytest.raises(ValueError, match="token"):
        HintServer(source, host="0.0.0.0")
    with running_server(source, token="s3cret") as srv:
        r = _refusal(srv.port, hello_for(device.identity, token="wrong"))
        assert r.reason == P.RefuseReason.AUTH
        x = make_signal(20)
        out, stats = run_device(device.open_stream(), x, ("127.0.0.1", srv.port), wait_hint_s=5.0,
                                connect_wait_s=5.0, token="s3cret")
        assert stats.counters["hints_used"] == 17


def test_server_busy_refusal():
    _, source, device = tiny_engines(3)
    with running_server(source, max_streams=1) as srv:
        a = RawClient(srv.port)
        a.send(P.encode_hello(hello_for(device.identity)))
        assert wait_until(lambda: srv.n_active == 1)
        r = _refusal(srv.port, hello_for(device.identity))
        assert r.reason == P.RefuseReason.BUSY
        a.close()
        assert wait_until(lambda: srv.n_active == 0)


def test_weights_file_identity_matches_reference_engines(tmp_path):
    """The ids the exporter writes are the ids the PyTorch engines send: C++ and torch interoperate."""
    from kboost.engine import core_available, load_engine, read_identity
    from kboost_train.export import export_module

    joint, source, device = tiny_engines(3)
    export_module(joint, joint.cfg, tmp_path / "server.gguf", "server")
    export_module(joint, joint.cfg, tmp_path / "device.gguf", "device")
    role, s_id = read_identity(tmp_path / "server.gguf")
    assert role == "server" and s_id == source.identity
    role, d_id = read_identity(tmp_path / "device.gguf")
    assert role == "device" and d_id == device.identity
    if not core_available():
        with pytest.raises(RuntimeError, match="no C\\+\\+ model runtime"):
            load_engine("server", model=str(tmp_path / "server.gguf"))
    with pytest.raises(ValueError, match=".gguf"):
        load_engine("server", model=__file__)
    with pytest.raises(ValueError, match="exactly one"):
        load_engine("device")


def test_device_stream_hint_bookkeeping():
    """push_hint: stored, late, duplicate, too far ahead; counters as the loop reports them."""
    _, _, device = tiny_engines(2)
    s = device.open_stream()
    h = np.ones((8, 97), np.float32)
    x = np.zeros((2, 128), np.float32)
    assert s.push_hint(0, h) and not s.push_hint(0, h)  # duplicate
    assert not s.push_hint(10_000, h)  # beyond the ring
    for _ in range(4):  # chunks 0..3 use hints of chunks -2..1: 0 is there, 1 is not
        s.process_chunk(x)
    assert not s.push_hint(1, h)  # chunk 3 already ran without it: late
    assert s.push_hint(2, h)
    s.process_chunk(x)
    assert s.chunk_index == 5
    assert s.counters() == dict(chunks=5, hints_used=2, hints_missing=1, hints_late=1, hints_dropped=2)
    with pytest.raises(ValueError, match="hint"):
        s.push_hint(3, np.ones((4, 97), np.float32))
    with pytest.raises(ValueError, match="audio chunk"):
        s.process_chunk(np.zeros((2, 64), np.float32))
