"""ONNX export of kboost's streaming step, with the stream state as explicit inputs and outputs.

One exported graph is one call of the PyTorch step (``docs/CONTRACTS.md``) for one role:

* ``model``: a plain TF-GridNet (``TFGridNet.step``);
* ``device``: the small model of a KB config, taking the delayed hint (the compressed hint of chunk
  t - d, zeros when missing) as an input (``JointModel.small_step``);
* ``server``: the large model of a KB config and its compression conv, producing this chunk's hint
  (``JointModel.large_step``) and the large model's own output.

Graph signature (shapes are fixed at export, for the batch B given to :func:`export_step`, 1 by
default: one stream)::

    inputs:  chunk [B, 2, 128] float32
             hint  [B, C_h, 97] float32                       (device only)
             state.<name> ...                                 (in STATE ORDER)
    outputs: out   [B, n_out, 128] float32
             hint  [B, C_h, 97] float32                       (server only)
             next.<name> ...                                  (in STATE ORDER)

STATE ORDER is the insertion order of the role's flat state dict as built by ``init_state`` of the
network (``TFGridNet.init_state`` for model/device, the large network's state then ``compress.hist``
for server); it is also stored in the model's metadata under ``kboost.state_names`` (JSON list) with
``kboost.role``, ``kboost.config`` (JSON) and ``kboost.state_order_doc``. The caller starts from
:func:`initial_state` and feeds every ``next.<name>`` back as ``state.<name>`` of the next call. The
frame counter ``state.t`` is an int64 scalar; every other state tensor is float32. For TSE the speaker
FiLM of the enrollment (``speaker_films.<i>.film`` [B, 2, D, 97]) is part of the state: computed
once by :func:`initial_state` from the embedding and passed through unchanged by each call.

ONNX has no complex tensors, so the exported graph computes the STFT and its inverse as real matrix
products (:class:`RealStft`: the windowed DFT as a [192, 97] cosine and sine matrix pair, the
inverse real DFT likewise, same window and squared-window envelope). :func:`check_real_stft` /
the tests check that the wrapped step equals the torch step.

The older TorchScript-based exporter is used (``torch.onnx.export(..., dynamo=False)``), opset 17.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from kboost.config import (
    CHUNK_SIZE,
    N_FFT,
    N_FREQ,
    N_IN_CHANNELS,
    SPEAKER_EMBEDDING_DIM,
    ModelConfig,
    get_config,
)
from kboost_train.models import JointModel, TFGridNet
from kboost_train.stft import Stft

ROLES = ("model", "device", "server")
OPSET = 17


class RealStft(Stft):
    """:class:`Stft` whose frame transforms are real matrix products (exportable to ONNX).

    Analysis: features = [frames @ (w * cos), -(frames @ (w * sin))], i.e. ``rfft(frames * w)``.
    Synthesis: ``irfft(re + i im, n=192) * w`` = (re @ A_cos - im @ A_sin) * w with
    A_cos[f, n] = a_f cos(2 pi f n / N) / N, A_sin likewise, a_0 = a_96 = 1 and a_f = 2 otherwise; the
    imaginary parts of the DC and Nyquist bins are ignored as irfft ignores them. Built in float64.
    """

    def __init__(self) -> None:
        super().__init__()
        n = torch.arange(N_FFT, dtype=torch.float64)
        f = torch.arange(N_FREQ, dtype=torch.float64)
        angle = 2 * math.pi * torch.outer(n, f) / N_FFT  # [192, 97]
        w = torch.hamming_window(N_FFT, periodic=True, dtype=torch.float64)
        cos, sin = torch.cos(angle), torch.sin(angle)
        a = torch.full((N_FREQ,), 2.0, dtype=torch.float64)
        a[0] = a[-1] = 1.0
        inv_sin = (a[:, None] * sin.t()) / N_FFT
        inv_sin[0] = inv_sin[-1] = 0.0  # irfft ignores the imaginary part of DC and Nyquist
        self.register_buffer("dft_cos", (w[:, None] * cos).float(), persistent=False)  # [192, F]
        self.register_buffer("dft_sin", (-w[:, None] * sin).float(), persistent=False)  # [192, F]
        self.register_buffer("idft_cos", ((a[:, None] * cos.t()) / N_FFT * w).float(), persistent=False)
        self.register_buffer("idft_sin", (-inv_sin * w).float(), persistent=False)  # [F, 192]

    def frames_to_features(self, frames: Tensor) -> Tensor:
        """[B, C, K, 192] -> [B, 2C, K, F], as :meth:`Stft.frames_to_features`."""
        return torch.cat([frames @ self.dft_cos, frames @ self.dft_sin], dim=1)

    def features_to_frames(self, spec: Tensor) -> Tensor:
        """[B, C, 2, K, F] -> windowed frames [B, C, K, 192], as :meth:`Stft.features_to_frames`."""
        return spec[:, :, 0] @ self.idft_cos + spec[:, :, 1] @ self.idft_sin


def with_real_stft(net: nn.Module) -> nn.Module:
    """A deep copy of ``net`` (a TFGridNet or JointModel) whose STFTs are :class:`RealStft`."""
    net = copy.deepcopy(net)
    for m in net.modules():
        if isinstance(m, TFGridNet):
            m.stft = RealStft()
    return net


def role_network(module: nn.Module, cfg: ModelConfig, role: str) -> nn.Module:
    """Check that ``role`` fits ``cfg``/``module`` and return the module the role runs."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    if cfg.kb is None:
        if role != "model":
            raise ValueError(f"{cfg.name or cfg.task}: not a KB config, only role 'model' exists "
                             f"(got {role!r})")
        if not isinstance(module, TFGridNet):
            raise ValueError(f"role 'model' needs a TFGridNet, got {type(module).__name__}")
    else:
        if role == "model":
            raise ValueError(f"{cfg.name}: a KB config has roles 'device' and 'server', not 'model'")
        if not isinstance(module, JointModel):
            raise ValueError(f"roles 'device'/'server' need a JointModel, got {type(module).__name__}")
    return module


class StreamingStep(nn.Module):
    """The step of one role as a function of flat tensors (the exported graph; see the module doc).

    ``forward(chunk, [hint,] *state) -> (out, [hint,] *next_state)`` with the state in
    :attr:`state_names` order. Uses :class:`RealStft`; ``module`` is copied, not modified.
    """

    def __init__(self, module: nn.Module, cfg: ModelConfig, role: str) -> None:
        super().__init__()
        role_network(module, cfg, role)
        self.cfg, self.role = cfg, role
        self.net = with_real_stft(module).eval()
        self.state_names: list[str] = list(self._init(1, self._dummy_speaker(1)).keys())

    @property
    def has_hint_input(self) -> bool:
        return self.role == "device"

    @property
    def has_hint_output(self) -> bool:
        return self.role == "server"

    def _dummy_speaker(self, batch: int) -> Tensor | None:
        return torch.zeros(batch, SPEAKER_EMBEDDING_DIM) if self.cfg.has_speaker else None

    def _init(self, batch: int, speaker: Tensor | None) -> dict[str, Tensor]:
        net = self.net
        if self.role == "model":
            return net.init_state(batch, speaker)
        if self.role == "device":
            return net.small.init_state(batch, speaker)
        s = net.large.init_state(batch, speaker)
        s.update(net.compress.init_state(batch))
        return s

    def initial_state(self, batch: int = 1, speaker: Tensor | None = None) -> list[Tensor]:
        """Fresh state tensors in :attr:`state_names` order (TSE: ``speaker`` [B, 256] required)."""
        with torch.no_grad():
            s = self._init(batch, speaker)
        return [s[n] for n in self.state_names]

    def forward(self, chunk: Tensor, *rest: Tensor) -> tuple[Tensor, ...]:
        hint = None
        if self.has_hint_input:
            hint, rest = rest[0], rest[1:]
        if len(rest) != len(self.state_names):
            raise ValueError(f"expected {len(self.state_names)} state tensors, got {len(rest)}")
        state = dict(zip(self.state_names, rest))
        net = self.net
        if self.role == "model":
            out, state = net.step(chunk, state)
            extra: tuple[Tensor, ...] = ()
        elif self.role == "device":
            out, state = net.small.step(chunk, state, hint)
            extra = ()
        else:
            large_state = {k: v for k, v in state.items() if k != "compress.hist"}
            out, spec, large_state = net.large.step_spec(chunk, large_state)
            e, cs = net.compress.step(spec, {"compress.hist": state["compress.hist"]})
            state = {**large_state, **cs}
            extra = (e,)
        state["t"] = state["t"].reshape(())  # keep the frame counter a scalar in the graph
        return (out, *extra, *(state[n] for n in self.state_names))

    # ---- names and shapes of the graph's inputs and outputs -------------------------------------
    def input_names(self) -> list[str]:
        return ["chunk", *(["hint"] if self.has_hint_input else []),
                *(f"state.{n}" for n in self.state_names)]

    def output_names(self) -> list[str]:
        return ["out", *(["hint"] if self.has_hint_output else []),
                *(f"next.{n}" for n in self.state_names)]

    def example_inputs(self, batch: int = 1, seed: int = 0) -> tuple[Tensor, ...]:
        g = torch.Generator().manual_seed(seed)
        chunk = torch.randn(batch, N_IN_CHANNELS, CHUNK_SIZE, generator=g)
        speaker = torch.randn(batch, SPEAKER_EMBEDDING_DIM, generator=g) if self.cfg.has_speaker else None
        hint = ((torch.randn(batch, self.cfg.n_hint_channels, N_FREQ, generator=g),)
                if self.has_hint_input else ())
        return (chunk, *hint, *self.initial_state(batch, speaker))


def export_step(module: nn.Module, cfg: ModelConfig, path: str | Path, role: str,
                opset: int = OPSET, batch: int = 1) -> StreamingStep:
    """Export the streaming step of ``role`` of ``module`` (TFGridNet for plain configs, JointModel for
    KB configs) to ONNX at ``path``, for ``batch`` streams (fixed in the graph). Returns the wrapper
    (its ``state_names`` give the state order)."""
    if opset < 17:
        raise ValueError(f"opset must be >= 17, got {opset}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    step = StreamingStep(module, cfg, role)
    args = step.example_inputs(batch)
    names_in, names_out = step.input_names(), step.output_names()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python-side shape checks and un-foldable slices: harmless here.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*[Cc]onstant folding.*")
        warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")  # h0/c0 are inputs
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        torch.onnx.export(step, args, str(path), input_names=names_in, output_names=names_out,
                          opset_version=opset, dynamo=False)
    import onnx

    proto = onnx.load(str(path))
    meta = {
        "kboost.role": role,
        "kboost.config": json.dumps(cfg.to_dict()),
        "kboost.state_names": json.dumps(step.state_names),
        "kboost.state_order_doc": "inputs state.<name> / outputs next.<name> in kboost.state_names "
                                  "order; feed next.* back as state.* (see kboost_train.onnx_export)",
    }
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(path))
    return step


# ---- loading a module from a config name or a checkpoint ------------------------------------------
def load_module(config_or_checkpoint: str, seed: int = 0) -> tuple[nn.Module, ModelConfig]:
    """A config name (random weights from ``seed``: for benchmarks and tests) or a checkpoint file
    ``{"config": dict, "model": state_dict}`` -> (module in eval mode, config)."""
    from kboost_train import build_model
    from kboost_train.train import model_from_checkpoint

    p = Path(config_or_checkpoint)
    if p.is_file():
        module, cfg, _ = model_from_checkpoint(p)
    else:
        if p.suffix in (".pt", ".pth", ".ckpt"):
            raise FileNotFoundError(f"checkpoint not found: {p}")
        cfg = get_config(config_or_checkpoint)
        torch.manual_seed(seed)
        module = build_model(cfg)
    return module.eval(), cfg


def default_role(cfg: ModelConfig) -> str:
    return "model" if cfg.kb is None else "device"


# ---- running an exported step in ONNX Runtime ---------------------------------------------------------
def ort_session(path: str | Path, n_threads: int = 1):
    """An onnxruntime session on one thread (intra and inter op), sequential execution."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = n_threads
    so.inter_op_num_threads = n_threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


class OrtStepper:
    """Runs an exported step chunk by chunk, feeding the state back.

    ``state``: initial state tensors (numpy or torch) in the graph's state order. Not thread-safe: one
    stepper per stream."""

    def __init__(self, session: Any, state: Sequence[Any]) -> None:
        self.session = session
        names = [i.name for i in session.get_inputs()]
        self.state_in = [n for n in names if n.startswith("state.")]
        self.has_hint = "hint" in names
        if len(state) != len(self.state_in):
            raise ValueError(f"expected {len(self.state_in)} state tensors, got {len(state)}")
        self.feed = {n: np.ascontiguousarray(np.asarray(s)) for n, s in zip(self.state_in, state)}
        self.out_names = [o.name for o in session.get_outputs()]
        self.n_head = len(self.out_names) - len(self.state_in)

    def step(self, chunk: np.ndarray, hint: np.ndarray | None = None) -> list[np.ndarray]:
        """chunk [B, 2, 128] float32 (and hint [B, C_h, 97] for a device graph) -> the non-state
        outputs (out, and the hint for a server graph)."""
        self.feed["chunk"] = chunk
        if self.has_hint:
            if hint is None:
                raise ValueError("this graph takes the delayed hint: pass hint [B, C_h, 97] (zeros = missing)")
            self.feed["hint"] = hint
        res = self.session.run(self.out_names, self.feed)
        for n, v in zip(self.state_in, res[self.n_head:]):
            self.feed[n] = v
        return res[: self.n_head]


# ---- CLI: kboost export-onnx -----------------------------------------------------------------------
def add_arguments(p) -> None:
    p.add_argument("model", metavar="CONFIG_OR_CHECKPOINT",
                   help="a config name (random weights, for benchmarks) or a training checkpoint")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write (e.g. step.onnx)")
    p.add_argument("--part", choices=ROLES, default=None,
                   help="model (plain configs), device or server (KB configs); default: model / device")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights for a config name")
    p.add_argument("--check", type=int, default=8, metavar="N",
                   help="run N chunks in onnxruntime and the torch step and print the max-abs (0: skip)")


def run(args) -> int:
    torch.set_num_threads(1)
    module, cfg = load_module(args.model, args.seed)
    role = args.part or default_role(cfg)
    step = export_step(module, cfg, args.output, role)
    print(f"wrote {args.output}: {cfg.name or cfg.task} role={role}, {len(step.state_names)} state tensors, "
          f"opset {OPSET}")
    if args.check:
        err = max_abs_vs_torch(module, cfg, role, args.output, args.check)
        print(f"onnxruntime vs torch step over {args.check} chunks: max-abs {err:.3g}")
    return 0


def torch_reference(module: nn.Module, cfg: ModelConfig, role: str, chunks: Tensor,
                    hints: Tensor | None, speaker: Tensor | None) -> list[list[Tensor]]:
    """The PyTorch step loop (complex STFT) for ``role``: per chunk, the non-state outputs."""
    role_network(module, cfg, role)
    outs = []
    with torch.no_grad():
        if role == "model":
            s = module.init_state(chunks.shape[1], speaker)
            for k in range(chunks.shape[0]):
                y, s = module.step(chunks[k], s)
                outs.append([y])
        elif role == "device":
            s = module.small.init_state(chunks.shape[1], speaker)
            for k in range(chunks.shape[0]):
                y, s = module.small.step(chunks[k], s, hints[k])
                outs.append([y])
        else:
            s = module.init_state(chunks.shape[1], speaker)
            for k in range(chunks.shape[0]):
                e, s = module.large_step(chunks[k], s)
                outs.append([e])
    return outs


def max_abs_vs_torch(module: nn.Module, cfg: ModelConfig, role: str, path: str | Path,
                     n_chunks: int, seed: int = 0, batch: int = 1) -> float:
    """Max-abs difference of onnxruntime on the exported step vs the torch step loop over ``n_chunks``
    random chunks (state fed back) of ``batch`` streams (the batch the graph was exported for), over
    every non-state output. For a server graph the torch side is
    ``large_step`` (hint) and, for the audio output, the large model's own step."""
    g = torch.Generator().manual_seed(seed)
    chunks = torch.randn(n_chunks, batch, N_IN_CHANNELS, CHUNK_SIZE, generator=g) * 0.3
    hints = (torch.randn(n_chunks, batch, cfg.n_hint_channels, N_FREQ, generator=g)
             if role == "device" else None)
    speaker = torch.randn(batch, SPEAKER_EMBEDDING_DIM, generator=g) if cfg.has_speaker else None
    ref = torch_reference(module, cfg, role, chunks, hints, speaker)
    if role == "server":  # the graph also returns the large model's audio
        with torch.no_grad():
            s = module.large.init_state(batch, speaker)
            for k in range(n_chunks):
                y, s = module.large.step(chunks[k], s)
                ref[k] = [y, ref[k][0]]
    step = StreamingStep(module, cfg, role)
    stepper = OrtStepper(ort_session(path), [t.numpy() for t in step.initial_state(batch, speaker)])
    err = 0.0
    for k in range(n_chunks):
        got = stepper.step(chunks[k].numpy(), hints[k].numpy() if hints is not None else None)
        for a, b in zip(got, ref[k]):
            err = max(err, float(np.abs(a - b.numpy()).max()))
    return err
