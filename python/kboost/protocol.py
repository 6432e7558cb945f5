"""The kboost hint protocol: framing, encoding and an incremental, strict decoder.

The wire format is specified in ``docs/protocol.md``; this module is its only implementation. It
does no I/O: a sender calls the ``encode_*`` functions and writes the bytes; a receiver feeds the
bytes it reads, in any pieces, to a :class:`FrameDecoder`, which returns whole, validated frames
and raises :class:`ProtocolError` on anything else (garbage, a truncated frame at close, an
oversized length, a frame out of order or of the wrong direction, non-finite samples).

Every integer and float is little-endian. Frame = ``u32 length | u8 type | body``; ``length``
counts the type byte and the body and is at most :data:`MAX_FRAME_SIZE`.

Threads: encoders are pure functions; a ``FrameDecoder`` belongs to one reader thread.
"""

from __future__ import annotations

import enum
import math
import struct
from dataclasses import dataclass, field

import numpy as np

PROTOCOL_VERSION = 1
MAGIC = b"KBST"
MAX_FRAME_SIZE = 65_536  # bytes of type + body; the largest legal frame is about 3.2 KB
MAX_TEXT = 255  # bytes of a length-prefixed string (task, model id, token, reasons)
MAX_SPEAKER_DIM = 1024
MAX_SAMPLE_ABS = 1000.0  # |audio sample| bound (full scale is 1.0): larger values are garbage

_LEN = struct.Struct("<I")


class FrameType(enum.IntEnum):
    HELLO = 1  # device -> server, first frame
    HELLO_ACK = 2  # server -> device
    REFUSE = 3  # server -> device, then the server closes
    AUDIO = 4  # device -> server
    HINT = 5  # server -> device
    HEARTBEAT = 6  # both ways
    CLOSE = 7  # both ways, last frame


class Codec(enum.IntEnum):
    """Hint payload encodings: fp32 is exact; fp16 halves and int8 quarters the bytes."""

    FP32 = 0
    FP16 = 1
    INT8 = 2  # q = round(x / scale), scale = max|x| / 127 per frame

    @staticmethod
    def parse(name: str) -> "Codec":
        try:
            return Codec[name.upper()]
        except KeyError:
            raise ValueError(f"unknown hint codec {name!r}: expected one of fp32, fp16, int8") from None


class RefuseReason(enum.IntEnum):
    VERSION = 1  # protocol version not supported
    MODEL = 2  # model identity (id, task, hint shape) does not match
    FRAMING = 3  # sample rate, chunk size or channel count does not match
    AUTH = 4  # token missing or wrong
    BUSY = 5  # the server holds its maximum number of streams
    BAD_HELLO = 6  # a malformed hello


class CloseReason(enum.IntEnum):
    NORMAL = 0  # end of stream
    PROTOCOL_ERROR = 1  # the peer sent a frame that breaks the protocol (text says which)
    IDLE = 2  # nothing received for too long
    SHUTDOWN = 3  # the server is stopping
    INTERNAL = 4  # the engine failed on this stream


class ProtocolError(Exception):
    """The peer broke the protocol; the message says what was received and what was expected."""


# ---- frames ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hello:
    """First frame of a connection (device -> server).

    ``model_id``: the identity of the hint source the device was trained with (the server's
    model id); ``start_chunk``: the index of the first audio frame that follows (a reconnecting
    device resumes at its current chunk); ``speaker``: the enrollment embedding for TSE, else empty.
    """

    model_id: str
    task: str
    sample_rate: int
    chunk_size: int
    n_channels: int
    delay: int
    codec: Codec
    n_hint_channels: int
    n_freq: int
    start_chunk: int = 0
    token: str = ""
    speaker: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True)
class HelloAck:
    version: int
    codec: Codec
    start_chunk: int
    server: str = ""


@dataclass(frozen=True)
class Refuse:
    reason: RefuseReason
    text: str


@dataclass(frozen=True)
class Audio:
    """One chunk of device audio, ``samples`` float32 [n_channels, n_samples]."""

    chunk_index: int
    samples: np.ndarray


@dataclass(frozen=True)
class Hint:
    """The compressed hint of chunk ``chunk_index``, decoded to float32 [n_channels, n_freq]."""

    chunk_index: int
    codec: Codec
    hint: np.ndarray
    n_payload_bytes: int = 0


@dataclass(frozen=True)
class Heartbeat:
    time_ns: int  # the sender's monotonic clock; informational


@dataclass(frozen=True)
class Close:
    reason: CloseReason
    text: str


Frame = Hello | HelloAck | Refuse | Audio | Hint | Heartbeat | Close


# ---- encoding -------------------------------------------------------------------------------------
def _frame(ftype: FrameType, body: bytes) -> bytes:
    n = 1 + len(body)
    if n > MAX_FRAME_SIZE:
        raise ValueError(f"{ftype.name} frame of {n} bytes exceeds the maximum {MAX_FRAME_SIZE}")
    return _LEN.pack(n) + bytes((ftype,)) + body


def _text(s: str, what: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > MAX_TEXT:
        raise ValueError(f"{what} is {len(b)} bytes in UTF-8; at most {MAX_TEXT} allowed")
    return bytes((len(b),)) + b


_HELLO = struct.Struct("<4sHIHBBBHHQ")  # magic version rate chunk ch delay codec n_hint n_freq start


def encode_hello(h: Hello) -> bytes:
    spk = np.ascontiguousarray(h.speaker, dtype="<f4").ravel()
    if spk.size > MAX_SPEAKER_DIM:
        raise ValueError(f"speaker embedding of {spk.size} values; at most {MAX_SPEAKER_DIM}")
    body = _HELLO.pack(MAGIC, h.version, h.sample_rate, h.chunk_size, h.n_channels, h.delay,
                       int(h.codec), h.n_hint_channels, h.n_freq, h.start_chunk)
    body += _text(h.task, "task") + _text(h.model_id, "model id") + _text(h.token, "token")
    body += struct.pack("<H", spk.size) + spk.tobytes()
    return _frame(FrameType.HELLO, body)


def encode_hello_ack(a: HelloAck) -> bytes:
    body = struct.pack("<HBQ", a.version, int(a.codec), a.start_chunk) + _text(a.server, "server")
    return _frame(FrameType.HELLO_ACK, body)


def encode_refuse(reason: RefuseReason, text: str) -> bytes:
    return _frame(FrameType.REFUSE, struct.pack("<H", int(reason)) + _text(text[:MAX_TEXT], "reason"))


def encode_close(reason: CloseReason, text: str = "") -> bytes:
    t = text.encode("utf-8")[:MAX_TEXT].decode("utf-8", "ignore")
    return _frame(FrameType.CLOSE, struct.pack("<H", int(reason)) + _text(t, "reason"))


def encode_heartbeat(time_ns: int) -> bytes:
    return _frame(FrameType.HEARTBEAT, struct.pack("<Q", time_ns & (2**64 - 1)))


_AUDIO = struct.Struct("<QHH")  # chunk_index n_channels n_samples


def encode_audio(chunk_index: int, samples: np.ndarray) -> bytes:
    """``samples`` [n_channels, n_samples] float32-convertible -> an AUDIO frame."""
    x = np.ascontiguousarray(samples, dtype="<f4")
    if x.ndim != 2:
        raise ValueError(f"audio chunk must be [n_channels, n_samples], got shape {x.shape}")
    return _frame(FrameType.AUDIO, _AUDIO.pack(chunk_index, x.shape[0], x.shape[1]) + x.tobytes())


_HINT = struct.Struct("<QBBHHf")  # chunk_index codec reserved n_channels n_freq scale
_FP16_MAX = float(np.finfo(np.float16).max)


def encode_hint(chunk_index: int, hint: np.ndarray, codec: Codec) -> bytes:
    """``hint`` [n_channels, n_freq] float32 -> a HINT frame in ``codec``.

    fp16 saturates at +-65504; int8 uses one scale per frame (max |x| / 127), so its error is at
    most scale / 2 per value.
    """
    h = np.asarray(hint, dtype=np.float32)
    if h.ndim != 2:
        raise ValueError(f"hint must be [n_channels, n_freq], got shape {h.shape}")
    if not np.isfinite(h).all():
        raise ValueError(f"hint of chunk {chunk_index} holds non-finite values")
    scale = 1.0
    if codec == Codec.FP32:
        payload = h.astype("<f4").tobytes()
    elif codec == Codec.FP16:
        payload = np.clip(h, -_FP16_MAX, _FP16_MAX).astype("<f2").tobytes()
    elif codec == Codec.INT8:
        peak = float(np.abs(h).max()) if h.size else 0.0
        scale = peak / 127.0 if peak > 0 else 0.0
        q = np.zeros(h.shape, np.int8) if scale == 0 else np.clip(np.rint(h / scale), -127, 127)
        payload = q.astype(np.int8).tobytes()
        if not math.isfinite(np.float32(scale)):
            raise ValueError(f"hint of chunk {chunk_index}: int8 scale {scale} overflows float32")
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return _frame(FrameType.HINT, _HINT.pack(chunk_index, int(codec), 0, h.shape[0], h.shape[1], scale) + payload)


def hint_payload_bytes(n_values: int, codec: Codec) -> int:
    """Bytes of one HINT frame on the wire (length prefix included) for ``n_values`` values."""
    per = {Codec.FP32: 4, Codec.FP16: 2, Codec.INT8: 1}[Codec(codec)]
    return _LEN.size + 1 + _HINT.size + per * n_values


# ---- decoding -------------------------------------------------------------------------------------
class _Reader:
    """Bounds-checked cursor over one frame body."""

    def __init__(self, body: memoryview, what: str) -> None:
        self.b, self.pos, self.what = body, 0, what

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.b):
            raise ProtocolError(
                f"{self.what} frame truncated: needs {self.pos + n} bytes of body, has {len(self.b)}"
            )
        v = self.b[self.pos:self.pos + n]
        self.pos += n
        return v

    def unpack(self, s: struct.Struct) -> tuple:
        return s.unpack(self.take(s.size))

    def text(self, what: str) -> str:
        (n,) = self.take(1)
        try:
            return bytes(self.take(n)).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.what}: {what} is not valid UTF-8") from None

    def end(self) -> None:
        if self.pos != len(self.b):
            raise ProtocolError(
                f"{self.what} frame has {len(self.b) - self.pos} trailing bytes (body {len(self.b)}, "
                f"expected {self.pos})"
            )


def _codec(v: int, what: str) -> Codec:
    try:
        return Codec(v)
    except ValueError:
        raise ProtocolError(f"{what}: unknown hint codec {v} (expected 0 fp32, 1 fp16, 2 int8)") from None


def _decode_hello(r: _Reader) -> Hello:
    magic, version, rate, chunk, ch, delay, codec, n_hint, n_freq, start = r.unpack(_HELLO)
    if magic != MAGIC:
        raise ProtocolError(f"HELLO: bad magic {bytes(magic)!r}, expected {MAGIC!r}")
    task, model_id, token = r.text("task"), r.text("model id"), r.text("token")
    (n_spk,) = r.unpack(struct.Struct("<H"))
    if n_spk > MAX_SPEAKER_DIM:
        raise ProtocolError(f"HELLO: speaker embedding of {n_spk} values, at most {MAX_SPEAKER_DIM}")
    spk = np.frombuffer(r.take(4 * n_spk), dtype="<f4").astype(np.float32)
    r.end()
    if not np.isfinite(spk).all():
        raise ProtocolError("HELLO: speaker embedding holds non-finite values")
    return Hello(model_id=model_id, task=task, sample_rate=rate, chunk_size=chunk, n_channels=ch,
                 delay=delay, codec=_codec(codec, "HELLO"), n_hint_channels=n_hint, n_freq=n_freq,
                 start_chunk=start, token=token, speaker=spk, version=version)


def _decode_audio(r: _Reader) -> Audio:
    k, ch, n = r.unpack(_AUDIO)
    x = np.frombuffer(r.take(4 * ch * n), dtype="<f4").reshape(ch, n).astype(np.float32)
    r.end()
    if not np.isfinite(x).all():
        raise ProtocolError(f"AUDIO chunk {k}: samples hold NaN or infinity")
    if x.size and float(np.abs(x).max()) > MAX_SAMPLE_ABS:
        raise ProtocolError(
            f"AUDIO chunk {k}: sample magnitude {float(np.abs(x).max()):.3g} exceeds {MAX_SAMPLE_ABS:g} "
            "(full scale is 1.0)"
        )
    return Audio(k, x)


def _decode_hint(r: _Reader) -> Hint:
    k, codec_v, _reserved, ch, nf, scale = r.unpack(_HINT)
    codec = _codec(codec_v, f"HINT chunk {k}")
    n = ch * nf
    if codec == Codec.FP32:
        h = np.frombuffer(r.take(4 * n), dtype="<f4").astype(np.float32)
    elif codec == Codec.FP16:
        h = np.frombuffer(r.take(2 * n), dtype="<f2").astype(np.float32)
    else:
        if not (math.isfinite(scale) and scale >= 0):
            raise ProtocolError(f"HINT chunk {k}: int8 scale {scale} is not a finite value >= 0")
        h = np.frombuffer(r.take(n), dtype=np.int8).astype(np.float32) * np.float32(scale)
    r.end()
    if not np.isfinite(h).all():
        raise ProtocolError(f"HINT chunk {k}: values hold NaN or infinity")
    return Hint(k, codec, h.reshape(ch, nf), n_payload_bytes=len(r.b))


class FrameDecoder:
    """Incremental, strict decoder of one direction of one connection.

    ``role="server"`` decodes what a device sends (HELLO first, then AUDIO with consecutive chunk
    indices from the hello's ``start_chunk``, HEARTBEAT, CLOSE); ``role="device"`` decodes what a
    server sends (HELLO_ACK or REFUSE first, then HINT with increasing chunk indices, HEARTBEAT,
    CLOSE). ``feed(data)`` returns the frames completed by ``data`` (possibly none) and raises
    :class:`ProtocolError` at the first violation; after an error or a CLOSE/REFUSE the decoder
    accepts nothing more. ``finish()`` at end of stream raises if a frame was cut short.
    """

    def __init__(self, role: str, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if role not in ("server", "device"):
            raise ValueError(f"role must be 'server' or 'device', got {role!r}")
        self.role = role
        self.max_frame_size = max_frame_size
        self._buf = bytearray()
        self._greeted = False
        self._next_audio: int | None = None  # server: the chunk index the next AUDIO must carry
        self._last_hint = -1  # device: hints must arrive in increasing chunk order
        self._done = False
        self.n_frames = 0
        self.n_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if self._done:
            if data:
                raise ProtocolError(f"{len(data)} bytes after the connection's last frame")
            return []
        self._buf += data
        self.n_bytes += len(data)
        out: list[Frame] = []
        while len(self._buf) >= _LEN.size:
            (n,) = _LEN.unpack_from(self._buf)
            if n == 0 or n > self.max_frame_size:
                self._done = True
                raise ProtocolError(
                    f"frame length {n} out of range: expected 1..{self.max_frame_size} bytes "
                    "(garbage or an oversized frame)"
                )
            if len(self._buf) < _LEN.size + n:
                break
            body = memoryview(bytes(self._buf[_LEN.size:_LEN.size + n]))
            del self._buf[:_LEN.size + n]
            try:
                out.append(self._decode(body))
            except ProtocolError:
                self._done = True
                raise
            except (struct.error, ValueError) as e:  # defensive: never let a parse error escape raw
                self._done = True
                raise ProtocolError(f"malformed frame: {e}") from None
            self.n_frames += 1
            if self._done:
                if self._buf:
                    raise ProtocolError(f"{len(self._buf)} bytes after the connection's last frame")
                break
        return out

    def finish(self) -> None:
        """End of stream: raises if a frame was cut short."""
        if self._buf:
            raise ProtocolError(f"connection closed inside a frame ({len(self._buf)} bytes of a truncated frame)")

    def _decode(self, body: memoryview) -> Frame:
        t = body[0]
        try:
            ftype = FrameType(t)
        except ValueError:
            raise ProtocolError(f"unknown frame type {t} (garbage?)") from None
        r = _Reader(body[1:], ftype.name)
        allowed_first = (FrameType.HELLO,) if self.role == "server" else (FrameType.HELLO_ACK, FrameType.REFUSE)
        if not self._greeted:
            if ftype not in allowed_first and ftype != FrameType.CLOSE:
                raise ProtocolError(
                    f"{ftype.name} before the handshake: expected {' or '.join(a.name for a in allowed_first)} first"
                )
        elif ftype in (FrameType.HELLO, FrameType.HELLO_ACK, FrameType.REFUSE):
            raise ProtocolError(f"a second handshake frame ({ftype.name})")
        if self.role == "server" and ftype in (FrameType.HINT, FrameType.HELLO_ACK, FrameType.REFUSE):
            raise ProtocolError(f"{ftype.name} is a server frame; a device must not send it")
        if self.role == "device" and ftype in (FrameType.AUDIO, FrameType.HELLO):
            raise ProtocolError(f"{ftype.name} is a device frame; a server must not send it")

        if ftype == FrameType.HELLO:
            f: Frame = _decode_hello(r)
            self._greeted = True
            self._next_audio = f.start_chunk
        elif ftype == FrameType.HELLO_ACK:
            version, codec, start = r.unpack(struct.Struct("<HBQ"))
            f = HelloAck(version, _codec(codec, "HELLO_ACK"), start, r.text("server"))
            r.end()
            self._greeted = True
        elif ftype == FrameType.REFUSE:
            (reason,) = r.unpack(struct.Struct("<H"))
            f = Refuse(_enum(RefuseReason, reason, "REFUSE"), r.text("reason"))
            r.end()
            self._done = True
        elif ftype == FrameType.AUDIO:
            f = _decode_audio(r)
            if f.chunk_index != self._next_audio:
                raise ProtocolError(
                    f"AUDIO out of order: chunk {f.chunk_index}, expected chunk {self._next_audio}"
                )
            self._next_audio = f.chunk_index + 1
        elif ftype == FrameType.HINT:
            f = _decode_hint(r)
            if f.chunk_index <= self._last_hint:
                raise ProtocolError(
                    f"HINT out of order: chunk {f.chunk_index} after chunk {self._last_hint}"
                )
            self._last_hint = f.chunk_index
        elif ftype == FrameType.HEARTBEAT:
            (ns,) = r.unpack(struct.Struct("<Q"))
            r.end()
            f = Heartbeat(ns)
        else:
            (reason,) = r.unpack(struct.Struct("<H"))
            f = Close(_enum(CloseReason, reason, "CLOSE"), r.text("reason"))
            r.end()
            self._done = True
        return f


def _enum(cls, v: int, what: str):
    try:
        return cls(v)
    except ValueError:
        raise ProtocolError(f"{what}: unknown reason code {v}") from None
