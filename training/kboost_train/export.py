"""``kboost export CHECKPOINT -o OUT.gguf [--part model|device|server]``: the weights file of the C++ core.

A weights file (GGUF, written with the ``gguf`` package; every key and the tensor layout are in
``docs/weights-format.md``) holds one network for one role:

* ``model``: a plain TF-GridNet checkpoint, tensors named as in its state_dict;
* ``device``: the small model of a KB checkpoint (``small.`` stripped), with ``kboost.hint_source_id``
  = the ``kboost.model_id`` of the matching server file;
* ``server``: the large model of a KB checkpoint (``large.`` stripped) plus the compression conv
  (``compress.*``), which turns its output spectrogram into the hint.

Besides the hyper-parameters and the framing as typed metadata, each file embeds a test vector: a
few chunks of fixed pseudo-random binaural input and the output of the PyTorch step loop for them
(a device file: with the hints of its large model pushed, some withheld as missing; a server file:
with the hints it produces), so that the C++ core can check a file against the reference that
wrote it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kboost.config import (
    CHUNK_SIZE,
    LOOKAHEAD,
    N_FFT,
    N_FREQ,
    N_IN_CHANNELS,
    SAMPLE_RATE,
    SPEAKER_EMBEDDING_DIM,
    ModelConfig,
)
from kboost_train.models import JointModel, TFGridNet

FORMAT_VERSION = 1  # kboost.format_version: bump when the layout of keys or tensors changes
ARCHITECTURE = "kboost"
ROLES = ("model", "device", "server")
TEST_N_CHUNKS = 9  # chunks in the embedded test vector (more than the largest KB delay, 6)
TEST_SEED = 20240717
TEST_INPUT_SCALE = 0.3  # standard deviation of the test input samples


def _check_module(module: nn.Module, cfg: ModelConfig, part: str) -> None:
    if part not in ROLES:
        raise ValueError(f"part must be one of {ROLES}, got {part!r}")
    if part == "model":
        if cfg.kb is not None:
            raise ValueError(
                f"{cfg.name or 'config'} is a knowledge-boosted config: it holds two networks; "
                "export --part device (the small model) or --part server (the large model + compression)"
            )
        if not isinstance(module, TFGridNet):
            raise ValueError(f"part 'model' needs a TFGridNet, got {type(module).__name__}")
    else:
        if cfg.kb is None or not isinstance(module, JointModel):
            raise ValueError(
                f"part {part!r} needs a knowledge-boosted JointModel and config (e.g. ss-small-kb-d3-c1), "
                f"got {type(module).__name__} with config {cfg.name or cfg.task!r}; use --part model"
            )


def role_tensors(module: nn.Module, cfg: ModelConfig, part: str) -> dict[str, np.ndarray]:
    """The tensors of one role, named as in the file: float32, C-contiguous, PyTorch shapes."""
    _check_module(module, cfg, part)
    sd = module.state_dict()
    if part == "model":
        items = sd.items()
    elif part == "device":
        items = ((k[len("small."):], v) for k, v in sd.items() if k.startswith("small."))
    else:
        items = [(k[len("large."):], v) for k, v in sd.items() if k.startswith("large.")]
        items += [(k, v) for k, v in sd.items() if k.startswith("compress.")]
    out: dict[str, np.ndarray] = {}
    for name, t in items:
        a = np.ascontiguousarray(t.detach().to("cpu", torch.float32).numpy())
        if not np.isfinite(a).all():
            raise ValueError(f"tensor {name!r} holds NaN or Inf: the checkpoint is corrupt or training diverged")
        out[name] = a
    return out


def tensors_id(tensors: dict[str, np.ndarray]) -> str:
    """The model id: the first 16 hex digits of the SHA-256 of every tensor's name, shape and data,
    in sorted name order (see docs/weights-format.md)."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = tensors[name]
        h.update(name.encode("utf-8") + b"\0")
        h.update(np.asarray(a.shape, dtype="<i8").tobytes())
        h.update(np.ascontiguousarray(a, dtype="<f4").tobytes())
    return h.hexdigest()[:16]


def net_config(cfg: ModelConfig, part: str) -> ModelConfig:
    """The config of the network a file of this role holds (the teacher for a server file)."""
    return cfg.teacher() if part == "server" else cfg


# ---- embedded test vector --------------------------------------------------------------------------

def make_test_inputs(cfg: ModelConfig, n_chunks: int = TEST_N_CHUNKS, seed: int = TEST_SEED
                ) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray]:
    """(input [1, 2, n_chunks * 128], speaker [1, 256] or None, hint_mask [n_chunks] int32): fixed
    pseudo-random input; hint_mask[j] = 0 withholds the hint of chunk j from a device test."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((1, N_IN_CHANNELS, n_chunks * CHUNK_SIZE)) * TEST_INPUT_SCALE).astype(np.float32)
    spk = rng.standard_normal((1, SPEAKER_EMBEDDING_DIM)).astype(np.float32) if cfg.has_speaker else None
    mask = np.ones(n_chunks, dtype=np.int32)
    mask[1::3] = 0  # chunks 1, 4, 7, ...: their hints are missing on the device
    return torch.from_numpy(x), (torch.from_numpy(spk) if spk is not None else None), mask


@torch.no_grad()
def make_test_vector(module: nn.Module, cfg: ModelConfig, part: str,
                n_chunks: int = TEST_N_CHUNKS) -> dict[str, np.ndarray]:
    """The PyTorch step loop of the role on :func:`make_test_inputs`. Keys (without ``kboost.test.``):
    input [T, 2, 128], output [T, n_out, 128], speaker [256] (TSE), hints [T, C_h, 97] (device:
    the hint of each chunk as the server computes it; server: the hint it produces), hint_mask [T]
    (device: 1 = the hint of chunk j is pushed, 0 = withheld)."""
    _check_module(module, cfg, part)
    was_training = module.training
    module.eval()
    x, spk, mask = make_test_inputs(cfg, n_chunks)
    chunks = [x[:, :, k * CHUNK_SIZE:(k + 1) * CHUNK_SIZE] for k in range(n_chunks)]
    outs, hints = [], []
    if part == "model":
        state = module.init_state(1, spk)
        for c in chunks:
            out, state = module.step(c, state)
            outs.append(out)
    elif part == "server":
        ls, cs = module.large.init_state(1, spk), module.compress.init_state(1)
        for c in chunks:
            out, spec, ls = module.large.step_spec(c, ls)
            e, cs = module.compress.step(spec, cs)
            outs.append(out)
            hints.append(e)
    else:
        state = module.init_state(1, spk)
        d = cfg.kb.delay
        for k, c in enumerate(chunks):
            e, state = module.large_step(c, state)
            hints.append(e)
            j = k - d
            hint = hints[j] if j >= 0 and mask[j] else None
            out, state = module.small_step(c, state, hint)
            outs.append(out)
    module.train(was_training)
    tv = {
        "input": x.view(1, N_IN_CHANNELS, n_chunks, CHUNK_SIZE)[0].transpose(0, 1).numpy(),
        "output": torch.cat(outs, 0).numpy(),
    }
    if spk is not None:
        tv["speaker"] = spk[0].numpy()
    if hints:
        tv["hints"] = torch.cat(hints, 0).numpy()
    if part == "device":
        tv["hint_mask"] = mask
    return {k: np.ascontiguousarray(v) for k, v in tv.items()}


# ---- writing -------------------------------------------------------------------------------------------

def metadata(module: nn.Module, cfg: ModelConfig, part: str, tensors: dict[str, np.ndarray],
             n_test_chunks: int = TEST_N_CHUNKS) -> dict[str, tuple[str, Any]]:
    """Every metadata key of the file (without the writer's general.architecture): key -> (gguf type
    name, value). Types: 'u32', 'u64', 'str', 'f32[]', 'i32[]'."""
    net = net_config(cfg, part)
    n = net.net
    m: dict[str, tuple[str, Any]] = {
        "general.name": ("str", f"{cfg.name or cfg.task} ({part})"),
        "kboost.format_version": ("u32", FORMAT_VERSION),
        "kboost.role": ("str", part),
        "kboost.task": ("str", cfg.task),
        "kboost.size": ("str", net.size),
        "kboost.name": ("str", cfg.name or f"{cfg.task}-{cfg.size}"),
        "kboost.d_model": ("u32", n.d_model),
        "kboost.n_blocks": ("u32", n.n_blocks),
        "kboost.n_hidden": ("u32", n.n_hidden),
        "kboost.n_attn_heads": ("u32", n.n_attn_heads),
        "kboost.attn_head_dim": ("u32", n.attn_head_dim),
        "kboost.attn_window": ("u32", n.attn_window),
        "kboost.n_out": ("u32", cfg.n_out),
        "kboost.n_hint_channels": ("u32", cfg.n_hint_channels if part != "model" else 0),
        "kboost.speaker_dim": ("u32", SPEAKER_EMBEDDING_DIM if cfg.has_speaker else 0),
        "kboost.n_in_channels": ("u32", N_IN_CHANNELS),
        "kboost.sample_rate": ("u32", SAMPLE_RATE),
        "kboost.chunk_size": ("u32", CHUNK_SIZE),
        "kboost.lookahead": ("u32", LOOKAHEAD),
        "kboost.n_fft": ("u32", N_FFT),
        "kboost.n_freq": ("u32", N_FREQ),
    }
    if part != "model":
        kb = cfg.kb
        m.update({
            "kboost.kb.delay": ("u32", kb.delay),
            "kboost.kb.compression": ("u32", kb.compression),
            "kboost.kb.n_heads": ("u32", kb.n_heads),
            "kboost.kb.head_dim": ("u32", kb.head_dim),
            "kboost.kb.window": ("u32", kb.window),
        })
    m["kboost.n_params"] = ("u64", int(sum(a.size for a in tensors.values())))
    m["kboost.model_id"] = ("str", tensors_id(tensors))
    if part == "device":
        m["kboost.hint_source_id"] = ("str", tensors_id(role_tensors(module, cfg, "server")))
    m["kboost.config"] = ("str", json.dumps(cfg.to_dict(), sort_keys=True))
    tv = make_test_vector(module, cfg, part, n_test_chunks)
    m["kboost.test.n_chunks"] = ("u32", int(tv["input"].shape[0]))
    for key, a in tv.items():
        m[f"kboost.test.{key}"] = ("i32[]" if a.dtype == np.int32 else "f32[]", a.reshape(-1))
    return m


def export_module(module: nn.Module, cfg: ModelConfig, path: str | os.PathLike, part: str | None = None,
                  n_test_chunks: int = TEST_N_CHUNKS) -> dict[str, Any]:
    """Write the weights file of ``module`` (a TFGridNet for part 'model', a JointModel for 'device' /
    'server'; ``part`` None picks 'model' for a plain config). ``n_test_chunks``: length of the embedded
    test vector (keep the default for real files; fewer makes small files for the fuzzer's seeds).
    Written to a temporary name and renamed, so ``path`` never holds half a file.
    Returns {'path', 'part', 'model_id', 'n_tensors', 'n_params'}."""
    import gguf  # the export extra; imported here so that the module imports without it

    part = part or "model"
    tensors = role_tensors(module, cfg, part)
    if n_test_chunks < 1:
        raise ValueError(f"n_test_chunks must be >= 1, got {n_test_chunks}")
    meta = metadata(module, cfg, part, tensors, n_test_chunks)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    w = gguf.GGUFWriter(str(tmp), ARCHITECTURE)
    V = gguf.GGUFValueType
    for key, (kind, value) in meta.items():
        if kind == "u32":
            w.add_uint32(key, int(value))
        elif kind == "u64":
            w.add_uint64(key, int(value))
        elif kind == "str":
            w.add_key_value(key, str(value), V.STRING)  # add_string() drops empty strings
        elif kind == "f32[]":
            w.add_key_value(key, [float(v) for v in value], V.ARRAY, sub_type=V.FLOAT32)
        elif kind == "i32[]":
            w.add_key_value(key, [int(v) for v in value], V.ARRAY, sub_type=V.INT32)
        else:  # pragma: no cover - metadata() only makes the kinds above
            raise AssertionError(kind)
    for name, a in tensors.items():
        w.add_tensor(name, a)
    try:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
    finally:
        w.close()
    os.replace(tmp, path)
    return {"path": str(path), "part": part, "model_id": meta["kboost.model_id"][1],
            "n_tensors": len(tensors), "n_params": meta["kboost.n_params"][1]}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="training checkpoint (.pt) holding 'config' and 'model'")
    p.add_argument("-o", "--output", required=True, help="weights file to write (.gguf)")
    p.add_argument("--part", choices=ROLES, default=None,
                   help="network to export: 'model' (plain config, the default), 'device' (small model "
                        "of a KB config) or 'server' (large model + compression of a KB config)")


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(1)
    if not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint not found: {args.checkpoint}")
    from kboost_train.train import model_from_checkpoint

    module, cfg, _ = model_from_checkpoint(args.checkpoint)
    part = args.part
    if part is None and cfg.kb is not None:
        raise ValueError(f"{args.checkpoint} is a knowledge-boosted checkpoint ({cfg.name}): pass "
                         "--part device (the small model) or --part server (the large model + compression)")
    info = export_module(module, cfg, args.output, part)
    print(f"wrote {info['path']}: {info['part']} of {cfg.name or cfg.task}, {info['n_tensors']} tensors, "
          f"{info['n_params']:,} parameters, model_id {info['model_id']}")
    return 0
