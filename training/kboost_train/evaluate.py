"""``kboost eval``: SI-SNRi and SNRi of trained models on a held-out test set, against hint delay.

Inputs are checkpoints (``.pt``, as written by ``kboost train``) and/or recipes (``.toml``). A recipe
contributes its ``[eval] checkpoints = [...]`` list (paths from the working directory, else from the
recipe's folder), or when that is empty its run's ``runs/<recipe name>/best.pt``; the test set is the
``[data]`` + ``[data.test]`` spec of the first recipe given, else of the recipe stored in the first
checkpoint (``--data RECIPE`` overrides both, ``--seed`` replaces the test spec's seed).

Each checkpoint takes a role from its config: ``small``, ``medium``, ``large`` (plain models: one
number each, independent of the delay) or ``small+KB`` (KB configs). How a KB model meets a delay:

* ``--mode per-delay`` (default, as in the paper): every KB checkpoint is evaluated at the delay it
  was trained for; delays asked for without such a model are left empty.
* ``--mode conditioned``: every KB checkpoint is evaluated at each delay of ``--delays``, the hints
  delayed and the fusion's feature alignment set to that delay (``kboost_train.train.kb_delay``); for
  models trained with ``random_delay``.

Metrics per test mixture (``kboost_train.losses.improvements``): SI-SNRi and SNRi in dB, averaged over
ears (and sources, after the PIT assignment, for SS); reported as mean and 95% CI (Student t) over
mixtures, separately for the ``real`` and ``synthetic`` speakers of the test set (the item's
``kind``) and for all. Writes ``results.md``, ``results.json`` and ``si_snri_vs_delay.png`` to
``--out``. Deterministic: the same checkpoints, data spec, seed and thread count give the same numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from kboost.config import KB_DELAYS, ModelConfig
from kboost_train.losses import improvements, mean_ci95
from kboost_train.train import (
    build_dataset,
    forward_batch,
    load_recipe,
    model_from_checkpoint,
    resolve_path,
    Recipe,
)

ROLE_ORDER = ("small", "medium", "large", "small+KB")


@dataclass
class Entry:
    """One evaluated (model, delay): per-example metrics and their group summaries."""

    label: str
    role: str
    checkpoint: str
    config: str
    delay: int | None  # None: a model without KB (no delay)
    per_item: dict[str, list[float]] = field(default_factory=dict)
    kinds: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        groups: dict[str, Any] = {}
        for kind in ["all", *sorted(set(self.kinds))]:
            idx = [i for i, k in enumerate(self.kinds) if kind in ("all", k)]
            groups[kind] = {"n": len(idx)}
            for m in ("si_snri", "snri"):
                mean, ci = mean_ci95([self.per_item[m][i] for i in idx])
                groups[kind][m] = {"mean": mean, "ci95": ci}
        return {"label": self.label, "role": self.role, "checkpoint": self.checkpoint, "config": self.config,
                "delay": self.delay, "groups": groups,
                # per test mixture, in test-set order: what --check compares (rounded to 1e-6 dB)
                "per_item": {m: [round(v, 6) for v in vals] for m, vals in self.per_item.items()}}


def parse_delays(text: str) -> list[int]:
    """'0-6' or '0,1,3,6' -> sorted delays in 0..6."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-"))
                out.update(range(lo, hi + 1))
            elif part.strip():
                out.add(int(part))
    except ValueError as e:
        raise ValueError(f"--delays: expected e.g. '0-6' or '0,1,3,6', got {text!r}") from e
    bad = sorted(out - set(KB_DELAYS))
    if bad or not out:
        raise ValueError(f"--delays: delays must be in 0..6 chunks, got {text!r}")
    return sorted(out)


def role_of(cfg: ModelConfig) -> str:
    return "small+KB" if cfg.kb is not None else cfg.size


def collect_inputs(inputs: list[str]) -> tuple[list[Path], Recipe | None]:
    """The checkpoint paths named by the inputs, and the first recipe among them."""
    ckpts: list[Path] = []
    first: Recipe | None = None
    for s in inputs:
        p = Path(s)
        if p.suffix == ".toml":
            r = load_recipe(p, training=False)
            first = first or r
            listed = r.raw.get("eval", {}).get("checkpoints", [])
            if listed:
                ckpts += [resolve_path(c, r) for c in listed]
            else:
                ckpts.append(Path("runs") / r.name / "best.pt")
        else:
            ckpts.append(p)
    for c in ckpts:
        if not c.is_file():
            raise FileNotFoundError(f"checkpoint {c} not found (train it first, or list it in [eval] checkpoints)")
    if not ckpts:
        raise ValueError("no checkpoints to evaluate")
    return ckpts, first


@torch.no_grad()
def evaluate_model(model, cfg: ModelConfig, loader: DataLoader, delay: int | None, bar=None,
                   teacher: list[torch.Tensor] | None = None) -> tuple[dict[str, list[float]], list[str]]:
    """Per-item metrics of one model at one delay. ``teacher``: a KB model's large-model output
    spectrogram per batch of ``loader``, filled on the first pass and reused by later passes (other
    delays, other checkpoints with the same frozen large model): the same numbers, one large forward."""
    metrics: dict[str, list[float]] = {"si_snri": [], "snri": []}
    kinds: list[str] = []
    for i, batch in enumerate(loader):
        if teacher is not None:
            if i == len(teacher):
                teacher.append(model.large_spec(batch["mixture"], batch.get("speaker")))
            batch = {**batch, "large_spec": teacher[i]}
        y = forward_batch(model, batch, delay=delay)
        m = improvements(cfg.task, y, batch["target"], batch["mixture"])
        for k in metrics:
            metrics[k] += m[k].double().tolist()
        kinds += list(batch.get("kind", ["unknown"] * y.shape[0]))
        if bar is not None:
            bar.update(1)
    return metrics, kinds


def evaluate(checkpoints: list[Path], data_spec: dict[str, Any], delays: list[int], mode: str = "per-delay",
             batch: int = 8, max_items: int = 0, progress: bool = True, share_teacher: bool = True) -> dict[str, Any]:
    """Evaluate every checkpoint on the test set; returns the JSON-able results (see module doc).
    ``share_teacher``: KB models whose large models have identical weights share one pass of it."""
    from kboost_train.teacher_cache import fingerprint

    if mode not in ("per-delay", "conditioned"):
        raise ValueError(f"mode must be 'per-delay' or 'conditioned', got {mode!r}")
    models = []
    task = None
    for path in checkpoints:
        model, cfg, _ = model_from_checkpoint(path)
        if task is not None and cfg.task != task:
            raise ValueError(f"{path}: task {cfg.task} differs from the other checkpoints' ({task})")
        task = cfg.task
        if data_spec.get("task", task) != task:
            raise ValueError(f"test data is for task {data_spec.get('task')}, {path} is a {task} model")
        role = role_of(cfg)
        if cfg.kb is None:
            runs = [None]
        elif mode == "per-delay":
            runs = [cfg.kb.delay] if cfg.kb.delay in delays else []
            if not runs:
                print(f"kboost eval: skipping {path}: trained for delay {cfg.kb.delay}, not among --delays "
                      f"{delays} (or use --mode conditioned)", file=sys.stderr)
        else:
            runs = list(delays)
        models.append((path, model, cfg, role, runs))
    if not any(runs for *_, runs in models):
        raise ValueError(f"nothing to evaluate: no model without KB, and no KB model trained for a delay in "
                         f"{delays} (per-delay mode; --mode conditioned runs KB models at any delay)")
    data_spec = {**data_spec, "task": data_spec.get("task", task)}
    test = build_dataset(data_spec)
    n = len(test) if max_items <= 0 else min(len(test), max_items)
    loader = DataLoader(test, batch_size=batch, sampler=range(n))
    n_batches = sum(len(r) for *_, r in models) * len(loader)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_batches, desc="eval", dynamic_ncols=True, file=sys.stderr)
    entries: list[Entry] = []
    teachers: dict[str, list[torch.Tensor]] = {}
    for path, model, cfg, role, runs in models:
        teacher = None
        if cfg.kb is not None and share_teacher and runs:
            teacher = teachers.setdefault(fingerprint(model.large, {}), [])
        for d in runs:
            label = role if cfg.kb is None else f"small+KB c{cfg.kb.compression}"
            e = Entry(label=label, role=role, checkpoint=str(path), config=cfg.name, delay=d)
            # In per-delay mode the model runs as built (its own delay); conditioned sets it.
            e.per_item, e.kinds = evaluate_model(model, cfg, loader, d if mode == "conditioned" else None, bar,
                                                 teacher)
            entries.append(e)
    if bar is not None:
        bar.close()
    # Two checkpoints of the same role: tell them apart by their file.
    owners: dict[str, set[str]] = {}
    for e in entries:
        owners.setdefault(e.label, set()).add(e.checkpoint)
    for e in entries:
        if len(owners[e.label]) > 1:
            p = Path(e.checkpoint)
            e.label = f"{e.label} [{p.parent.name}/{p.name}]"
    entries.sort(key=lambda e: (ROLE_ORDER.index(e.role), e.label, -1 if e.delay is None else e.delay))
    summaries = [e.summary() for e in entries]
    return {"task": task, "mode": mode, "delays": delays, "n_items": n, "data": data_spec,
            "entries": summaries, "comparisons": compare(entries, summaries)}


def compare(entries: list[Entry], summaries: list[dict[str, Any]], metric: str = "si_snri") -> list[dict[str, Any]]:
    """Each small+KB entry against each model without KB, on the same test mixtures: the paired
    difference (mean and 95% CI over mixtures) per speaker group, and whether the two models' own 95%
    intervals are disjoint (KB above: "kb_above"; below: "kb_below"; else "overlap"). ``summaries``:
    the entries' :meth:`Entry.summary`, in the same order."""
    out = []
    kb = [e for e in entries if e.role == "small+KB"]
    base = [e for e in entries if e.role != "small+KB"]
    groups_of_entry = {id(e): s["groups"] for e, s in zip(entries, summaries)}
    for k in kb:
        for b in base:
            groups = {}
            for kind in ["all", *sorted(set(k.kinds))]:
                idx = [i for i, x in enumerate(k.kinds) if kind in ("all", x)]
                diff = [k.per_item[metric][i] - b.per_item[metric][i] for i in idx]
                d_mean, d_ci = mean_ci95(diff)
                ks, bs = groups_of_entry[id(k)][kind][metric], groups_of_entry[id(b)][kind][metric]
                km, kc, bm, bc = ks["mean"], ks["ci95"], bs["mean"], bs["ci95"]
                verdict = "kb_above" if km - kc > bm + bc else "kb_below" if km + kc < bm - bc else "overlap"
                groups[kind] = {"diff": d_mean, "diff_ci95": d_ci, "intervals": verdict}
            out.append({"kb": k.label, "delay": k.delay, "baseline": b.label, "metric": metric, "groups": groups})
    return out


# ---------------------------------------------------------------------------------------------------
# Reports


def _cell(g: dict[str, Any], metric: str) -> str:
    m = g[metric]
    ci = "" if m["ci95"] != m["ci95"] else f" ± {m['ci95']:.2f}"  # NaN for n = 1
    return f"{m['mean']:.2f}{ci}"


def groups_of(results: dict[str, Any]) -> list[str]:
    kinds = {k for e in results["entries"] for k in e["groups"]}
    return [k for k in ("real", "synthetic") if k in kinds] + sorted(kinds - {"real", "synthetic", "all"}) + ["all"]


def markdown(results: dict[str, Any]) -> str:
    mode = ("one model per delay, each evaluated at the delay it was trained for" if results["mode"] == "per-delay"
            else "each KB model evaluated at every delay (hint delay and fusion alignment set at evaluation)")
    lines = [f"# {results['task'].upper()} test results", "",
             f"{results['n_items']} test mixtures; SI-SNRi / SNRi in dB, mean ± 95% CI over mixtures. "
             f"Small+KB: {mode}. Delay in chunks of 8 ms.", ""]
    delays = results["delays"]
    for kind in groups_of(results):
        rows = [e for e in results["entries"] if kind in e["groups"]]
        n = max(e["groups"][kind]["n"] for e in rows)
        lines += [f"## {kind} speakers ({n} mixtures)", "",
                  "SI-SNRi (dB) against hint delay:", "",
                  "| model | " + " | ".join(f"d={d}" for d in delays) + " |",
                  "|---|" + "---|" * len(delays)]
        labels = list(dict.fromkeys(e["label"] for e in rows))
        for label in labels:
            es = [e for e in rows if e["label"] == label]
            cells = []
            for d in delays:
                hit = [e for e in es if e["delay"] in (d, None)]
                cells.append(_cell(hit[0]["groups"][kind], "si_snri") if hit else "")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines += ["", "| model | delay | SI-SNRi (dB) | SNRi (dB) | n | checkpoint |", "|---|---|---|---|---|---|"]
        for e in rows:
            g = e["groups"][kind]
            d = "-" if e["delay"] is None else str(e["delay"])
            lines.append(f"| {e['label']} | {d} | {_cell(g, 'si_snri')} | {_cell(g, 'snri')} | {g['n']} | "
                         f"{Path(e['checkpoint']).name} ({e['config']}) |")
        lines.append("")
        comps = [c for c in results.get("comparisons", []) if kind in c["groups"]]
        if comps:
            lines += [f"small+KB minus each model without KB, {kind} speakers: paired SI-SNRi difference "
                      "(dB, mean ± 95% CI over the same mixtures); * = the two models' own 95% intervals "
                      "are disjoint with small+KB above", "",
                      "| small+KB | vs | " + " | ".join(f"d={d}" for d in delays) + " |",
                      "|---|---|" + "---|" * len(delays)]
            for kb_label in dict.fromkeys(c["kb"] for c in comps):
                for b_label in dict.fromkeys(c["baseline"] for c in comps):
                    cells = []
                    for d in delays:
                        hit = [c for c in comps if c["kb"] == kb_label and c["baseline"] == b_label and c["delay"] == d]
                        if not hit:
                            cells.append("")
                            continue
                        g = hit[0]["groups"][kind]
                        star = " *" if g["intervals"] == "kb_above" else ""
                        cells.append(f"{g['diff']:+.2f} ± {g['diff_ci95']:.2f}{star}")
                    lines.append(f"| {kb_label} | {b_label} | " + " | ".join(cells) + " |")
            lines.append("")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = groups_of(results)
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False, sharey=True)
    delays = results["delays"]
    per_delay = results.get("mode") == "per-delay"

    def series(e: dict) -> str:
        # Per-delay mode: the KB models of one family (one per delay) are one curve across delays.
        if per_delay and e["delay"] is not None:
            return e["label"].split(" [")[0] + " (a model per delay)"
        return e["label"]

    # One colour per series, the same in every panel (axhline does not advance the colour cycle).
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = list(dict.fromkeys(series(e) for e in results["entries"]))
    colour = {n: palette[i % len(palette)] for i, n in enumerate(names)}
    for ax, kind in zip(axes[0], kinds):
        rows = [e for e in results["entries"] if kind in e["groups"]]
        for name in dict.fromkeys(series(e) for e in rows):
            es = [e for e in rows if series(e) == name]
            if es[0]["delay"] is None:
                m = es[0]["groups"][kind]["si_snri"]
                ax.axhline(m["mean"], linestyle="--", color=colour[name], label=name)
                if m["ci95"] == m["ci95"]:
                    ax.axhspan(m["mean"] - m["ci95"], m["mean"] + m["ci95"], color=colour[name], alpha=0.12)
            else:
                es = sorted(es, key=lambda e: e["delay"])
                ax.errorbar([e["delay"] for e in es], [e["groups"][kind]["si_snri"]["mean"] for e in es],
                            yerr=[e["groups"][kind]["si_snri"]["ci95"] for e in es], marker="o", capsize=3,
                            color=colour[name], label=name)
        ax.set_title(f"{results['task'].upper()}, {kind} speakers")
        ax.set_xlabel("hint delay (chunks of 8 ms)")
        ax.set_xticks(delays)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("SI-SNRi (dB)")
    axes[0][-1].legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------
# CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="RECIPE_OR_CHECKPOINT",
                   help="checkpoints (.pt) and/or recipes (.toml) naming them")
    p.add_argument("--delays", default=None,
                   help="hint delays in chunks, e.g. 0-6 or 0,1,3,6 (default: the recipe's [eval] delays, else 0-6)")
    p.add_argument("--mode", choices=("per-delay", "conditioned"), default=None,
                   help="per-delay: each KB model at its own delay; conditioned: every KB model at every delay "
                        "(default: the recipe's [eval] mode, else per-delay)")
    p.add_argument("--data", default=None, metavar="RECIPE", help="take the test set from this recipe")
    p.add_argument("--seed", type=int, default=None, help="replace the test set's seed")
    p.add_argument("--max-items", type=int, default=0, help="evaluate at most this many test mixtures")
    p.add_argument("--batch", type=int, default=None, help="default: the recipe's [eval] batch, else 8")
    p.add_argument("--threads", type=int, default=1, help="torch threads (results depend on it in the last bits)")
    p.add_argument("--out", type=Path, default=Path("runs/eval"), help="output folder (default runs/eval)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--check", type=Path, default=None, metavar="RESULTS_JSON",
                   help="compare with committed results (per mixture; with --max-items N the first N): "
                        "exit 1 and list the differences unless they are reproduced")


CHECK_TOL_DB = 1e-4


def check(results: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """Differences between fresh results and a committed ``results.json`` (empty: reproduced). Every
    fresh entry must be in the reference (same checkpoint file name, config and delay) with the same
    per-mixture SI-SNRi and SNRi (within CHECK_TOL_DB) over the mixtures evaluated; over the whole test
    set the table's summaries must match too."""
    problems = []
    if results["data"] != reference["data"]:
        problems.append(f"test set differs: {results['data']} vs committed {reference['data']}")

    def key(e: dict[str, Any]) -> tuple[str, str, Any]:
        return Path(e["checkpoint"]).name, e["config"], e["delay"]

    ref = {}
    for e in reference["entries"]:
        ref.setdefault(key(e), []).append(e)
    for e in results["entries"]:
        cands = ref.get(key(e), [])
        # two checkpoints with one file name (runs/*/best.pt): match on the run folder too
        cands = [c for c in cands if Path(c["checkpoint"]).parent.name == Path(e["checkpoint"]).parent.name] or cands
        if not cands:
            problems.append(f"{e['label']} d={e['delay']}: not in the committed results")
            continue
        r = cands[0]
        for m, vals in e["per_item"].items():
            want = r["per_item"][m][: len(vals)]
            if len(want) < len(vals):
                problems.append(f"{e['label']} d={e['delay']}: committed results hold {len(want)} mixtures, "
                                f"evaluated {len(vals)}")
                break
            bad = [i for i, (a, b) in enumerate(zip(vals, want)) if abs(a - b) > CHECK_TOL_DB]
            if bad:
                i = bad[0]
                problems.append(f"{e['label']} d={e['delay']} {m}: {len(bad)} of {len(vals)} mixtures differ, "
                                f"first #{i}: {vals[i]:.6f} vs committed {want[i]:.6f}")
        if results["n_items"] == reference["n_items"]:
            for kind, g in e["groups"].items():
                for m in ("si_snri", "snri"):
                    a, b = g[m], r["groups"].get(kind, {}).get(m)
                    if b is None or f"{a['mean']:.2f} {a['ci95']:.2f}" != f"{b['mean']:.2f} {b['ci95']:.2f}":
                        problems.append(f"{e['label']} d={e['delay']} {kind} {m}: {a} vs committed {b}")
    return problems


def test_spec(ckpts: list[Path], recipe: Recipe | None, data: str | None, seed: int | None) -> dict[str, Any]:
    if data is not None:
        recipe = load_recipe(data, training=False)
    if recipe is not None:
        spec = recipe.data_spec("test")
    else:  # the recipe stored in the first checkpoint
        from kboost_train.train import load_checkpoint

        ck = load_checkpoint(ckpts[0])
        if "recipe" not in ck:
            raise ValueError(f"{ckpts[0]} carries no recipe: name the test data with --data RECIPE")
        raw = ck["recipe"]
        base = {k: v for k, v in raw["data"].items() if k not in ("train", "val", "test")}
        spec = {**base, **raw["data"].get("test", {}), "split": "test"}
        spec.setdefault("task", ModelConfig.from_dict(ck["config"]).task)
    if seed is not None:
        spec["seed"] = seed
    return spec


def run(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    ckpts, recipe = collect_inputs(args.inputs)
    ev = recipe.eval if recipe is not None else None
    delays = parse_delays(args.delays or (ev.delays if ev and ev.delays else "0-6"))
    mode = args.mode or (ev.mode if ev and ev.mode else "per-delay")
    batch = args.batch or (ev.batch if ev else 8)
    spec = test_spec(ckpts, recipe, args.data, args.seed)
    results = evaluate(ckpts, spec, delays, mode, batch, args.max_items, progress=not args.no_progress)
    if args.check is not None:
        if not args.check.is_file():
            raise FileNotFoundError(f"--check: {args.check} not found")
        problems = check(results, json.loads(args.check.read_text()))
        n = len(results["entries"])
        if problems:
            print(f"NOT reproduced: {len(problems)} difference(s) with {args.check}:", *problems, sep="\n  ")
            return 1
        print(f"reproduced: {n} entries x {results['n_items']} test mixtures match {args.check} "
              f"(per mixture within {CHECK_TOL_DB} dB{'' if args.max_items else '; table numbers identical'})")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    md = markdown(results)
    (args.out / "results.md").write_text(md + "\n")
    plot(results, args.out / "si_snri_vs_delay.png")
    print(md)
    print(f"wrote {args.out / 'results.md'}, results.json and si_snri_vs_delay.png")
    return 0
