"""The ``kboost`` command line.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``
and is imported only when used, so ``kboost serve`` / ``kboost run`` never import torch. Commands
whose module lives in ``kboost_train`` need the training extra (``pip install kboost[train]``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

# name -> (module, one-line help). Keep sorted by the order a user meets them.
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("kboost_train.info", "parameters, MACs per chunk and hint payload of a model config"),
    "data": ("kboost_train.data.cli", "the offline speech/noise cache: kboost data build / kboost data info"),
    "train": ("kboost_train.train", "train a model from a recipe (pre-training, baselines, joint KB; torchrun for DDP)"),
    "eval": ("kboost_train.evaluate", "SI-SNRi / SNRi of checkpoints vs hint delay: markdown, JSON and a plot"),
    "export": ("kboost_train.export", "write the weights file (GGUF) of a checkpoint for the C++ core"),
    "export-onnx": ("kboost_train.onnx_export", "export the streaming step (state as inputs/outputs) to ONNX"),
    "bench": ("kboost_train.bench", "per-chunk latency of kboost vs PyTorch eager and ONNX Runtime"),
    "serve": ("kboost.commands.serve", "the hint server: large model + compression per connection over TCP"),
    "run": ("kboost.commands.run", "the device loop over a WAV file or live audio, boosted by a hint server"),
    "demo": ("kboost.commands.demo", "end-to-end demo: hint server on loopback, device at delay 3 and alone, report"),
}


# Environment a command needs before its libraries load (setdefault: the caller's values win).
# kboost bench: one thread for the helper pools too (OpenMP, OpenBLAS, MKL), read once when numpy
# and torch load; their idle workers spin on this 2-core machine's other core and slowed torch's
# eager step by ~11% in an otherwise one-thread run.
COMMAND_ENV: dict[str, dict[str, str]] = {
    "bench": {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
}


class CommandError(Exception):
    """A user error: printed as 'kboost CMD: error: MESSAGE', exit status 2."""


def _load(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name in ("torch", "kboost_train") or (e.name or "").startswith("torch"):
            raise CommandError(
                f"this command needs the training extra ({e.name} is not installed): "
                "pip install 'kboost[train]'"
            ) from e
        raise


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kboost", description="knowledge boosting runtime and tools")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    # Only the module of the chosen command is imported (its arguments are needed to parse).
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_)
        if name == chosen:
            for key, value in COMMAND_ENV.get(name, {}).items():
                os.environ.setdefault(key, value)
            mod = _load(module)
            p.set_defaults(_module=mod)
            mod.add_arguments(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        return int(args._module.run(args) or 0)
    except CommandError as e:
        print(f"kboost: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        print(f"kboost: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
