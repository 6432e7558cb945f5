"""Helpers of the C++ core parity tests (tests/test_core_*.py): random weights, tensors for the
core, the parity metric, and the PyTorch step loops the core is compared with."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from kboost.config import CHUNK_SIZE, ModelConfig

NMSE_MAX = 1e-9
MAX_ABS = 1e-4


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Give every norm, PReLU and bias parameter a random value away from its default (weights
    keep their random init), so that a parameter bound to the wrong place cannot go unnoticed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if "norm" in name and leaf == "weight":
                p.copy_(torch.rand(p.shape, generator=g) + 0.5)
            elif leaf.endswith("alpha") or name.endswith("act.weight"):
                p.copy_(torch.rand(p.shape, generator=g) * 0.5)
            elif leaf.startswith("bias") or leaf.endswith("bias"):
                p.copy_((torch.rand(p.shape, generator=g) - 0.5) * 0.4)
    return module


def tensors(module_or_state: nn.Module | dict, prefix: str = "") -> dict[str, np.ndarray]:
    """{name: float32 array} of a module's state_dict, only names under ``prefix``, prefix removed."""
    sd = module_or_state.state_dict() if isinstance(module_or_state, nn.Module) else module_or_state
    n = len(prefix)
    return {k[n:]: v.detach().numpy().astype(np.float32) for k, v in sd.items() if k.startswith(prefix)}


def core_config(cfg: ModelConfig, role: str = "model") -> dict:
    """The C++ config dict of one network of ``cfg``: role 'model' (plain), 'device' (the small
    model of a KB config) or 'server' (its large model + compression)."""
    net = cfg.large if role == "server" else cfg.net
    d = dict(task=cfg.task, role=role, size="large" if role == "server" else cfg.size,
             d_model=net.d_model, n_blocks=net.n_blocks, n_hidden=net.n_hidden,
             n_attn_heads=net.n_attn_heads, attn_head_dim=net.attn_head_dim, attn_window=net.attn_window)
    if role != "model":
        kb = cfg.kb
        d.update(delay=kb.delay, compression=kb.compression, kb_n_heads=kb.n_heads, kb_head_dim=kb.head_dim,
                 kb_window=kb.window)
    return d


def nmse(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.sum((got - want) ** 2) / max(np.sum(want**2), 1e-30))


def assert_parity(got: np.ndarray, want: np.ndarray, case: str, nmse_max: float = NMSE_MAX,
                  max_abs: float = MAX_ABS) -> None:
    """NMSE and max-abs within bounds; the message names the case and the first bad index."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{case}: shape {got.shape}, expected {want.shape}"
    assert np.all(np.isfinite(got)), f"{case}: non-finite output at {np.argwhere(~np.isfinite(got))[0]}"
    err = np.abs(got.astype(np.float64) - want)
    e, m = nmse(got, want), float(err.max())
    if e > nmse_max or m > max_abs:
        bad = tuple(int(i) for i in np.argwhere(err > max_abs)[0]) if m > max_abs else np.unravel_index(err.argmax(), err.shape)
        raise AssertionError(f"{case}: NMSE {e:.3g} (max {nmse_max:g}), max-abs {m:.3g} (max {max_abs:g}); "
                             f"first bad index {bad}: got {got[bad]!r}, expected {want[bad]!r}")


def random_audio(n_chunks: int, seed: int, scale: float = 0.3) -> np.ndarray:
    """Random binaural input [2, n_chunks * 128]."""
    return (np.random.default_rng(seed).standard_normal((2, n_chunks * CHUNK_SIZE)) * scale).astype(np.float32)


def chunk(x: np.ndarray, k: int) -> np.ndarray:
    return np.ascontiguousarray(x[:, k * CHUNK_SIZE:(k + 1) * CHUNK_SIZE])


def torch_step_loop(model, x: np.ndarray, speaker: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """TFGridNet step loop: (output [n_out, N], spectrogram frames [T, 2 n_out, 97])."""
    sp = None if speaker is None else torch.from_numpy(speaker)[None]
    n = x.shape[1] // CHUNK_SIZE
    outs, specs = [], []
    with torch.no_grad():
        state = model.init_state(1, sp)
        for k in range(n):
            out, spec, state = model.step_spec(torch.from_numpy(chunk(x, k))[None], state)
            outs.append(out[0].numpy())
            specs.append(spec[0, :, 0].numpy())
    return np.concatenate(outs, axis=1), np.stack(specs)


def core_stream(streamer, x: np.ndarray) -> np.ndarray:
    """C++ streamer over the whole signal: output [n_out, N]."""
    n = x.shape[1] // CHUNK_SIZE
    return np.concatenate([streamer.process_chunk(chunk(x, k)) for k in range(n)], axis=1)
