"""kboost eval: tables / JSON / plot, real vs synthetic groups, delay modes, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kboost.cli import main as cli_main
from kboost_train.evaluate import evaluate, parse_delays
from kboost_train.losses import improvements
from kboost_train.train import load_recipe, model_from_checkpoint, train, build_dataset

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for name in ("tiny-ss", "tiny-ss-kb"):
        r = load_recipe(CONFIGS / f"{name}.toml")
        r.train.epochs = 1
        train(r, root / name, progress=False)
        out[name] = root / name / "best.pt"
    return out


def test_parse_delays():
    assert parse_delays("0-6") == list(range(7))
    assert parse_delays("0,1,3,6") == [0, 1, 3, 6]
    assert parse_delays("1-2,5") == [1, 2, 5]
    for bad in ("7", "a-b", "", "3-9"):
        with pytest.raises(ValueError, match="--delays"):
            parse_delays(bad)


def test_eval_cli_writes_reports_and_is_deterministic(runs, tmp_path, capsys):
    args = [str(runs["tiny-ss"]), str(runs["tiny-ss-kb"]), "--delays", "0-2", "--no-progress", "--seed", "5"]
    assert cli_main(["eval", *args, "--out", str(tmp_path / "a")]) == 0
    assert cli_main(["eval", *args, "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert a == b  # same seed, same numbers
    assert (tmp_path / "a" / "si_snri_vs_delay.png").stat().st_size > 1000
    md = (tmp_path / "a" / "results.md").read_text()
    assert "## real speakers" in md and "## synthetic speakers" in md and "| small+KB c2 |" in md
    # per-delay mode: the d1 KB model appears at delay 1 only; the small baseline once, no delay.
    kb = [e for e in a["entries"] if e["role"] == "small+KB"]
    assert [e["delay"] for e in kb] == [1]
    small = [e for e in a["entries"] if e["role"] == "small"]
    assert [e["delay"] for e in small] == [None]
    g = small[0]["groups"]
    assert g["real"]["n"] + g["synthetic"]["n"] == g["all"]["n"] == 6
    # Another seed draws other test mixtures: other numbers.
    assert cli_main(["eval", *args[:-1], "6", "--out", str(tmp_path / "c")]) == 0
    c = json.loads((tmp_path / "c" / "results.json").read_text())
    assert c["entries"][0]["groups"]["all"]["si_snri"] != a["entries"][0]["groups"]["all"]["si_snri"]


def test_eval_numbers_match_a_direct_computation(runs):
    spec = load_recipe(CONFIGS / "tiny-ss.toml").data_spec("test")
    res = evaluate([runs["tiny-ss"]], spec, [0], progress=False)
    model, cfg, _ = model_from_checkpoint(runs["tiny-ss"])
    ds = build_dataset(spec)
    vals = []
    with torch.no_grad():
        for i in range(len(ds)):
            it = ds[i]
            y = model(it["mixture"][None])
            vals.append(improvements("ss", y, it["target"][None], it["mixture"][None])["si_snri"].item())
    got = res["entries"][0]["groups"]["all"]["si_snri"]["mean"]
    assert got == pytest.approx(sum(vals) / len(vals), abs=1e-4)


def test_conditioned_mode_evaluates_every_delay(runs):
    spec = load_recipe(CONFIGS / "tiny-ss-kb.toml").data_spec("test")
    res = evaluate([runs["tiny-ss-kb"]], spec, [0, 3, 6], mode="conditioned", max_items=2, progress=False)
    kb = res["entries"]
    assert [e["delay"] for e in kb] == [0, 3, 6]
    # The hints and the alignment really change with the delay.
    assert len({e["groups"]["all"]["si_snri"]["mean"] for e in kb}) == 3


def test_eval_errors(runs, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        evaluate([tmp_path / "missing.pt"], {}, [0], progress=False)
    assert cli_main(["eval", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "x")]) == 2
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert cli_main(["eval", str(bad), "--out", str(tmp_path / "x")]) == 2


def test_shared_teacher_pass_gives_the_same_numbers(runs):
    """KB models evaluated at several delays reuse one large-model pass: identical results to running
    the large model inside every forward."""
    spec = load_recipe(CONFIGS / "tiny-ss-kb.toml").data_spec("test")
    kw = dict(mode="conditioned", max_items=4, batch=2, progress=False)
    shared = evaluate([runs["tiny-ss-kb"]], spec, [0, 2], **kw)
    alone = evaluate([runs["tiny-ss-kb"]], spec, [0, 2], share_teacher=False, **kw)
    assert shared["entries"] == alone["entries"]


def test_check_reproduces_committed_results_and_names_differences(runs, tmp_path, capsys):
    args = [str(runs["tiny-ss"]), str(runs["tiny-ss-kb"]), "--delays", "0-2", "--mode", "conditioned", "--no-progress"]
    assert cli_main(["eval", *args, "--out", str(tmp_path / "ref")]) == 0
    ref = tmp_path / "ref" / "results.json"
    capsys.readouterr()
    assert cli_main(["eval", *args, "--check", str(ref)]) == 0
    assert "reproduced: 4 entries x 6 test mixtures" in capsys.readouterr().out
    assert cli_main(["eval", *args, "--max-items", "2", "--check", str(ref)]) == 0  # a prefix is checked
    # A committed number that the checkpoints do not give is reported, with the mixture.
    data = json.loads(ref.read_text())
    data["entries"][1]["per_item"]["si_snri"][3] += 0.01
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert cli_main(["eval", *args, "--check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "NOT reproduced" in out and "first #3" in out
    # Another test seed is another test set.
    assert cli_main(["eval", *args, "--seed", "7", "--check", str(ref)]) == 1
    assert "test set differs" in capsys.readouterr().out


def test_recipe_sets_mode_and_delays(runs, tmp_path):
    """An evaluation recipe's [eval] mode / delays are what `kboost eval RECIPE` uses; flags override."""
    r = tmp_path / "eval.toml"
    spec = (CONFIGS / "tiny-ss-kb.toml").read_text().split("[data]", 1)[1].split("[train]", 1)[0]
    r.write_text(f'[data]{spec}[eval]\nbatch = 2\nmode = "conditioned"\ndelays = "0,2"\n'
                 f'checkpoints = ["{runs["tiny-ss-kb"]}"]\n')
    assert cli_main(["eval", str(r), "--no-progress", "--out", str(tmp_path / "a")]) == 0
    a = json.loads((tmp_path / "a" / "results.json").read_text())
    assert a["mode"] == "conditioned" and [e["delay"] for e in a["entries"]] == [0, 2]
    assert cli_main(["eval", str(r), "--mode", "per-delay", "--delays", "1", "--no-progress",
                     "--out", str(tmp_path / "b")]) == 0
    b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert b["mode"] == "per-delay" and [e["delay"] for e in b["entries"]] == [1]
    # per-delay at delays the only (d1) model was not trained for: nothing to evaluate, said so
    assert cli_main(["eval", str(r), "--mode", "per-delay", "--no-progress", "--out", str(tmp_path / "x")]) == 2
    r.write_text(r.read_text().replace('"conditioned"', '"both"'))
    assert cli_main(["eval", str(r), "--no-progress", "--out", str(tmp_path / "c")]) == 2


def test_kb_is_compared_with_each_baseline_on_the_same_mixtures(runs):
    spec = load_recipe(CONFIGS / "tiny-ss.toml").data_spec("test")
    res = evaluate([runs["tiny-ss"], runs["tiny-ss-kb"]], spec, [0, 1], mode="conditioned", progress=False)
    small = next(e for e in res["entries"] if e["role"] == "small")
    comps = res["comparisons"]
    assert [(c["baseline"], c["delay"]) for c in comps] == [("small", 0), ("small", 1)]
    for c in comps:
        kb = next(e for e in res["entries"] if e["role"] == "small+KB" and e["delay"] == c["delay"])
        diff = [a - b for a, b in zip(kb["per_item"]["si_snri"], small["per_item"]["si_snri"])]
        assert c["groups"]["all"]["diff"] == pytest.approx(sum(diff) / len(diff), abs=1e-5)
        k, s = kb["groups"]["all"]["si_snri"], small["groups"]["all"]["si_snri"]
        above = k["mean"] - k["ci95"] > s["mean"] + s["ci95"]
        below = k["mean"] + k["ci95"] < s["mean"] - s["ci95"]
        assert c["groups"]["all"]["intervals"] == ("kb_above" if above else "kb_below" if below else "overlap")
    from kboost_train.evaluate import markdown

    assert "| small+KB c2 | small | " in markdown(res)
