"""The runtime's sub-commands (``kboost serve``, ``kboost run``, ``kboost demo``); none imports torch
unless asked for the PyTorch reference with ``--reference``."""

from __future__ import annotations

import argparse
import logging


def add_engine_arguments(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", metavar="FILE.gguf",
                   help=f"the {what} weights file (kboost export), run by the C++ core")
    g.add_argument("--reference", metavar="CKPT_OR_CONFIG",
                   help="run the PyTorch reference instead (needs torch): a KB training checkpoint (.pt), "
                        "or a KB config name such as ss-small-kb-d3-c1 for RANDOM weights from --seed")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights of --reference CONFIG")


def load_engine_from_args(args: argparse.Namespace, role: str):
    from kboost.cli import CommandError
    from kboost.engine import load_engine

    try:
        return load_engine(role, model=args.model, reference=args.reference, seed=args.seed)
    except RuntimeError as e:
        raise CommandError(str(e)) from e


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level.upper()), format="%(asctime)s %(name)s %(levelname)s %(message)s")
