"""Shared by the network runtime tests: tiny KB models, the in-process streaming reference, a
server on loopback and a raw protocol client."""

from __future__ import annotations

import contextlib
import socket
import time

import numpy as np
import torch

from kboost import protocol as P
from kboost.config import KBConfig, ModelConfig, NetConfig
from kboost.server import HintServer
from kboost_train.engines import TorchDevice, TorchHintSource, random_joint

N_CHUNKS = 125  # 1 s of audio


def tiny_config(delay: int = 3, task: str = "ss", compression: int = 1) -> ModelConfig:
    """A KB config small enough for tests (a few ms per chunk in torch eager)."""
    return ModelConfig(
        task=task, size="small", net=NetConfig(d_model=4, n_blocks=2, n_hidden=4),
        kb=KBConfig(delay=delay, compression=compression, n_heads=1, head_dim=2, window=8),
        large=NetConfig(d_model=4, n_blocks=2, n_hidden=4, n_attn_heads=1, attn_head_dim=2, attn_window=8),
        name=f"tiny-{task}-kb-d{delay}-c{compression}",
    )


def tiny_engines(delay: int = 3, seed: int = 0, task: str = "ss"):
    joint = random_joint(tiny_config(delay, task), seed)
    return joint, TorchHintSource(joint), TorchDevice(joint)


def make_signal(n_chunks: int = N_CHUNKS, seed: int = 0) -> np.ndarray:
    t = np.arange(n_chunks * 128) / 16000.0
    rng = np.random.default_rng(seed)
    x = 0.3 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t + 1)])
    return (x + 0.05 * rng.standard_normal(x.shape)).astype(np.float32)


def reference_output(joint, x: np.ndarray, delivered: np.ndarray | None = None,
                     speaker: np.ndarray | None = None) -> np.ndarray:
    """In-process streaming reference: JointModel.step chunk by chunk, chunk k receiving the hint of
    chunk k - d when ``delivered[k]`` (all by default). ``speaker`` [256] for TSE."""
    n = x.shape[1] // 128
    spk = None if speaker is None else torch.from_numpy(speaker).view(1, -1)
    state = joint.init_state(1, spk)
    out = []
    with torch.inference_mode():
        for k in range(n):
            deliver = True if delivered is None else bool(delivered[k])
            y, state = joint.step(torch.from_numpy(x[None, :, k * 128:(k + 1) * 128]), state, deliver=deliver)
            out.append(y[0].numpy())
    return np.concatenate(out, axis=1)


@contextlib.contextmanager
def running_server(engine, **kw):
    srv = HintServer(engine, **kw)
    srv.start()
    try:
        yield srv
    finally:
        srv.close()


def wait_until(cond, timeout: float = 5.0, step: float = 0.01) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def hello_for(ident, **over) -> P.Hello:
    kw = dict(model_id=ident.model_id, task=ident.task, sample_rate=ident.sample_rate,
              chunk_size=ident.chunk_size, n_channels=ident.n_in_channels, delay=ident.delay,
              codec=P.Codec.FP32, n_hint_channels=ident.n_hint_channels, n_freq=ident.n_freq)
    kw.update(over)
    return P.Hello(**kw)


class RawClient:
    """A raw socket speaking (or breaking) the protocol, for fault tests."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.dec = P.FrameDecoder("device")

    def send(self, b: bytes) -> None:
        self.sock.sendall(b)

    def frames_until_closed(self, timeout: float = 5.0) -> list:
        """Every frame the server sends until it closes the connection."""
        self.sock.settimeout(timeout)
        frames = []
        while True:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not data:
                break
            try:
                frames += self.dec.feed(data)
            except P.ProtocolError:
                break
        return frames

    def close(self) -> None:
        self.sock.close()
