"""The wire protocol (docs/protocol.md): every frame round-trips, the codecs are within their stated
error, and the decoder rejects garbage, truncated, oversized, out-of-order and misdirected frames."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from kboost import protocol as P
from protocol_fuzz import mutate, valid_stream


def _hello(**over) -> P.Hello:
    kw = dict(model_id="abc123", task="ss", sample_rate=16000, chunk_size=128, n_channels=2, delay=3,
              codec=P.Codec.INT8, n_hint_channels=8, n_freq=97, start_chunk=41, token="t0k")
    kw.update(over)
    return P.Hello(**kw)


def _server_stream(*frames: bytes) -> bytes:
    return b"".join(frames)


def test_hello_round_trip_byte_by_byte():
    spk = np.linspace(-1, 1, 256, dtype=np.float32)
    h = _hello(speaker=spk)
    data = P.encode_hello(h) + P.encode_audio(41, np.ones((2, 128), np.float32))
    dec = P.FrameDecoder("server")
    got = []
    for i in range(len(data)):  # one byte at a time: the decoder is incremental
        got += dec.feed(data[i:i + 1])
    dec.finish()
    assert len(got) == 2
    g = got[0]
    assert isinstance(g, P.Hello)
    for f in ("model_id", "task", "sample_rate", "chunk_size", "n_channels", "delay", "codec",
              "n_hint_channels", "n_freq", "start_chunk", "token", "version"):
        assert getattr(g, f) == getattr(h, f), f
    np.testing.assert_array_equal(g.speaker, spk)
    assert got[1].chunk_index == 41 and np.all(got[1].samples == 1)


def test_device_side_frames_round_trip():
    rng = np.random.default_rng(0)
    hint = rng.standard_normal((8, 97)).astype(np.float32)
    data = (P.encode_hello_ack(P.HelloAck(1, P.Codec.FP32, 5, "srv")) + P.encode_hint(5, hint, P.Codec.FP32)
            + P.encode_heartbeat(123) + P.encode_hint(9, hint, P.Codec.FP16)
            + P.encode_close(P.CloseReason.SHUTDOWN, "bye"))
    frames = P.FrameDecoder("device").feed(data)
    assert [type(f) for f in frames] == [P.HelloAck, P.Hint, P.Heartbeat, P.Hint, P.Close]
    assert frames[0].start_chunk == 5 and frames[0].server == "srv"
    np.testing.assert_array_equal(frames[1].hint, hint)
    assert frames[2].time_ns == 123
    assert frames[4].reason == P.CloseReason.SHUTDOWN and frames[4].text == "bye"


@pytest.mark.parametrize("codec,bound", [(P.Codec.FP32, 0.0), (P.Codec.FP16, 2 ** -11), (P.Codec.INT8, 0.5 / 127)])
def test_codec_error_within_bound(codec, bound):
    rng = np.random.default_rng(1)
    hint = (3.0 * rng.standard_normal((4, 97))).astype(np.float32)
    (f,) = P.FrameDecoder("device").feed(P.encode_hello_ack(P.HelloAck(1, codec, 0)) + P.encode_hint(0, hint, codec))[1:]
    peak = np.abs(hint).max()
    err = np.abs(f.hint - hint).max()
    # fp16: relative rounding 2^-11 of each value; int8: half a step of peak / 127
    limit = bound * (peak if codec != P.Codec.FP16 else np.abs(hint).max())
    assert err <= limit + 1e-7, f"{codec.name}: max error {err} > {limit}"
    assert f.codec == codec
    size = len(P.encode_hint(0, hint, codec))
    assert size == P.hint_payload_bytes(hint.size, codec)


def test_int8_all_zero_hint():
    z = np.zeros((2, 97), np.float32)
    (f,) = P.FrameDecoder("device").feed(P.encode_hello_ack(P.HelloAck(1, P.Codec.INT8, 0)) + P.encode_hint(0, z, P.Codec.INT8))[1:]
    assert np.all(f.hint == 0)


def test_encoders_reject_bad_values():
    with pytest.raises(ValueError, match="non-finite"):
        P.encode_hint(0, np.full((2, 97), np.nan, np.float32), P.Codec.FP32)
    with pytest.raises(ValueError, match="token"):
        P.encode_hello(_hello(token="x" * 300))
    with pytest.raises(ValueError, match="codec"):
        P.Codec.parse("bf16")


def _expect_error(role: str, data: bytes, match: str) -> None:
    dec = P.FrameDecoder(role)
    with pytest.raises(P.ProtocolError, match=match):
        dec.feed(data)
        dec.finish()


AUDIO0 = P.encode_audio(0, np.zeros((2, 128), np.float32))


@pytest.mark.parametrize("data,match", [
    (b"GET / HTTP/1.1\r\n\r\n", "out of range"),  # garbage: a huge length
    (struct.pack("<I", P.MAX_FRAME_SIZE + 1) + b"\x04", "out of range"),  # oversized, rejected before reading it
    (struct.pack("<I", 0), "out of range"),
    (struct.pack("<IB", 1, 99), "unknown frame type 99"),
    (AUDIO0, "before the handshake"),
    (P.encode_hello(_hello(start_chunk=0)) + P.encode_audio(1, np.zeros((2, 128), np.float32)), "out of order: chunk 1, expected chunk 0"),
    (P.encode_hello(_hello(start_chunk=0)) + AUDIO0 + AUDIO0, "out of order"),
    (P.encode_hello(_hello()) + P.encode_hello(_hello()), "second handshake"),
    (P.encode_hello(_hello())[:-3], "truncated"),  # cut short at end of stream
    (P.encode_hello(_hello(start_chunk=0)) + P.encode_audio(0, np.full((2, 128), np.nan, np.float32)), "NaN"),
    (P.encode_hello(_hello(start_chunk=0)) + P.encode_audio(0, np.full((2, 128), 3e4, np.float32)), "exceeds"),
    (P.encode_hello(_hello()).replace(b"KBST", b"XXXX"), "bad magic"),
    (P.encode_hello(_hello()) + P.encode_hint(0, np.zeros((1, 97), np.float32), P.Codec.FP32), "server frame"),
    (P.encode_hello(_hello()) + P.encode_close(P.CloseReason.NORMAL) + P.encode_heartbeat(0), "after the connection's last frame"),
], ids=["garbage", "oversized", "zero-length", "unknown-type", "audio-first", "skipped-chunk", "repeated-chunk",
        "second-hello", "truncated", "nan-audio", "huge-audio", "bad-magic", "misdirected", "bytes-after-close"])
def test_server_side_decoder_rejects(data, match):
    _expect_error("server", data, match)


def test_inner_length_lies_are_truncation_errors():
    good = P.encode_hello(_hello())
    # a body shorter than its fields say: keep the frame length consistent but drop body bytes
    body = good[4:-10]
    _expect_error("server", struct.pack("<I", len(body)) + body, "truncated")
    # trailing bytes inside a frame
    body = good[4:] + b"\x00"
    _expect_error("server", struct.pack("<I", len(body)) + body, "trailing")


@pytest.mark.parametrize("data,match", [
    (P.encode_hint(0, np.zeros((1, 97), np.float32), P.Codec.FP32), "before the handshake"),
    (P.encode_hello_ack(P.HelloAck(1, P.Codec.FP32, 0)) + P.encode_hint(3, np.zeros((1, 97)), P.Codec.FP32)
     + P.encode_hint(3, np.zeros((1, 97)), P.Codec.FP32), "HINT out of order"),
    (P.encode_hello_ack(P.HelloAck(1, P.Codec.FP32, 0)) + AUDIO0, "device frame"),
], ids=["hint-first", "repeated-hint", "misdirected"])
def test_device_side_decoder_rejects(data, match):
    _expect_error("device", data, match)


def test_int8_bad_scale_rejected():
    frame = bytearray(P.encode_hint(0, np.ones((1, 97), np.float32), P.Codec.INT8))
    struct.pack_into("<f", frame, 4 + 1 + 8 + 1 + 1 + 2 + 2, float("nan"))
    _expect_error("device", P.encode_hello_ack(P.HelloAck(1, P.Codec.INT8, 0)) + bytes(frame), "scale")


def test_decoder_fuzz_never_raises_anything_but_protocol_error():
    rng = np.random.default_rng(1234)
    good = valid_stream(rng, _hello(start_chunk=0))
    n_err = 0
    for _ in range(2000):
        data = mutate(rng, good)
        dec = P.FrameDecoder("server")
        try:
            pos = 0
            while pos < len(data):  # random read sizes
                step = int(rng.integers(1, 200))
                dec.feed(data[pos:pos + step])
                pos += step
            dec.finish()
        except P.ProtocolError:
            n_err += 1
    assert n_err > 1000  # most mutations are caught (a few flips land in sample bytes and stay valid)
