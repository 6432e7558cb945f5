"""``kboost serve``: the hint server (large model + compression conv per connection)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from kboost.commands import add_engine_arguments, load_engine_from_args, setup_logging


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_engine_arguments(p, "server")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default loopback; any other address needs --token)")
    p.add_argument("--port", type=int, default=7878, help="TCP port (0: any free port, printed)")
    p.add_argument("--token", default=os.environ.get("KBOOST_TOKEN", ""),
                   help="auth token a device must send (default $KBOOST_TOKEN)")
    p.add_argument("--max-streams", type=int, default=64, help="refuse connections beyond this many")
    p.add_argument("--idle-timeout", type=float, default=10.0, help="close a silent connection after this (s)")
    p.add_argument("--workers", type=int, default=None, help="engine threads (default: CPU cores + 2)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def run(args: argparse.Namespace) -> int:
    from kboost.cli import CommandError
    from kboost.server import HintServer

    setup_logging(args.log_level)
    if not 0 <= args.port < 65536:
        raise CommandError(f"--port {args.port}: expected 0..65535")
    engine = load_engine_from_args(args, "server")
    try:
        server = HintServer(engine, args.host, args.port, args.token, max_streams=args.max_streams,
                            idle_timeout=args.idle_timeout, n_workers=args.workers)
    except ValueError as e:
        raise CommandError(str(e)) from e
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    try:
        host, port = server.start()
    except OSError as e:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {e}") from e
    ident = engine.identity
    print(f"kboost serve: listening on {host}:{port} ({engine.description}; task {ident.task}, "
          f"model id {ident.model_id}, hint {ident.n_hint_channels}x{ident.n_freq})", flush=True)
    done.wait()
    server.close()
    print(f"kboost serve: stopped: {server.stats()}", file=sys.stderr, flush=True)
    return 0
