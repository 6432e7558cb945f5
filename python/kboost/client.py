"""The device's side of the hint protocol: send audio chunks, receive hints, reconnect.

:class:`HintClient` never blocks its caller: :meth:`HintClient.send_audio` copies the chunk into a
bounded single-producer ring (no lock, no system call) and returns. A sender thread owns the connection (connect, hello, audio frames in
order, heartbeats) and a receiver thread per connection reads hints and hands each to the
``on_hint(chunk_index, hint, arrival_s)`` callback (``arrival_s``: ``time.monotonic()`` at receipt).
When the server goes away, chunks produced meanwhile are dropped (the server cannot use stale
audio) and the sender reconnects with growing back-off; the new hello resumes at the device's
current chunk, and the server starts a fresh stream from there.

A refusal for a reason that retrying cannot fix (model, framing, version, auth) stops the client:
:attr:`HintClient.refused` holds it. A BUSY server is retried.
"""

from __future__ import annotations

import collections
import logging
import socket
import threading
import time
from typing import Callable

import numpy as np

from kboost import protocol as P
from kboost.engine import ModelIdentity

log = logging.getLogger("kboost.client")

OnHint = Callable[[int, np.ndarray, float], None]


def parse_address(addr: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6addr]:PORT`` for IPv6) -> (host, port)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"server address {addr!r}: expected HOST:PORT, e.g. 127.0.0.1:7878")
    p = int(port)
    if not 0 < p < 65536:
        raise ValueError(f"server address {addr!r}: port must be 1..65535")
    return host.strip("[]"), p


class HintClient:
    """Connection of one device stream to a hint server.

    ``identity``: the device model's identity (sent in the hello). ``codec``: the hint encoding to
    ask for. ``max_queue``: chunks buffered for sending (older ones are dropped when full).
    Counters in :meth:`stats`. Call :meth:`start` once and :meth:`close` at the end.
    """

    def __init__(self, host: str, port: int, identity: ModelIdentity, on_hint: OnHint, *,
                 codec: P.Codec = P.Codec.FP32, token: str = "", speaker: np.ndarray | None = None,
                 connect_timeout: float = 1.0, backoff: tuple[float, float] = (0.05, 1.0),
                 heartbeat_s: float = 1.0, idle_timeout: float = 5.0, max_queue: int = 256) -> None:
        self.host, self.port = host, port
        self.identity = identity
        self.on_hint = on_hint
        self.codec = P.Codec(codec)
        self.token = token
        self.speaker = np.zeros(0, np.float32) if speaker is None else np.asarray(speaker, np.float32).ravel()
        self.connect_timeout, self.backoff = connect_timeout, backoff
        self.heartbeat_s, self.idle_timeout = heartbeat_s, idle_timeout
        # Single-producer (audio thread) / single-consumer (sender) ring: the producer writes a
        # slot, then advances _head; the consumer reads it, then advances _tail. Under the GIL an
        # int store is atomic, so neither side locks; the sender polls every poll_s when idle.
        self._cap = max_queue
        self._ring: np.ndarray | None = None
        self._ring_k = np.zeros(max_queue, np.int64)
        self._head = 0
        self._tail = 0
        self.poll_s = 0.001
        self._closing = threading.Event()
        self.connected = threading.Event()  # set between HELLO_ACK and the end of that connection
        self.refused: P.Refuse | None = None
        self.last_close: P.Close | None = None
        self._sock: socket.socket | None = None
        self._sender: threading.Thread | None = None
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    # ---- called by the audio thread (never blocks) ----------------------------------------------
    def send_audio(self, chunk_index: int, samples: np.ndarray) -> bool:
        """Queue chunk ``chunk_index`` (float32 [2, 128]) for sending. False (and counted) when
        the queue is full or the client has stopped."""
        if self._closing.is_set() or self.refused is not None:
            return False
        if self._ring is None:
            self._ring = np.zeros((self._cap,) + np.shape(samples), np.float32)
        h = self._head
        if h - self._tail >= self._cap:
            self._count("audio_dropped_queue_full")
            return False
        self._ring[h % self._cap] = samples
        self._ring_k[h % self._cap] = chunk_index
        self._head = h + 1
        return True

    def _next_item(self, timeout: float) -> tuple[int, np.ndarray] | None:
        """Sender thread: the oldest queued chunk, or None after ``timeout`` s or when closing."""
        t_end = time.monotonic() + timeout
        while self._head == self._tail:
            if self._closing.is_set() or time.monotonic() >= t_end:
                return None
            time.sleep(self.poll_s)
        i = self._tail % self._cap
        item = (int(self._ring_k[i]), self._ring[i].copy())
        self._tail += 1
        return item

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "HintClient":
        self._sender = threading.Thread(target=self._send_loop, name="kboost-hint-sender", daemon=True)
        self._sender.start()
        return self

    def wait_connected(self, timeout: float) -> bool:
        return self.connected.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send CLOSE(NORMAL) if connected, stop the threads."""
        self._closing.set()
        if self._sender is not None:
            self._sender.join(timeout)

    def stats(self) -> dict[str, int]:
        """``connects``, ``disconnects``, ``refusals``, ``audio_sent``, ``audio_dropped_offline``,
        ``audio_dropped_queue_full``, ``hints_received``, ``bytes_out``, ``bytes_in``,
        ``protocol_errors``, ``heartbeats_received``."""
        with self._lock:
            return dict(self._counts)

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    # ---- sender thread: owns the connection ----------------------------------------------------
    def _drop_queued(self) -> None:
        h = self._head
        if h > self._tail:
            self._count("audio_dropped_offline", h - self._tail)
            self._tail = h

    def _send_loop(self) -> None:
        delay = self.backoff[0]
        while not self._closing.is_set() and self.refused is None:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
            except OSError as e:
                log.debug("connect to %s:%d failed: %s", self.host, self.port, e)
                self._drop_queued()
                self._closing.wait(delay)
                delay = min(self.backoff[1], delay * 2)
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.idle_timeout)
            self._count("connects")
            delay = self.backoff[0]
            self._run_connection(sock)
            self.connected.clear()
            try:
                sock.close()
            except OSError:
                pass
            if not self._closing.is_set() and self.refused is None:
                self._count("disconnects")
                log.info("hint server %s:%d: connection lost; reconnecting", self.host, self.port)
                self._drop_queued()
                self._closing.wait(delay)
                delay = min(self.backoff[1], delay * 2)
        self.connected.clear()

    def _sendall(self, sock: socket.socket, b: bytes) -> None:
        sock.sendall(b)
        self._count("bytes_out", len(b))

    def _run_connection(self, sock: socket.socket) -> None:
        # Chunks that waited while we connected are stale: start from the next fresh one.
        self._drop_queued()
        item = None
        while item is None and not self._closing.is_set():
            item = self._next_item(self.heartbeat_s)
        if item is None:
            self._try_close(sock)
            return
        k, x = item
        hello = P.Hello(
            model_id=self.identity.model_id, task=self.identity.task,
            sample_rate=self.identity.sample_rate, chunk_size=self.identity.chunk_size,
            n_channels=self.identity.n_in_channels, delay=max(0, self.identity.delay), codec=self.codec,
            n_hint_channels=self.identity.n_hint_channels, n_freq=self.identity.n_freq,
            start_chunk=k, token=self.token, speaker=self.speaker,
        )
        dead = threading.Event()
        receiver = threading.Thread(target=self._recv_loop, args=(sock, dead), name="kboost-hint-receiver",
                                    daemon=True)
        try:
            self._sendall(sock, P.encode_hello(hello))
            receiver.start()
            expected = k
            last_send = time.monotonic()
            while not dead.is_set():
                if item is None:
                    if self._closing.is_set():
                        self._try_close(sock)
                        dead.wait(1.0)  # let the server send its last hints and close first
                        break
                    if time.monotonic() - last_send >= self.heartbeat_s:
                        self._sendall(sock, P.encode_heartbeat(time.monotonic_ns()))
                        last_send = time.monotonic()
                else:
                    k, x = item
                    if k != expected:  # chunks were dropped: the server needs consecutive audio
                        log.info("chunks %d..%d were not sent; resynchronising the stream", expected, k - 1)
                        self._try_close(sock, "resynchronising after dropped chunks")
                        self._count("resyncs")
                        break
                    self._sendall(sock, P.encode_audio(k, x))
                    self._count("audio_sent")
                    expected = k + 1
                    last_send = time.monotonic()
                item = self._next_item(min(0.1, self.heartbeat_s))
        except OSError as e:
            log.info("hint server %s:%d: send failed: %s", self.host, self.port, e)
        finally:
            dead.set()
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if receiver.is_alive():
                receiver.join(self.idle_timeout + 1)

    def _try_close(self, sock: socket.socket, text: str = "") -> None:
        try:
            self._sendall(sock, P.encode_close(P.CloseReason.NORMAL, text))
        except OSError:
            pass

    # ---- receiver thread, one per connection ---------------------------------------------------
    def _recv_loop(self, sock: socket.socket, dead: threading.Event) -> None:
        dec = P.FrameDecoder("device")
        try:
            while not dead.is_set():
                try:
                    data = sock.recv(65_536)
                except socket.timeout:
                    log.warning("hint server %s:%d silent for %.1f s; reconnecting", self.host, self.port,
                                self.idle_timeout)
                    return
                if not data:
                    dec.finish()
                    return
                self._count("bytes_in", len(data))
                for f in dec.feed(data):
                    if isinstance(f, P.Hint):
                        self._count("hints_received")
                        try:
                            self.on_hint(f.chunk_index, f.hint, time.monotonic())
                        except Exception:  # noqa: BLE001  a failing callback must not kill the receiver
                            self._count("hint_callback_errors")
                            log.exception("on_hint failed for the hint of chunk %d", f.chunk_index)
                    elif isinstance(f, P.HelloAck):
                        self.connected.set()
                        log.info("connected to hint server %s:%d (codec %s, from chunk %d)",
                                 self.host, self.port, f.codec.name, f.start_chunk)
                    elif isinstance(f, P.Refuse):
                        self._count("refusals")
                        log.error("hint server %s:%d refused the stream (%s): %s", self.host, self.port,
                                  f.reason.name, f.text)
                        if f.reason != P.RefuseReason.BUSY:
                            self.refused = f
                        return
                    elif isinstance(f, P.Close):
                        self.last_close = f
                        log.info("hint server closed the stream (%s): %s", f.reason.name, f.text)
                        return
                    elif isinstance(f, P.Heartbeat):
                        self._count("heartbeats_received")
        except P.ProtocolError as e:
            self._count("protocol_errors")
            log.error("hint server %s:%d broke the protocol: %s", self.host, self.port, e)
        except OSError as e:
            if not dead.is_set():
                log.info("hint server %s:%d: receive failed: %s", self.host, self.port, e)
        finally:
            dead.set()
            self.connected.clear()
