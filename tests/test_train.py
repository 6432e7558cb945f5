"""kboost train: recipes, exact resume, a joint KB run that learns, 2-process DDP with torchrun."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kboost_train.train import hint_mask, load_checkpoint, load_recipe, train, TrainOptions

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"
TINY = CONFIGS / "tiny-ss.toml"
TINY_KB = CONFIGS / "tiny-ss-kb.toml"


def _recipe(tmp_path: Path, base: Path, train_extra: str = "", replace: dict[str, str] | None = None) -> Path:
    """A copy of a tiny recipe with lines added to [train] and text replaced."""
    text = base.read_text().replace("[train]\n", "[train]\n" + train_extra)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    p = tmp_path / base.name
    p.write_text(text)
    return p


def _log(out: Path) -> list[dict[str, str]]:
    with open(out / "log.csv") as f:
        return list(csv.DictReader(f))


def test_recipe_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"\[train\]: unknown keys \['batchsize'\]"):
        load_recipe(_recipe(tmp_path, TINY, "batchsize = 4\n"))
    with pytest.raises(ValueError, match=r"\[train\] epochs must be an integer"):
        load_recipe(_recipe(tmp_path, TINY, replace={"epochs = 2": 'epochs = "two"'}))
    with pytest.raises(ValueError, match="large_checkpoint"):
        load_recipe(_recipe(tmp_path, TINY_KB, replace={'large_checkpoint = "none"': ""}))
    with pytest.raises(ValueError, match="need a KB config"):
        load_recipe(_recipe(tmp_path, TINY, "hint_drop = 0.2\n"))
    with pytest.raises(ValueError, match="unknown config"):
        load_recipe(_recipe(tmp_path, TINY, replace={'config = "ss-small"': 'config = "ss-huge"'}))
    with pytest.raises(FileNotFoundError):
        load_recipe(tmp_path / "nope.toml")


def test_hint_mask_drops_runs_of_frames():
    opts = TrainOptions(hint_drop=0.5, hint_drop_examples=1.0, hint_burst=1)
    g = torch.Generator().manual_seed(0)
    m = hint_mask(64, 200, opts, g)
    assert m.shape == (64, 200) and set(m.unique().tolist()) <= {0.0, 1.0}
    missing = 1 - m.mean().item()
    assert 0.15 < missing < 0.35  # p ~ U(0, 0.5) per example: 25% on average
    assert hint_mask(4, 10, TrainOptions(), g) is None
    runs = hint_mask(8, 300, TrainOptions(hint_drop=0.05, hint_drop_examples=1.0, hint_burst=4),
                     torch.Generator().manual_seed(3))
    assert runs.min() == 0 and runs.max() == 1


def _final(out: Path) -> dict:
    ck = load_checkpoint(out / "last.pt")
    return ck


def test_resume_continues_exactly(tmp_path):
    """Stopping mid-epoch and resuming gives bit-identical weights, optimiser state and log."""
    recipe = load_recipe(TINY_KB)  # KB with randomised hint loss: the per-step RNG is exercised
    train(recipe, tmp_path / "full", progress=False)
    s = train(recipe, tmp_path / "split", stop_after=4, progress=False)
    assert s["stopped"] and s["global_step"] == 4
    assert load_checkpoint(tmp_path / "split" / "last.pt")["step_in_epoch"] == 1
    s = train(recipe, tmp_path / "split", resume=True, progress=False)
    assert not s["stopped"] and s["global_step"] == 6
    a, b = _final(tmp_path / "full"), _final(tmp_path / "split")
    assert a["model"].keys() == b["model"].keys()
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in sa:
        for k in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(sa[i][k], sb[i][k]), (i, k)
    assert a["scheduler"] == b["scheduler"]
    la, lb = _log(tmp_path / "full"), _log(tmp_path / "split")
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]
    # And training moved the weights at all.
    init = train(load_recipe(_recipe(tmp_path, TINY_KB, replace={"epochs = 2": "epochs = 1",
                                                                  "steps_per_epoch = 3": "steps_per_epoch = 1"})),
                 tmp_path / "one", progress=False)
    assert init["global_step"] == 1
    assert not torch.equal(_final(tmp_path / "one")["model"]["small.decoder.deconv.weight"],
                           a["model"]["small.decoder.deconv.weight"])


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(load_recipe(TINY), tmp_path / "none", resume=True, progress=False)


def test_joint_training_overfits_a_fixed_batch(tmp_path):
    """A tiny joint KB model (large model with attention + compression + small model with fusion)
    drives the PIT SI-SDR loss down on the same 2 examples."""
    recipe = load_recipe(_recipe(tmp_path, TINY_KB, replace={
        "n_items = 16": "n_items = 2", "epochs = 2": "epochs = 1", "steps_per_epoch = 3": "steps_per_epoch = 40",
        "lr = 3e-3": "lr = 1e-2", "hint_drop = 0.3": "hint_drop = 0.0", "checkpoint_every = 2": "checkpoint_every = 0"}))
    train(recipe, tmp_path / "fit", progress=False)
    losses = [float(r["loss"]) for r in _log(tmp_path / "fit") if r["phase"] == "train"]
    assert len(losses) == 40
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 5.0, (first, last)  # at least 5 dB of SI-SDR gained on the batch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_keep_identical_weights(tmp_path):
    """torchrun --nproc_per_node=2 (gloo on loopback): both ranks end with the same weights, which
    match a single-process run with the same global batch."""
    # 5 validation items: the ranks' validation shards differ in length (3 and 2).
    recipe = _recipe(tmp_path, TINY_KB, "rank_weights = true\n", replace={"n_items = 4": "n_items = 5"})
    env = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--nnodes=1",
           "--master_addr=127.0.0.1", f"--master_port={_free_port()}",
           "-m", "kboost", "train", str(recipe), "--out", str(tmp_path / "ddp"), "--no-progress"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    w0 = torch.load(tmp_path / "ddp" / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "ddp" / "rank1.pt", weights_only=True)
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    ck = load_checkpoint(tmp_path / "ddp" / "last.pt")
    assert ck["world_size"] == 2 and ck["global_step"] == 6
    train(load_recipe(recipe), tmp_path / "single", progress=False)
    single = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)
    v_ddp = torch.cat([w0[k].flatten() for k in w0])
    v_one = torch.cat([single[k].flatten() for k in w0])
    assert (v_ddp - v_one).norm() < 1e-3 * v_one.norm()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_committed_recipes_parse(path):
    """Every recipe in training/configs is valid (evaluation recipes: [data] + [eval] checkpoints)."""
    evaluation = path.stem.endswith("-eval")
    r = load_recipe(path, training=not evaluation)
    if evaluation:
        assert r.eval.checkpoints
        assert r.data_spec("test")["task"] in ("ss", "tse", "se")
    else:
        cfg = r.model_config()
        assert r.data_spec("train")["task"] == cfg.task
        t = r.train
        # The reduced recipes of docs/training.md.
        if path.stem.endswith("-r2k"):
            assert (t.batch, t.epochs * t.steps_per_epoch, r.data_spec("train")["clip_seconds"]) == (4, 2000, 2.0)
            assert t.freeze_large == (cfg.kb is not None)
        elif not path.stem.startswith("tiny"):  # the paper's recipe (SPEC.md section 5)
            assert (t.batch, t.lr, t.clip, t.lr_patience, t.lr_factor, t.lr_min) == (8, 1e-3, 1.0, 4, 0.5, 1e-6)
            assert t.epochs == (20 if cfg.kb is not None else 100)


def test_freeze_large_keeps_the_large_model_fixed(tmp_path):
    recipe = load_recipe(_recipe(tmp_path, TINY_KB, "freeze_large = true\n",
                                 replace={"epochs = 2": "epochs = 1", "steps_per_epoch = 3": "steps_per_epoch = 2"}))
    torch.manual_seed(recipe.train.seed)
    from kboost_train import build_model

    init = build_model(recipe.model_config()).state_dict()  # what train() builds before any step
    train(recipe, tmp_path / "frozen", progress=False)
    after = load_checkpoint(tmp_path / "frozen" / "last.pt")["model"]
    assert all(torch.equal(after[k], init[k]) for k in init if k.startswith("large."))
    assert not torch.equal(after["compress.conv.conv.weight"], init["compress.conv.conv.weight"])
    assert not torch.equal(after["small.decoder.deconv.weight"], init["small.decoder.deconv.weight"])


@pytest.mark.parametrize("task", ["tse", "se"])
def test_tse_and_se_train_and_validate(tmp_path, task):
    """The TSE speaker embedding and the per-ear SI-SDR loss go through the same loop."""
    recipe = load_recipe(_recipe(tmp_path, TINY_KB, replace={
        'config = "ss-small-kb-d1-c2"': f'config = "{task}-small-kb-d1-c2"', 'task = "ss"': f'task = "{task}"',
        "epochs = 2": "epochs = 1", "steps_per_epoch = 3": "steps_per_epoch = 2"}))
    s = train(recipe, tmp_path / task, progress=False)
    assert s["global_step"] == 2 and s["best_si_snri"] > -100
    ck = load_checkpoint(tmp_path / task / "best.pt")
    assert ck["config"]["task"] == task
    if task == "tse":
        assert any(k.startswith("small.speaker_films.") for k in ck["model"])
        assert any(k.startswith("large.speaker_films.") for k in ck["model"])
