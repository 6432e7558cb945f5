"""``kboost data {build,info}``: the offline data cache (see kboost_train.data.build)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from kboost_train.data import build

    sub = parser.add_subparsers(dest="data_command", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="download, decode and synthesise the speech/noise cache (minutes)")
    build.add_arguments(b)
    b.set_defaults(_run=build.run)
    i = sub.add_parser("info", help="what a built cache holds (speakers, minutes, held-out lists)")
    i.add_argument("--cache", type=Path, default=None, help="cache directory (default: $KBOOST_DATA or "
                   "~/.cache/kboost/data)")
    i.set_defaults(_run=_info)


def _info(args) -> int:
    import json

    from kboost_train.data.build import summary
    from kboost_train.data.store import default_cache_dir

    cache = (args.cache or default_cache_dir()).expanduser()
    path = cache / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run kboost data build --cache {cache}")
    print(f"{cache}:\n{summary(json.loads(path.read_text()))}")
    return 0


def run(args) -> int:
    return int(args._run(args) or 0)
