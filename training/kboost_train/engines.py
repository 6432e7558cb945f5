"""The PyTorch reference as engines of the network runtime (kboost.engine interfaces).

``TorchHintSource(joint)`` runs ``JointModel.large_step`` (large model + compression conv) per
connection; ``TorchDevice(joint)`` runs ``JointModel.small_step`` with a :class:`kboost.engine.HintRing`.
Both share one ``JointModel`` (read-only, ``eval()`` mode) and keep all mutable state per stream.
Used by the tests (tiny random models) and by ``--reference`` on the command line.

Model identity: :func:`hint_source_id` is the id the exporter writes into the server's weights file
(a hash of the large model's and the compression conv's tensors), so a server and a device built
from the same checkpoint (or the same config and seed), torch or C++, agree, and any other pair is
refused by the server.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from kboost.config import ModelConfig, get_config
from kboost.engine import (
    Device,
    DeviceStream,
    HintSource,
    HintSourceStream,
    ModelIdentity,
    RingDeviceStream,
    check_chunk,
    check_speaker,
)
from kboost_train.export import role_tensors, tensors_id
from kboost_train.models import JointModel


def hint_source_id(joint: JointModel) -> str:
    """The ``kboost.model_id`` that ``kboost export --part server`` writes for this model (16 hex
    digits over the large model's and the compression conv's tensors), so the PyTorch reference
    and the C++ core interoperate over the wire."""
    return tensors_id(role_tensors(joint, joint.cfg, "server"))


def _identity(joint: JointModel, role: str) -> ModelIdentity:
    cfg = joint.cfg
    return ModelIdentity(
        model_id=hint_source_id(joint), task=cfg.task,
        delay=cfg.kb.delay, n_hint_channels=cfg.n_hint_channels, n_out=cfg.n_out,
    )


def _speaker_tensor(speaker: np.ndarray | None) -> torch.Tensor | None:
    return None if speaker is None else torch.from_numpy(np.array(speaker, np.float32)).view(1, -1)


class _TorchHintSourceStream(HintSourceStream):
    def __init__(self, joint: JointModel, speaker: torch.Tensor | None) -> None:
        self.joint = joint
        self.identity = _identity(joint, "server")
        with torch.inference_mode():
            full = joint.init_state(1, speaker)
        # Only the large model and the compression conv run here.
        self.state = {k: v for k, v in full.items() if k.startswith(("large.", "compress."))}

    def process(self, chunk_index: int, samples: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(check_chunk(samples, self.identity)).unsqueeze(0)
        with torch.inference_mode():
            e, self.state = self.joint.large_step(x, self.state)
        return e[0].numpy().astype(np.float32, copy=True)

    def close(self) -> None:
        self.state = {}


class TorchHintSource(HintSource):
    """Large model + compression conv of a KB ``JointModel`` (PyTorch reference)."""

    def __init__(self, joint: JointModel, description: str = "") -> None:
        self.joint = joint.eval()
        self.identity = _identity(joint, "server")
        self.description = description or f"PyTorch reference {joint.cfg.name}"

    def open_stream(self, speaker: np.ndarray | None = None) -> HintSourceStream:
        spk = check_speaker(speaker, self.identity.task)
        return _TorchHintSourceStream(self.joint, _speaker_tensor(spk))


class _TorchDeviceStream(RingDeviceStream):
    def __init__(self, joint: JointModel, speaker: torch.Tensor | None) -> None:
        super().__init__(_identity(joint, "device"))
        self.joint = joint
        with torch.inference_mode():
            full = joint.init_state(1, speaker)
        self.state = {k: v for k, v in full.items() if k.startswith("small.")}

    def process_chunk(self, samples: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(check_chunk(samples, self.identity)).unsqueeze(0)
        h = self._take_hint()
        hint = None if h is None else torch.from_numpy(h).unsqueeze(0)
        with torch.inference_mode():
            out, self.state = self.joint.small_step(x, self.state, hint)
        self._chunk_done()
        return out[0].numpy().astype(np.float32, copy=True)

    def close(self) -> None:
        self.state = {}


class TorchDevice(Device):
    """Small model with KB fusion of a KB ``JointModel`` (PyTorch reference)."""

    def __init__(self, joint: JointModel, description: str = "") -> None:
        self.joint = joint.eval()
        self.identity = _identity(joint, "device")
        self.description = description or f"PyTorch reference {joint.cfg.name}"

    def open_stream(self, speaker: np.ndarray | None = None) -> DeviceStream:
        spk = check_speaker(speaker, self.identity.task)
        return _TorchDeviceStream(self.joint, _speaker_tensor(spk))


def random_joint(cfg: ModelConfig | str, seed: int = 0) -> JointModel:
    """A ``JointModel`` with random weights drawn from ``seed`` (same seed, same weights)."""
    if isinstance(cfg, str):
        cfg = get_config(cfg)
    gen_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        joint = JointModel(cfg)
    finally:
        torch.random.set_rng_state(gen_state)
    return joint.eval()


def load_joint(reference: str, seed: int = 0) -> tuple[JointModel, str]:
    """``reference``: a checkpoint path (``{"config", "model"}`` of a KB JointModel) or a KB
    config name (random weights from ``seed``). Returns (model, description)."""
    p = Path(reference)
    if p.suffix in (".pt", ".pth", ".ckpt") or p.is_file():
        if not p.is_file():
            raise FileNotFoundError(f"checkpoint {p} does not exist")
        ck = torch.load(p, map_location="cpu", weights_only=True)
        if not isinstance(ck, dict) or "config" not in ck or "model" not in ck:
            raise ValueError(f"{p}: not a kboost checkpoint (expected a dict with 'config' and 'model')")
        cfg = ModelConfig.from_dict(ck["config"])
        if cfg.kb is None:
            raise ValueError(f"{p}: config {cfg.name or cfg.task} is not knowledge-boosted; the runtime needs a KB JointModel")
        joint = JointModel(cfg)
        joint.load_state_dict(ck["model"])
        return joint.eval(), f"PyTorch reference, checkpoint {p}"
    cfg = get_config(reference)
    if cfg.kb is None:
        raise ValueError(f"config {reference!r} is not knowledge-boosted (e.g. ss-small-kb-d3-c1)")
    return random_joint(cfg, seed), f"PyTorch reference, RANDOM weights of {reference} (seed {seed})"


def load_reference(role: str, reference: str, seed: int = 0) -> HintSource | Device:
    """The engine behind ``kboost serve/run --reference``. Sets torch to one intra-op thread: the
    server's parallelism is across streams (its thread pool), and the device loop is one stream."""
    torch.set_num_threads(1)
    joint, desc = load_joint(reference, seed)
    return TorchHintSource(joint, desc) if role == "server" else TorchDevice(joint, desc)
