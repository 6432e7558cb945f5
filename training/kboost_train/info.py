"""``kboost info CONFIG``: parameters, MACs per chunk and hint payload of a model configuration.

MACs are counted, not derived from a formula: one streaming step of the model (in steady state, after
a few warm-up chunks) runs under ``torch.utils.flop_counter.FlopCounterMode``, which counts every
matrix product and convolution as it executes; LSTMs run as one fused kernel that the flop counter
does not see, so forward hooks on the ``nn.LSTM`` modules count their gate products from the
shapes they actually process (4 H (I + H) per step and direction). Element-wise work (norms,
activations, softmax) is not counted, as in the reference's own counts.

The speaker FiLM of TSE is computed once per enrollment (``init_state``), so it is reported apart,
not in the per-chunk count.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from kboost.config import CHUNK_SIZE, SAMPLE_RATE, ModelConfig, get_config, list_configs
from kboost_train.models import JointModel, TFGridNet

CHUNKS_PER_SECOND = SAMPLE_RATE // CHUNK_SIZE  # 125


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@dataclass
class MacCount:
    total: int = 0
    lstm: int = 0
    by_module: dict[str, int] = field(default_factory=dict)


def count_step_macs(fn, modules: nn.Module) -> MacCount:
    """MACs executed by ``fn()`` (one streaming step), with LSTM products counted by hooks."""
    count = MacCount()
    handles = []

    def lstm_hook(name: str):
        def hook(mod: nn.LSTM, inputs, _outputs) -> None:
            x = inputs[0]  # batch_first: [N, L, I]
            n, length = x.shape[0], x.shape[1]
            dirs = 2 if mod.bidirectional else 1
            macs = n * length * dirs * 4 * mod.hidden_size * (mod.input_size + mod.hidden_size)
            count.lstm += macs
            count.by_module[name] = count.by_module.get(name, 0) + macs
        return hook

    for name, mod in modules.named_modules():
        if isinstance(mod, nn.LSTM):
            handles.append(mod.register_forward_hook(lstm_hook(name)))
    try:
        with FlopCounterMode(display=False) as fc:
            fn()
    finally:
        for h in handles:
            h.remove()
    count.total = fc.get_total_flops() // 2 + count.lstm
    return count


@torch.no_grad()
def model_info(cfg: ModelConfig, warmup: int = 3) -> dict:
    """Everything ``kboost info`` prints, as a dict (the ``--json`` output)."""
    torch.manual_seed(0)
    chunk = torch.randn(1, 2, CHUNK_SIZE)
    speaker = torch.randn(1, 256) if cfg.has_speaker else None
    info: dict = {"config": cfg.name, "task": cfg.task, "size": cfg.size, "n_out": cfg.n_out,
                  "hparams": cfg.to_dict()}
    if cfg.kb is None:
        model = TFGridNet(cfg).eval()
        state = model.init_state(1, speaker)
        for _ in range(warmup):
            _, state = model.step(chunk, state)
        macs = count_step_macs(lambda: model.step(chunk, state), model)
        info["params"] = {"total": n_params(model)}
    else:
        joint = JointModel(cfg).eval()
        state = joint.init_state(1, speaker)
        for _ in range(warmup):
            _, state = joint.step(chunk, state)
        hint = torch.randn(1, cfg.n_hint_channels, 97)
        macs = count_step_macs(lambda: joint.small_step(chunk, state, hint), joint.small)
        server = count_step_macs(lambda: joint.large_step(chunk, state), joint)
        fusion = sum(n_params(f) for f in joint.small.fusions)
        info["params"] = {
            "total": n_params(joint.small),  # the device model: small + fusion layers
            "fusion": fusion,
            "small_without_fusion": n_params(joint.small) - fusion,
            "compression_conv": n_params(joint.compress),
            "teacher": n_params(joint.large),
        }
        info["server_macs_per_chunk"] = server.total
        values = cfg.hint_size
        info["hint"] = {
            "delay_chunks": cfg.kb.delay,
            "delay_ms": cfg.kb.delay * 1000 * CHUNK_SIZE / SAMPLE_RATE,
            "compression": cfg.kb.compression,
            "channels": cfg.n_hint_channels,
            "values_per_chunk": values,
            "bytes_per_second_fp32": values * 4 * CHUNKS_PER_SECOND,
            "bytes_per_second_fp16": values * 2 * CHUNKS_PER_SECOND,
        }
        model = joint.small
    if cfg.has_speaker:
        films = model.speaker_films
        info["params"]["speaker_film"] = sum(n_params(f) for f in films)
        info["speaker_film_macs_per_enrollment"] = sum(
            f.conv.in_channels * f.conv.out_channels for f in films)
    info["macs_per_chunk"] = macs.total
    info["lstm_macs_per_chunk"] = macs.lstm
    info["macs_per_second"] = macs.total * CHUNKS_PER_SECOND
    return info


def _fmt(n: float) -> str:
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,.2f}"


def format_info(info: dict) -> str:
    lines = [f"{info['config']}: task {info['task']}, size {info['size']}, {info['n_out']} output channels"]
    p = info["params"]
    lines.append("parameters: " + ", ".join(f"{k} {_fmt(v)}" for k, v in p.items()))
    lines.append(f"MACs per 8 ms chunk: {_fmt(info['macs_per_chunk'])} "
                 f"(LSTM {_fmt(info['lstm_macs_per_chunk'])}); "
                 f"{info['macs_per_second'] / 1e6:,.1f} M MAC/s")
    if "speaker_film_macs_per_enrollment" in info:
        lines.append(f"speaker FiLM: {_fmt(info['speaker_film_macs_per_enrollment'])} MACs once per "
                     "enrollment (not per chunk)")
    if "hint" in info:
        h = info["hint"]
        lines.append(
            f"hint: delay {h['delay_chunks']} chunks ({h['delay_ms']:g} ms), compression {h['compression']}, "
            f"{h['channels']} x 97 = {h['values_per_chunk']} values per chunk, "
            f"{h['bytes_per_second_fp32'] / 1000:,.1f} kB/s fp32, "
            f"{h['bytes_per_second_fp16'] / 1000:,.1f} kB/s fp16")
        lines.append(f"hint server (large + compression): {_fmt(info['server_macs_per_chunk'])} MACs per chunk")
    return "\n".join(lines)


def load_config(spec: str) -> ModelConfig:
    """A config name, or a TOML recipe / JSON config file with a model config name or dict."""
    path = Path(spec)
    if path.suffix in (".toml", ".json") and path.exists():
        if path.suffix == ".toml":
            import tomllib
            data = tomllib.loads(path.read_text())
            model = data.get("model", data)
        else:
            model = json.loads(path.read_text())
        if isinstance(model.get("config"), str):
            return get_config(model["config"])
        return ModelConfig.from_dict(model)
    return get_config(spec)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", help="config name (e.g. ss-small-kb-d3-c1) or recipe file")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--list", action="store_true", help="list the named configs")


def run(args: argparse.Namespace) -> int:
    if args.list or not args.config:
        print("\n".join(list_configs()))
        return 0
    torch.set_num_threads(1)
    info = model_info(load_config(args.config))
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0
