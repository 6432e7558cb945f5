"""The hint server: runs a hint-source engine for many device streams over TCP (docs/protocol.md).

One connection = one device stream = one engine stream (the large model's state and the
compression conv's history), opened after a valid hello and freed when the connection ends for
any reason (close, error, timeout, vanished peer). The event loop does the I/O; engine calls run
in a thread pool (the C++ core releases the GIL), one chunk at a time per stream, in order.

Safety: binds loopback by default; a non-loopback bind needs a token, compared in constant time.
A peer that breaks the protocol gets a CLOSE frame with the reason and is disconnected; every
refused or dropped connection and every rejected frame is logged and counted (:meth:`HintServer.stats`).

Threads: :meth:`HintServer.serve_forever` runs in the caller's thread; :meth:`HintServer.start`
runs the server in a background thread and returns once it listens; :meth:`stop` may be called
from any thread.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hmac
import ipaddress
import itertools
import logging
import os
import socket
import threading
import time
import weakref
from typing import Any

import numpy as np

from kboost import protocol as P
from kboost.engine import HintSource, HintSourceStream

log = logging.getLogger("kboost.server")


class _EngineFault(Exception):
    """The engine returned something unusable for one stream (e.g. a non-finite hint)."""


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HintServer:
    """Serve hints of ``engine`` on ``host:port`` (port 0: any free port; see :attr:`port`).

    ``max_streams``: connections beyond it are refused (BUSY). ``hello_timeout`` / ``idle_timeout``
    (s): a peer that sends no hello / nothing at all for that long is closed. ``heartbeat_s``: a
    HEARTBEAT is sent when nothing else was sent for that long.
    """

    def __init__(self, engine: HintSource, host: str = "127.0.0.1", port: int = 0, token: str = "",
                 *, max_streams: int = 64, hello_timeout: float = 5.0, idle_timeout: float = 10.0,
                 heartbeat_s: float = 1.0, n_workers: int | None = None) -> None:
        if not is_loopback(host) and not token:
            raise ValueError(
                f"binding {host!r} (not loopback) needs an auth token (--token or KBOOST_TOKEN); "
                "bind 127.0.0.1 to serve this machine only"
            )
        if len(token.encode()) > P.MAX_TEXT:
            raise ValueError(f"token longer than {P.MAX_TEXT} bytes")
        self.engine = engine
        self.host, self.port, self.token = host, port, token
        self.max_streams = max_streams
        self.hello_timeout, self.idle_timeout, self.heartbeat_s = hello_timeout, idle_timeout, heartbeat_s
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=n_workers or min(32, (os.cpu_count() or 1) + 2), thread_name_prefix="kboost-engine")
        self._ids = itertools.count(1)
        self._conns: dict[int, asyncio.StreamWriter] = {}
        # Weak references to live engine streams: a test can check that a vanished client's state is freed.
        self._streams: weakref.WeakValueDictionary[int, HintSourceStream] = weakref.WeakValueDictionary()
        self._counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._abort = False
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---- public ------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters: ``connections``, ``refused.*``, ``closed.*``, ``protocol_errors``,
        ``frames_in``, ``frames_rejected``, ``audio_chunks``, ``hints_sent``, ``bytes_in``,
        ``bytes_out``, ``engine_errors``, and ``active_streams`` / ``live_stream_objects``."""
        with self._lock:
            d: dict[str, Any] = dict(self._counts)
        d["active_streams"] = len(self._conns)
        d["live_stream_objects"] = len(self._streams)
        return d

    @property
    def n_active(self) -> int:
        return len(self._conns)

    def serve_forever(self) -> None:
        """Serve until :meth:`stop` (or KeyboardInterrupt) in this thread."""
        asyncio.run(self._main())

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        """Serve in a background thread; returns (host, port) once listening."""
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._thread_main, name="kboost-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"hint server did not start listening within {timeout} s")
        if self._error is not None:
            raise self._error
        return self.host, self.port

    def stop(self, abort: bool = False, timeout: float = 10.0) -> None:
        """Stop serving. ``abort``: drop every connection at once (as if the process died) instead
        of sending CLOSE(SHUTDOWN)."""
        loop, ev = self._loop, self._stop_event
        if loop is not None and ev is not None and not loop.is_closed():
            self._abort = abort
            try:
                loop.call_soon_threadsafe(ev.set)
            except RuntimeError:
                pass
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # ---- internals ---------------------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported by start()
            self._error = e
            self._ready.set()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._abort = False
        server = await asyncio.start_server(self._handle, self.host, self.port, reuse_address=True)
        self.port = server.sockets[0].getsockname()[1]
        log.info("hint server on %s:%d (%s), max %d streams", self.host, self.port,
                 self.engine.description or type(self.engine).__name__, self.max_streams)
        self._ready.set()
        tasks: set[asyncio.Task] = set()
        try:
            async with server:
                await self._stop_event.wait()
                server.close()
                for cid, w in list(self._conns.items()):
                    if self._abort:
                        w.transport.abort()
                    else:
                        try:
                            w.write(P.encode_close(P.CloseReason.SHUTDOWN, "server stopping"))
                        except Exception:  # noqa: BLE001  a broken transport is being closed anyway
                            pass
                        w.close()
                tasks = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
                if tasks:
                    await asyncio.wait(tasks, timeout=5.0)
        finally:
            self._loop = None
            log.info("hint server on port %d stopped: %s", self.port, self.stats())

    async def _read_frames(self, reader: asyncio.StreamReader, dec: P.FrameDecoder,
                           timeout: float) -> list[P.Frame] | None:
        """Frames from the next read; None at end of stream."""
        data = await asyncio.wait_for(reader.read(65_536), timeout)
        if not data:
            dec.finish()
            return None
        self._count("bytes_in", len(data))
        return dec.feed(data)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cid = next(self._ids)
        peer = writer.get_extra_info("peername")
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._count("connections")
        loop = asyncio.get_running_loop()
        dec = P.FrameDecoder("server")
        stream: HintSourceStream | None = None
        hb_task: asyncio.Task | None = None
        last_sent = [time.monotonic()]
        reason = "closed by peer"

        def send(b: bytes) -> None:
            writer.write(b)
            last_sent[0] = time.monotonic()
            self._count("bytes_out", len(b))

        async def close_with(code: P.CloseReason, text: str) -> None:
            try:
                send(P.encode_close(code, text))
                await asyncio.wait_for(writer.drain(), 1.0)
            except Exception:  # noqa: BLE001  the peer may already be gone
                pass

        try:
            # ---- handshake ----
            hello: P.Hello | None = None
            pending: list[P.Frame] = []
            t_end = time.monotonic() + self.hello_timeout
            while hello is None:
                frames = await self._read_frames(reader, dec, max(0.01, t_end - time.monotonic()))
                if frames is None:
                    reason = "vanished before hello"
                    self._count("closed.vanished")
                    return
                for f in frames:
                    if hello is None and isinstance(f, P.Hello):
                        hello = f
                    elif isinstance(f, P.Close):
                        reason = f"closed before hello ({f.reason.name})"
                        self._count("closed.normal")
                        return
                    else:
                        pending.append(f)
            self._count("frames_in", dec.n_frames)
            refusal = self._check_hello(hello)
            if refusal is None and len(self._conns) >= self.max_streams:
                refusal = (P.RefuseReason.BUSY, f"server holds its maximum of {self.max_streams} streams")
            if refusal is not None:
                code, text = refusal
                reason = f"refused ({code.name}): {text}"
                self._count(f"refused.{code.name.lower()}")
                log.warning("connection %d from %s refused (%s): %s", cid, peer, code.name, text)
                send(P.encode_refuse(code, text))
                await asyncio.wait_for(writer.drain(), 1.0)
                return
            spk = hello.speaker if hello.speaker.size else None
            stream = await loop.run_in_executor(self._pool, self.engine.open_stream, spk)
            self._conns[cid] = writer
            self._streams[cid] = stream
            send(P.encode_hello_ack(P.HelloAck(P.PROTOCOL_VERSION, hello.codec, hello.start_chunk,
                                               "kboost")))
            log.info("connection %d from %s: stream open (task %s, delay %d, codec %s, start chunk %d)",
                     cid, peer, hello.task, hello.delay, hello.codec.name, hello.start_chunk)
            hb_task = asyncio.create_task(self._heartbeats(writer, last_sent))
            codec = hello.codec

            # ---- stream ----
            while True:
                for f in pending:
                    if writer.is_closing():  # the peer is gone: do not compute hints for nobody
                        raise ConnectionResetError("peer closed the connection")
                    if isinstance(f, P.Audio):
                        hint = await loop.run_in_executor(self._pool, stream.process, f.chunk_index, f.samples)
                        if not np.isfinite(hint).all():
                            raise _EngineFault(f"the model produced a non-finite hint at chunk {f.chunk_index}")
                        send(P.encode_hint(f.chunk_index, hint, codec))
                        self._count("audio_chunks")
                        self._count("hints_sent")
                    elif isinstance(f, P.Close):
                        reason = f"closed by device ({f.reason.name}{': ' + f.text if f.text else ''})"
                        self._count("closed.normal")
                        return
                await asyncio.wait_for(writer.drain(), self.idle_timeout)  # a peer that stops reading
                n0 = dec.n_frames
                frames = await self._read_frames(reader, dec, self.idle_timeout)
                if frames is None:
                    reason = "vanished (connection closed without CLOSE)"
                    self._count("closed.vanished")
                    return
                self._count("frames_in", dec.n_frames - n0)
                pending = frames
        except P.ProtocolError as e:
            reason = f"protocol error: {e}"
            self._count("protocol_errors")
            self._count("frames_rejected")
            self._count("closed.protocol_error")
            log.warning("connection %d from %s closed: protocol error: %s", cid, peer, e)
            await close_with(P.CloseReason.PROTOCOL_ERROR, str(e))
        except asyncio.TimeoutError:
            reason = "idle timeout" if stream is not None else "no hello in time"
            self._count("closed.idle")
            log.warning("connection %d from %s closed: %s", cid, peer, reason)
            await close_with(P.CloseReason.IDLE, reason)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as e:
            reason = f"vanished ({type(e).__name__})"
            self._count("closed.vanished")
        except asyncio.CancelledError:
            reason = "server stopping"
            self._count("closed.shutdown")
            raise
        except _EngineFault as e:
            reason = f"engine fault: {e}"
            self._count("engine_errors")
            self._count("closed.internal")
            log.error("connection %d from %s closed: %s", cid, peer, e)
            await close_with(P.CloseReason.INTERNAL, str(e))
        except Exception as e:  # noqa: BLE001  an engine failure ends this stream only
            reason = f"engine error: {type(e).__name__}: {e}"
            self._count("engine_errors")
            self._count("closed.internal")
            log.exception("connection %d from %s: engine failed", cid, peer)
            await close_with(P.CloseReason.INTERNAL, f"{type(e).__name__}: {e}")
        finally:
            if hb_task is not None:
                hb_task.cancel()
            self._conns.pop(cid, None)
            if stream is not None:
                stream.close()
                stream = None
            if dec.buffered:
                self._count("bytes_discarded", dec.buffered)
            try:
                writer.close()
            except Exception:  # noqa: BLE001
                pass
            log.info("connection %d from %s ended: %s", cid, peer, reason)

    async def _heartbeats(self, writer: asyncio.StreamWriter, last_sent: list[float]) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s / 2)
            if time.monotonic() - last_sent[0] >= self.heartbeat_s and not writer.is_closing():
                writer.write(P.encode_heartbeat(time.monotonic_ns()))
                last_sent[0] = time.monotonic()

    def _check_hello(self, h: P.Hello) -> tuple[P.RefuseReason, str] | None:
        ident = self.engine.identity
        R = P.RefuseReason
        if h.version != P.PROTOCOL_VERSION:
            return R.VERSION, f"protocol version {h.version} not supported (server speaks {P.PROTOCOL_VERSION})"
        if self.token and not hmac.compare_digest(h.token.encode(), self.token.encode()):
            return R.AUTH, "missing or wrong auth token"
        if (h.sample_rate, h.chunk_size, h.n_channels) != (ident.sample_rate, ident.chunk_size, ident.n_in_channels):
            return R.FRAMING, (
                f"framing {h.sample_rate} Hz / {h.chunk_size}-sample chunks / {h.n_channels} channels; "
                f"server expects {ident.sample_rate} Hz / {ident.chunk_size} / {ident.n_in_channels}"
            )
        if h.task != ident.task:
            return R.MODEL, f"task {h.task!r}; this server runs {ident.task!r}"
        if (h.n_hint_channels, h.n_freq) != ident.hint_shape:
            return R.MODEL, f"hint shape {h.n_hint_channels}x{h.n_freq}; server sends {ident.n_hint_channels}x{ident.n_freq}"
        if h.model_id != ident.model_id:
            return R.MODEL, (
                f"device was trained with hint source {h.model_id!r}; this server runs {ident.model_id!r}"
            )
        if ident.delay >= 0 and h.delay != ident.delay:
            return R.MODEL, f"device delay {h.delay} chunks; this server's model was trained for delay {ident.delay}"
        if ident.task == "tse" and h.speaker.size != 256:
            return R.BAD_HELLO, f"a TSE stream needs a 256-value speaker embedding, got {h.speaker.size}"
        return None
