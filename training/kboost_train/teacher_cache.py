"""A cache of a frozen large model's output spectrograms, shared by joint KB runs.

Joint KB training with ``freeze_large = true`` runs the large model forward only, and on a CPU that
forward costs about three times the small model's whole training step. The large model's output
depends only on its weights and the input mixture, so runs that share a teacher (one per hint delay,
a delay-conditioned run, ...) can compute it once. With ``[train] teacher_cache = N`` the training set
becomes a fixed pool of N mixtures (epoch 0's draw; epochs then sample from the pool instead of
drawing fresh mixtures: a stated reduction of the recipe) and the validation set is cached too.

Layout: ``DIR/<fingerprint>/items-<start>-<stop>.pt`` (float32 [k, 2 n_out, T, F] each), where the
fingerprint hashes the large model's weights and the data set spec, so a different teacher or data
never reads a stale cache. Chunks are claimed with ``O_EXCL`` lock files holding the owner's pid, so
several processes (the ranks of a torchrun job, two runs started together, or
``python -m kboost_train.teacher_cache RECIPE`` on a spare core) fill one cache without repeating
work; a lock whose process is gone is taken over.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

CHUNK_ITEMS = 256


def fingerprint(large: nn.Module, spec: dict[str, Any]) -> str:
    """A hex digest of the large model's weights (names, shapes, bytes) and the data set spec."""
    h = hashlib.sha1()
    for name, t in sorted(large.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(spec, sort_keys=True, default=str).encode())
    return h.hexdigest()[:20]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(lock: Path) -> bool:
    """Take the lock file (True), or False while a live process holds it. A dead owner's lock is removed."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(lock.read_text() or "0")
        except (OSError, ValueError):
            return False  # being written right now
        if pid and not _alive(pid):
            lock.unlink(missing_ok=True)
        return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


@torch.no_grad()
def _compute(large: nn.Module, data: Dataset, batch: int) -> Tensor:
    dev = next(large.parameters()).device
    out = []
    for b in DataLoader(data, batch_size=batch):
        x = b["mixture"].to(dev)
        spk = b["speaker"].to(dev) if "speaker" in b else None
        out.append(large.spectrogram(x, spk).cpu())
    return torch.cat(out)


def fill(large: nn.Module, data: Dataset, spec: dict[str, Any], root: Path, batch: int = 8,
         progress: bool = True, desc: str = "teacher cache", poll_s: float = 2.0) -> Tensor:
    """The large model's output spectrograms of every item of ``data``, [n, 2 n_out, T, F], computed
    where missing (chunks claimed so concurrent processes share the work) and read back from
    ``root/<fingerprint>/``. Waits for chunks other live processes are computing."""
    was_training = large.training
    large.eval()
    folder = Path(root) / fingerprint(large, spec)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(data)
    chunks = [(s, min(s + CHUNK_ITEMS, n)) for s in range(0, n, CHUNK_ITEMS)]
    path = {c: folder / f"items-{c[0]:06d}-{c[1]:06d}.pt" for c in chunks}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=desc, dynamic_ncols=True, file=sys.stderr)
    done: set[tuple[int, int]] = set()
    try:
        while len(done) < len(chunks):
            progressed = False
            for c in chunks:
                if c in done:
                    continue
                if path[c].exists():
                    done.add(c)
                elif _claim(lock := path[c].with_suffix(".lock")):
                    try:
                        if not path[c].exists():
                            spec_c = _compute(large, Subset(data, range(*c)), batch)
                            tmp = path[c].with_suffix(f".tmp{os.getpid()}")
                            torch.save(spec_c, tmp)
                            os.replace(tmp, path[c])
                    finally:
                        lock.unlink(missing_ok=True)
                    done.add(c)
                else:
                    continue
                progressed = True
                if bar is not None:
                    bar.update(c[1] - c[0])
            if not progressed and len(done) < len(chunks):
                time.sleep(poll_s)  # another live process holds the remaining chunks
    finally:
        if bar is not None:
            bar.close()
        large.train(was_training)
    parts = []
    for c in chunks:
        t = torch.load(path[c], map_location="cpu", weights_only=True)
        if not isinstance(t, Tensor) or t.shape[0] != c[1] - c[0]:
            raise ValueError(f"{path[c]}: corrupt teacher cache chunk (expected {c[1] - c[0]} items); delete it")
        parts.append(t)
    return torch.cat(parts)


class WithLargeSpec(Dataset):
    """Items of ``base`` with ``"large_spec"``: the cached large-model spectrogram of the item."""

    def __init__(self, base: Dataset, specs: Tensor) -> None:
        if len(base) != specs.shape[0]:
            raise ValueError(f"{len(base)} items but {specs.shape[0]} cached spectrograms")
        self.base, self.specs = base, specs

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {**self.base[i], "large_spec": self.specs[int(i)]}


def cached_sets(large: nn.Module, recipe, out: Path, progress: bool = True) -> dict[str, WithLargeSpec]:
    """The sets a ``teacher_cache`` recipe trains and validates on, with the large model's outputs
    (filled where missing): "train", a fixed pool of epoch 0's first ``teacher_cache`` mixtures, and
    "val". The cache lives in ``OUT/../teacher-cache``, shared by the runs next to ``out``."""
    from kboost_train.train import build_dataset

    root = Path(out).parent / "teacher-cache"
    specs = {"train": {**recipe.data_spec("train"), "n_items": recipe.train.teacher_cache},
             "val": recipe.data_spec("val")}
    sets = {}
    for split, spec in specs.items():
        data = build_dataset(spec)
        spectra = fill(large, data, spec, root, batch=recipe.eval.batch, progress=progress,
                      desc=f"teacher cache ({split})")
        sets[split] = WithLargeSpec(data, spectra)
    return sets


def main(argv: list[str] | None = None) -> int:
    """Fill a recipe's teacher cache from a spare process (the trainer reads what this wrote)."""
    from kboost_train.train import load_large, load_recipe, resolve_path
    from kboost_train import build_model

    p = argparse.ArgumentParser(prog="python -m kboost_train.teacher_cache", description=main.__doc__)
    p.add_argument("recipe")
    p.add_argument("--out", type=Path, default=None, help="the run directory the trainer uses (default runs/NAME)")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    recipe = load_recipe(a.recipe)
    out = a.out or Path("runs") / recipe.name
    joint = build_model(recipe.model_config())
    load_large(joint, resolve_path(recipe.model["large_checkpoint"], recipe))
    cached_sets(joint.large, recipe, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
