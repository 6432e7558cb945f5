"""Malformed byte streams for the protocol fuzz test and scripts/fuzz_protocol.py (seeded)."""

from __future__ import annotations

import socket
import struct
import collections

import numpy as np

from kboost import protocol as P


def valid_stream(rng: np.random.Generator, hello: P.Hello, n_audio: int = 3) -> list[bytes]:
    """A well-formed device stream: hello then ``n_audio`` consecutive audio frames."""
    return [P.encode_hello(hello)] + [
        P.encode_audio(hello.start_chunk + k, (0.1 * rng.standard_normal((2, 128))).astype(np.float32))
        for k in range(n_audio)]


def mutate(rng: np.random.Generator, good: list[bytes]) -> bytes:
    """One malformed byte stream: a valid stream with bytes flipped, cut, inserted, frames repeated
    (out of order), lengths rewritten (oversized or inconsistent), or pure noise."""
    data = bytearray(b"".join(good[: rng.integers(1, len(good) + 1)]))
    kind = rng.integers(0, 6)
    if kind == 0:  # flip bytes
        for _ in range(rng.integers(1, 8)):
            data[rng.integers(0, len(data))] ^= int(rng.integers(1, 256))
    elif kind == 1:  # truncate
        data = data[: rng.integers(0, len(data))]
    elif kind == 2:  # insert noise
        pos = rng.integers(0, len(data) + 1)
        data[pos:pos] = rng.integers(0, 256, rng.integers(1, 64), dtype=np.uint8).tobytes()
    elif kind == 3:  # pure noise
        data = bytearray(rng.integers(0, 256, rng.integers(1, 512), dtype=np.uint8).tobytes())
    elif kind == 4:  # a frame repeated (out of order) or a huge length
        data += good[min(1, len(good) - 1)]
        if rng.integers(0, 2):
            data[0:4] = struct.pack("<I", int(rng.integers(P.MAX_FRAME_SIZE + 1, 2**32)))
    else:  # a length field rewritten
        data[0:4] = struct.pack("<I", int(rng.integers(0, 4096)))
    return bytes(data)


def fuzz_server(port: int, hello: P.Hello, n: int, seed: int = 0, timeout: float = 2.0) -> collections.Counter:
    """Send ``n`` malformed streams to the server on loopback ``port``, one connection each, in
    random-sized pieces; count how the server answered (first frame type, or 'no-frame')."""
    rng = np.random.default_rng(seed)
    outcome: collections.Counter[str] = collections.Counter()
    for _ in range(n):
        data = mutate(rng, valid_stream(rng, hello))
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            try:
                pos = 0
                while pos < len(data):
                    step = int(rng.integers(1, 1500))
                    s.sendall(data[pos:pos + step])
                    pos += step
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may close first
            dec = P.FrameDecoder("device")
            kinds = []
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    kinds += [type(f).__name__ for f in dec.feed(b)]
            except (OSError, P.ProtocolError):
                pass
            last = kinds[-1] if kinds else "no-frame"
            outcome[last] += 1
        outcome["streams"] += 1
        outcome["bytes"] += len(data)
    return outcome
