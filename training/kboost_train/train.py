"""``kboost train RECIPE.toml``: large-model pre-training, small / medium baselines and joint
knowledge-boosting (KB) training, single process or multi-process with ``torchrun`` (DDP).

Recipe (TOML; examples in ``training/configs/``)::

    [model]
    config = "ss-small-kb-d3-c1"         # any name of kboost.config.get_config
    large_checkpoint = "runs/ss-large/best.pt"  # KB only: the pre-trained large model (relative
                                         #   paths: from the working directory, then the recipe's)
    # net = {d_model = 8, n_blocks = 1, n_hidden = 8}   # optional size override (tests)
    # large_net = {...}                   # optional override of the teacher's size (tests)

    [data]                                # passed to the data set builder, merged with [data.SPLIT]
    source = "offline"                    # "synthetic": kboost_train.data_synthetic (a fixture);
                                          #   else kboost_train.data.datasets.build_dataset(spec):
                                          #   "offline" (the kboost data cache) or "paper" (+ root)
    task = "ss"                           # defaults to the model's task
    [data.train] / [data.val] / [data.test]   # per-split overrides; "split" is set to the name

    [train]
    batch = 8            # global batch (split evenly over the ranks)
    lr = 1e-3            # Adam
    epochs = 100
    steps_per_epoch = 0  # 0: one pass over the training set
    clip = 1.0           # gradient-norm clip (0: none)
    seed = 0
    workers = 0          # DataLoader worker processes per rank
    num_threads = 1      # torch intra-op threads per rank
    checkpoint_every = 500   # steps between last.pt checkpoints (0: at epoch ends only)
    log_every = 10       # steps per CSV/TensorBoard row
    lr_patience = 4      # ReduceLROnPlateau on validation SI-SNRi (mode max)
    lr_factor = 0.5
    lr_min = 1e-6
    hint_drop = 0.0      # KB: max probability of a missing hint per frame (drawn per example)
    hint_drop_examples = 0.5  # KB: fraction of examples that get missing hints
    hint_burst = 1       # KB: missing hints come in runs of 1..hint_burst frames
    random_delay = []    # KB: [lo, hi]: the hint delay is drawn per step in lo..hi (delay-conditioned)
    device = "auto"      # "cpu", "cuda" or "auto"
    rank_weights = false # write each rank's final weights to rank{r}.pt (checks DDP replicas)
    freeze_large = false # KB: keep the loaded large model fixed (a reduction of the recipe: the
                         #   large model's backward pass is skipped; the compression still trains)
    teacher_cache = 0    # KB + freeze_large: N > 0 makes the training set a fixed pool of N mixtures
                         #   whose large-model outputs are computed once and cached (val set too) in
                         #   OUT/../teacher-cache, shared by runs of the same teacher and data
                         #   (kboost_train.teacher_cache; a reduction: no fresh mixtures per epoch)

    [eval]
    batch = 8            # validation / evaluation batch
    max_items = 0        # cap on validation items (0: all)
    checkpoints = []     # what ``kboost eval RECIPE`` evaluates (default: runs/<recipe name>/best.pt)
    mode = "per-delay"   # kboost eval RECIPE: or "conditioned" (every KB model at every delay)
    delays = "0-6"       # kboost eval RECIPE: the delays of the table

Outputs in ``--out`` (default ``runs/<recipe name>``): ``last.pt`` (every ``checkpoint_every`` steps
and at every epoch end), ``best.pt`` (best validation SI-SNRi), ``log.csv`` (train and val rows),
``recipe.toml`` (a copy), TensorBoard events under ``tb/`` when tensorboard is installed.

Checkpoints (docs/CONTRACTS.md): ``{"config", "model", ...}`` plus the training state ``optimizer``,
``scheduler``, ``rng``, ``epoch``, ``step_in_epoch``, ``global_step``, ``best``, ``recipe``,
``world_size``. ``--resume`` continues exactly: the sample order of an epoch is a function of (seed,
epoch) (on-the-fly training sets are told the epoch with ``set_epoch``), the hint masks and random
delays of a step of (seed, step), and data items of (seed, epoch, index), so a resumed run computes
the same steps as an uninterrupted one.

Joint KB training (spec section 4): the large model is loaded from ``large_checkpoint``, the small
model, its fusion layers and the compression start from scratch, and only the small model's loss is
optimised; the large model and the compression are trained too (through the hint path).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from kboost.config import ModelConfig, NetConfig, get_config
from kboost_train import build_model
from kboost_train.losses import improvements, loss_fn
from kboost_train.models import JointModel
from kboost_train.stft import n_frames

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI (the train extra installs it)
    import tomli as tomllib

# ---------------------------------------------------------------------------------------------------
# Recipe


@dataclass
class TrainOptions:
    batch: int = 8
    lr: float = 1e-3
    epochs: int = 100
    steps_per_epoch: int = 0
    clip: float = 1.0
    seed: int = 0
    workers: int = 0
    num_threads: int = 1
    checkpoint_every: int = 500
    log_every: int = 10
    lr_patience: int = 4
    lr_factor: float = 0.5
    lr_min: float = 1e-6
    hint_drop: float = 0.0
    hint_drop_examples: float = 0.5
    hint_burst: int = 1
    random_delay: list[int] = field(default_factory=list)
    device: str = "auto"
    rank_weights: bool = False
    freeze_large: bool = False
    teacher_cache: int = 0


@dataclass
class EvalOptions:
    batch: int = 8
    max_items: int = 0
    checkpoints: list[str] = field(default_factory=list)  # for kboost eval RECIPE
    mode: str = ""  # kboost eval RECIPE: per-delay | conditioned ("" = per-delay; --mode overrides)
    delays: str = ""  # kboost eval RECIPE: e.g. "0-6" ("" = 0-6; --delays overrides)


@dataclass
class Recipe:
    """A parsed, checked recipe. ``raw`` is the TOML as read (saved in checkpoints)."""

    path: Path
    raw: dict[str, Any]
    model: dict[str, Any]
    data: dict[str, Any]
    train: TrainOptions
    eval: EvalOptions

    @property
    def name(self) -> str:
        return self.path.stem

    def model_config(self) -> ModelConfig:
        return model_config_of(self.model)

    def data_spec(self, split: str) -> dict[str, Any]:
        """The [data] table merged with [data.SPLIT], with ``split`` set."""
        if split not in ("train", "val", "test"):
            raise ValueError(f"split must be train, val or test, got {split!r}")
        base = {k: v for k, v in self.data.items() if not isinstance(v, dict) or k not in ("train", "val", "test")}
        spec = {**base, **self.data.get(split, {}), "split": split}
        if "task" not in spec and self.model:
            spec["task"] = self.model_config().task
        return spec


def _options(cls, table: dict[str, Any], section: str):
    known = {f.name: f for f in fields(cls)}
    unknown = set(table) - set(known)
    if unknown:
        raise ValueError(f"[{section}]: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    out = cls(**table)
    for name, f in known.items():
        v = getattr(out, name)
        if name == "random_delay":
            if not (isinstance(v, list) and (not v or (len(v) == 2 and all(isinstance(i, int) for i in v)
                                                        and 0 <= v[0] <= v[1] <= 6))):
                raise ValueError(f"[{section}] random_delay must be [] or [lo, hi] with 0 <= lo <= hi <= 6, got {v}")
        elif f.type in ("int", int) and (not isinstance(v, int) or isinstance(v, bool)):
            raise ValueError(f"[{section}] {name} must be an integer, got {v!r}")
        elif f.type in ("float", float) and not isinstance(v, (int, float)):
            raise ValueError(f"[{section}] {name} must be a number, got {v!r}")
    return out


def model_config_of(table: dict[str, Any]) -> ModelConfig:
    """The ModelConfig of a recipe's [model] table (a named config, optionally resized)."""
    if "config" not in table:
        raise ValueError("[model] needs config = NAME (e.g. 'ss-large', 'ss-small-kb-d3-c1')")
    cfg = get_config(table["config"])
    if "net" in table or "large_net" in table:
        d = cfg.to_dict()
        if "net" in table:
            d["net"] = NetConfig(**table["net"]).__dict__
        if "large_net" in table:
            if cfg.kb is None:
                raise ValueError("[model] large_net applies to KB configs only")
            d["large"] = NetConfig(**table["large_net"]).__dict__
        cfg = ModelConfig.from_dict(d)
    return cfg


def load_recipe(path: str | Path, training: bool = True) -> Recipe:
    """Read and check a recipe file; errors name the section and key. ``training=False`` (an
    evaluation recipe: [data] and [eval] checkpoints) makes [model] optional."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"recipe {path} not found")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"recipe {path}: not valid TOML: {e}") from e
    unknown = set(raw) - {"model", "data", "train", "eval"}
    if unknown:
        raise ValueError(f"recipe {path}: unknown sections {sorted(unknown)}; expected model, data, train, eval")
    for sec in ("model", "data") if training else ("data",):
        if sec not in raw:
            raise ValueError(f"recipe {path}: missing section [{sec}]")
    model = dict(raw.get("model", {}))
    unknown = set(model) - {"config", "large_checkpoint", "net", "large_net"}
    if unknown:
        raise ValueError(f"[model]: unknown keys {sorted(unknown)}; known: config, large_checkpoint, net, large_net")
    recipe = Recipe(path=path, raw=raw, model=model, data=dict(raw["data"]),
                    train=_options(TrainOptions, dict(raw.get("train", {})), "train"),
                    eval=_options(EvalOptions, dict(raw.get("eval", {})), "eval"))
    if recipe.eval.mode not in ("", "per-delay", "conditioned"):
        raise ValueError(f"[eval] mode must be 'per-delay' or 'conditioned', got {recipe.eval.mode!r}")
    if not training and not model:
        return recipe
    cfg = recipe.model_config()
    t = recipe.train
    if t.batch <= 0 or t.epochs <= 0 or t.lr <= 0:
        raise ValueError(f"[train] batch, epochs and lr must be positive, got {t.batch}, {t.epochs}, {t.lr}")
    if not 0 <= t.hint_drop <= 1 or not 0 <= t.hint_drop_examples <= 1 or t.hint_burst < 1:
        raise ValueError("[train] hint_drop and hint_drop_examples must be in [0, 1], hint_burst >= 1")
    if t.device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"[train] device must be auto, cpu or cuda, got {t.device!r}")
    if cfg.kb is None and (t.hint_drop > 0 or t.random_delay or t.freeze_large or t.teacher_cache):
        raise ValueError(f"[train] hint_drop / random_delay / freeze_large / teacher_cache need a KB config, "
                         f"not {cfg.name}")
    if t.teacher_cache < 0 or (t.teacher_cache and not t.freeze_large):
        raise ValueError(f"[train] teacher_cache = {t.teacher_cache}: must be >= 0, and needs freeze_large = true "
                         "(a cached teacher output is only valid while the large model does not change)")
    if cfg.kb is not None and "large_checkpoint" not in model:
        raise ValueError(f"[model] {cfg.name} is a KB config: large_checkpoint = PATH of the pre-trained "
                         "large model is required (joint training starts from it), or \"none\" to "
                         "start the large model from scratch too")
    return recipe


def resolve_path(p: str, recipe: Recipe) -> Path:
    """A path of a recipe: as given if it exists from the working directory, else from the recipe's."""
    q = Path(p)
    if q.is_absolute() or q.exists():
        return q
    return recipe.path.parent / q


# ---------------------------------------------------------------------------------------------------
# Data


def build_dataset(spec: dict[str, Any]) -> Dataset:
    """The data set of a [data] spec: the synthetic fixture or the real data package."""
    if spec.get("source") == "synthetic":
        from kboost_train.data_synthetic import build_synthetic

        return build_synthetic(spec)
    try:
        from kboost_train.data.datasets import build_dataset as build_real
    except ImportError as e:
        raise ValueError(f"[data] source {spec.get('source')!r} needs kboost_train.data.datasets.build_dataset "
                         f"({e}); source = \"synthetic\" needs nothing") from e
    return build_real(spec)


def epoch_order(n_items: int, n_needed: int, seed: int, epoch: int) -> list[int]:
    """The sample indices of an epoch (a function of seed and epoch only): permutations of the data
    set concatenated until ``n_needed`` indices."""
    out: list[int] = []
    k = 0
    while len(out) < n_needed:
        g = torch.Generator().manual_seed(mix_seed(seed, epoch, k, 0))
        out += torch.randperm(n_items, generator=g).tolist()
        k += 1
    return out[:n_needed]


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


# ---------------------------------------------------------------------------------------------------
# KB helpers


@contextmanager
def kb_delay(model: nn.Module, delay: int | None) -> Iterator[int | None]:
    """Run a JointModel at hint delay ``delay`` (frames): the hints are delayed by it and the fusion
    layers align the small model's features by it too (a delay-conditioned model). None: as built."""
    joint = model.module if hasattr(model, "module") else model
    if delay is None or not isinstance(joint, JointModel):
        yield None
        return
    fusions = list(joint.small.fusions)
    old = [f.delay for f in fusions]
    for f in fusions:
        f.delay = delay
    try:
        yield delay
    finally:
        for f, d in zip(fusions, old):
            f.delay = d


def hint_mask(batch: int, n_frames_: int, opts: TrainOptions, g: torch.Generator) -> Tensor | None:
    """[B, T] float (1 = hint arrived, 0 = missing) for randomised hint loss, or None when off.

    A fraction ``hint_drop_examples`` of the examples get missing hints: each of them draws a rate
    p in [0, hint_drop], starts a run of missing hints at each frame with probability p, and every run
    lasts ``L`` frames, L drawn once per step in 1..hint_burst (late packets come in bursts)."""
    if opts.hint_drop <= 0:
        return None
    chosen = torch.rand(batch, 1, generator=g) < opts.hint_drop_examples
    p = torch.rand(batch, 1, generator=g) * opts.hint_drop * chosen
    starts = (torch.rand(batch, n_frames_, generator=g) < p).float()
    run = int(torch.randint(1, opts.hint_burst + 1, (1,), generator=g))
    if run > 1:  # a start at frame t makes frames t..t+run-1 missing
        starts = nn.functional.max_pool1d(nn.functional.pad(starts[:, None], (run - 1, 0)), run, 1)[:, 0]
    return 1.0 - starts


def mix_seed(*ints: int) -> int:
    """A 63-bit seed from integers, the same in every process (unlike ``hash`` of a str)."""
    return int(np.random.SeedSequence([int(i) & 0xFFFF_FFFF for i in ints]).generate_state(2, np.uint64)[0] >> 1)


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of a training step's random delay and hint masks (the same on every rank)."""
    return torch.Generator().manual_seed(mix_seed(seed, step, 1))


# ---------------------------------------------------------------------------------------------------
# Checkpoints


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (CPU tensors); clear errors for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a corrupt or non-torch file
        raise ValueError(f"{path}: not a readable kboost checkpoint ({type(e).__name__}: {e})") from e
    if not isinstance(ck, dict) or "config" not in ck or "model" not in ck:
        raise ValueError(f"{path}: not a kboost checkpoint (needs 'config' and 'model' keys)")
    return ck


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, ModelConfig, dict[str, Any]]:
    """(module in eval mode, its config, the checkpoint dict)."""
    ck = load_checkpoint(path)
    cfg = ModelConfig.from_dict(ck["config"])
    model = build_model(cfg)
    model.load_state_dict(ck["model"])
    return model.eval(), cfg, ck


def load_large(joint: JointModel, path: Path) -> None:
    """Load a pre-trained large model (a plain TFGridNet checkpoint of the teacher config)."""
    ck = load_checkpoint(path)
    got = ModelConfig.from_dict(ck["config"])
    want = joint.cfg.teacher()
    if got.task != want.task or got.net != want.net or got.kb is not None:
        raise ValueError(f"{path}: holds {got.name or got.task} {got.net}, but the joint model needs the "
                         f"teacher {want.name} {want.net}")
    joint.large.load_state_dict(ck["model"])


# ---------------------------------------------------------------------------------------------------
# Distributed


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def on(self) -> bool:
        return self.world > 1


def init_distributed(device_kind: str) -> Dist:
    """From torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK); gloo on CPU, nccl on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo")
    return Dist(rank=dist.get_rank(), world=dist.get_world_size(), local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def _all_sum(x: Tensor, d: Dist) -> Tensor:
    if d.on:
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


# ---------------------------------------------------------------------------------------------------
# Training


class CsvLog:
    COLUMNS = ["phase", "epoch", "step", "global_step", "loss", "si_snri", "snri", "lr", "grad_norm",
               "seconds", "items"]

    def __init__(self, path: Path, resume: bool) -> None:
        new = not (resume and path.exists())
        self.f = open(path, "w" if new else "a", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=self.COLUMNS)
        if new:
            self.w.writeheader()

    def row(self, **kw: Any) -> None:
        self.w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in kw.items()})
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def _tensorboard(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(out / "tb"))


def forward_batch(model: nn.Module, batch: dict[str, Any], mask: Tensor | None = None,
                  delay: int | None = None) -> Tensor:
    """The model's output [B, n_out, N] for a collated batch (TSE: with its speaker)."""
    x = batch["mixture"]
    spk = batch.get("speaker")
    if isinstance(unwrap(model), JointModel):
        with kb_delay(model, delay):
            return model(x, spk, hint_mask=mask, delay=delay, large_spec=batch.get("large_spec"))
    return model(x, spk)


@torch.no_grad()
def validate(model: nn.Module, loader: DataLoader, task: str, device: torch.device, d: Dist,
             delay: int | None = None) -> dict[str, float]:
    """Mean loss, SI-SNRi and SNRi over the (sharded) loader, reduced over ranks. Runs the unwrapped
    module: the ranks' shards may differ in length, and a DDP forward is a collective."""
    model = unwrap(model)
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64)
    for batch in loader:
        batch = _to(batch, device)
        y = forward_batch(model, batch, delay=delay)
        m = improvements(task, y, batch["target"], batch["mixture"])
        n = y.shape[0]
        sums += torch.tensor([loss_fn(task, y, batch["target"]).item() * n, m["si_snri"].sum().item(),
                              m["snri"].sum().item(), n], dtype=torch.float64)
    sums = _all_sum(sums, d)
    model.train()
    n = max(sums[3].item(), 1.0)
    return {"loss": sums[0].item() / n, "si_snri": sums[1].item() / n, "snri": sums[2].item() / n,
            "items": int(sums[3].item())}


def _rng_state() -> dict[str, Any]:
    s = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def train(recipe: Recipe, out: Path, resume: bool = False, stop_after: int = 0,
          progress: bool = True) -> dict[str, Any]:
    """Run a recipe. Returns a summary (rank 0's view). ``stop_after``: stop (with a checkpoint) once
    this many steps in all are done (0: run to the end). Thread-unsafe; one call per process."""
    t = recipe.train
    torch.set_num_threads(t.num_threads)
    device_kind = ("cuda" if torch.cuda.is_available() else "cpu") if t.device == "auto" else t.device
    if device_kind == "cuda" and not torch.cuda.is_available():
        raise ValueError("[train] device = 'cuda' but CUDA is not available")
    d = init_distributed(device_kind)
    device = torch.device("cuda", d.local_rank) if device_kind == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if t.batch % d.world:
        raise ValueError(f"[train] batch {t.batch} must be divisible by the number of processes {d.world}")
    local_batch = t.batch // d.world
    cfg = recipe.model_config()

    # Model: identical initial weights on every rank (same seed; DDP also broadcasts rank 0's).
    torch.manual_seed(t.seed)
    model = build_model(cfg)
    last = out / "last.pt"
    if cfg.kb is not None and not (resume and last.exists()):
        lc = recipe.model.get("large_checkpoint", "none")
        if lc != "none":
            load_large(model, resolve_path(lc, recipe))
    model.to(device).train()
    if t.freeze_large:
        model.large.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=t.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=t.lr_factor,
                                                       patience=t.lr_patience, min_lr=t.lr_min)
    epoch, step_in_epoch, global_step, best = 0, 0, 0, -math.inf
    if resume:
        if not last.exists():
            raise FileNotFoundError(f"--resume: no checkpoint {last} to resume from")
        ck = load_checkpoint(last)
        if ModelConfig.from_dict(ck["config"]) != cfg:
            raise ValueError(f"--resume: {last} holds a different model config than the recipe")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        _set_rng_state(ck["rng"])
        epoch, step_in_epoch, global_step, best = ck["epoch"], ck["step_in_epoch"], ck["global_step"], ck["best"]
    ddp = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) if d.on else model

    if t.teacher_cache:  # fixed pool + val set with the frozen large model's outputs cached
        from kboost_train import teacher_cache

        cached = teacher_cache.cached_sets(unwrap(ddp).large, recipe, out, progress=d.main and progress)
        train_set, val_set = cached["train"], cached["val"]
    else:
        train_set = build_dataset(recipe.data_spec("train"))
        val_set = build_dataset(recipe.data_spec("val"))
    n_val = len(val_set) if recipe.eval.max_items <= 0 else min(len(val_set), recipe.eval.max_items)
    val_loader = DataLoader(val_set, batch_size=recipe.eval.batch, num_workers=t.workers,
                            sampler=list(range(d.rank, n_val, d.world)))
    steps = t.steps_per_epoch or len(train_set) // t.batch
    if steps <= 0:
        raise ValueError(f"training set of {len(train_set)} items is smaller than one batch of {t.batch}")

    if d.main:
        out.mkdir(parents=True, exist_ok=True)
        if recipe.path.resolve() != (out / "recipe.toml").resolve():
            shutil.copyfile(recipe.path, out / "recipe.toml")
    log = CsvLog(out / "log.csv", resume) if d.main else None
    tb = _tensorboard(out) if d.main else None

    def checkpoint(path: Path) -> None:
        if d.main:
            save_atomic({"config": cfg.to_dict(), "model": unwrap(ddp).state_dict(), "optimizer": opt.state_dict(),
                         "scheduler": sched.state_dict(), "rng": _rng_state(), "epoch": epoch,
                         "step_in_epoch": step_in_epoch, "global_step": global_step, "best": best,
                         "recipe": recipe.raw, "world_size": d.world}, path)

    stopped = False
    t_start = time.perf_counter()
    acc = {"loss": 0.0, "n": 0, "grad": 0.0, "time": 0.0}
    try:
        while epoch < t.epochs and not stopped:
            if hasattr(train_set, "set_epoch"):  # on-the-fly data: epoch e draws its own mixtures
                train_set.set_epoch(epoch)
            order = epoch_order(len(train_set), steps * t.batch, t.seed, epoch)
            batches = [order[i * t.batch + d.rank * local_batch: i * t.batch + (d.rank + 1) * local_batch]
                       for i in range(step_in_epoch, steps)]
            loader = DataLoader(train_set, batch_sampler=batches, num_workers=t.workers)
            bar = None
            if d.main and progress:
                from tqdm import tqdm

                bar = tqdm(total=steps, initial=step_in_epoch, desc=f"epoch {epoch + 1}/{t.epochs}",
                           dynamic_ncols=True, file=sys.stderr)
            for batch in loader:
                t0 = time.perf_counter()
                batch = _to(batch, device)
                # Random delay and hint masks are drawn for the global batch, then sliced, so a run
                # does not depend on the number of processes.
                g = step_generator(t.seed, global_step)
                delay = None
                if t.random_delay:
                    delay = int(torch.randint(t.random_delay[0], t.random_delay[1] + 1, (1,), generator=g))
                mask = None
                if cfg.kb is not None:
                    mask = hint_mask(t.batch, n_frames(batch["mixture"].shape[-1]), t, g)
                    if mask is not None:
                        mask = mask[d.rank * local_batch:(d.rank + 1) * local_batch].to(device)
                y = forward_batch(ddp, batch, mask, delay)
                loss = loss_fn(cfg.task, y, batch["target"])
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at step {global_step}: lower lr or check the data")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                gnorm = nn.utils.clip_grad_norm_([p for p in ddp.parameters() if p.requires_grad],
                                                 t.clip if t.clip > 0 else math.inf)
                opt.step()
                step_in_epoch += 1
                global_step += 1
                acc["loss"] += loss.item()
                acc["grad"] += float(gnorm)
                acc["n"] += 1
                acc["time"] += time.perf_counter() - t0
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
                if acc["n"] >= t.log_every or step_in_epoch == steps:
                    if log is not None:
                        n = acc["n"]
                        log.row(phase="train", epoch=epoch, step=step_in_epoch, global_step=global_step,
                                loss=acc["loss"] / n, lr=opt.param_groups[0]["lr"], grad_norm=acc["grad"] / n,
                                seconds=acc["time"] / n, items=n * t.batch)
                        if tb is not None:
                            tb.add_scalar("train/loss", acc["loss"] / n, global_step)
                    acc = {"loss": 0.0, "n": 0, "grad": 0.0, "time": 0.0}
                if step_in_epoch < steps and t.checkpoint_every and global_step % t.checkpoint_every == 0:
                    checkpoint(last)
                if stop_after and global_step >= stop_after and step_in_epoch < steps:
                    stopped = True
                    break
            if bar is not None:
                bar.close()
            if stopped:
                checkpoint(last)
                break
            v = validate(ddp, val_loader, cfg.task, device, d)
            sched.step(v["si_snri"])
            improved = v["si_snri"] > best
            best = max(best, v["si_snri"])
            epoch += 1
            step_in_epoch = 0
            if log is not None:
                log.row(phase="val", epoch=epoch - 1, step=steps, global_step=global_step, loss=v["loss"],
                        si_snri=v["si_snri"], snri=v["snri"], lr=opt.param_groups[0]["lr"], items=v["items"])
                if tb is not None:
                    tb.add_scalar("val/si_snri", v["si_snri"], global_step)
                    tb.add_scalar("val/loss", v["loss"], global_step)
                print(f"epoch {epoch}: val loss {v['loss']:.3f}, SI-SNRi {v['si_snri']:.2f} dB, "
                      f"SNRi {v['snri']:.2f} dB (best {best:.2f}), lr {opt.param_groups[0]['lr']:.2g}",
                      file=sys.stderr)
            checkpoint(last)
            if improved:
                checkpoint(out / "best.pt")
            if stop_after and global_step >= stop_after:
                stopped = epoch < t.epochs
                break
        if t.rank_weights:
            torch.save(unwrap(ddp).state_dict(), out / f"rank{d.rank}.pt")
        if d.on:
            dist.barrier()  # on success only: after an error the other ranks may sit in a collective
    finally:
        if log is not None:
            log.close()
        if tb is not None:
            tb.close()
        if d.on:
            dist.destroy_process_group()
    return {"epoch": epoch, "global_step": global_step, "best_si_snri": best, "stopped": stopped,
            "seconds": time.perf_counter() - t_start, "world_size": d.world}


# ---------------------------------------------------------------------------------------------------
# CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe TOML (see training/configs/)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/RECIPE_NAME)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly")
    p.add_argument("--stop-after", type=int, default=0, metavar="STEPS",
                   help="stop with a checkpoint once STEPS steps in all are done (resume later)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm progress bars")
    p.epilog = "Multi-process: torchrun --nproc_per_node=N -m kboost train RECIPE (gloo on CPU, nccl on CUDA)."


def run(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    out = args.out or Path("runs") / recipe.name
    s = train(recipe, out, resume=args.resume, stop_after=args.stop_after, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        state = "stopped" if s["stopped"] else "done"
        print(f"{state}: {s['global_step']} steps, {s['epoch']} epochs in {s['seconds']:.1f} s, best validation "
              f"SI-SNRi {s['best_si_snri']:.2f} dB; checkpoints in {out}")
    return 0
