#!/usr/bin/env python3
"""Protocol fuzz run against a live hint server on loopback (issue 5's acceptance: >= 10k malformed
streams, zero crashes, the server still serving a well-behaved stream afterwards).

    python scripts/fuzz_protocol.py --n 12000 [--seed 0]

Uses a tiny random PyTorch reference model (needs torch). Each malformed stream (a valid stream with
bytes flipped, cut, inserted, frames repeated out of order, lengths rewritten or oversized, or pure
noise; tests/protocol_fuzz.py) goes on its own connection. Prints the server's counters, the answers
seen, and the check of a well-behaved stream afterwards; exit status 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=12000, help="malformed streams to send")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(1)
    from kboost.realtime import run_device
    from protocol_fuzz import fuzz_server
    from runtime_helpers import hello_for, make_signal, reference_output, running_server, tiny_engines

    def rss_mb() -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    joint, source, device = tiny_engines(1)
    t0 = time.monotonic()
    with running_server(source, idle_timeout=2.0) as srv:
        # a first tenth warms every code path up; the RSS growth over the other nine tenths shows
        # whether connections leak (the server and the fuzzing client share this process)
        n_warm = args.n // 10
        outcome = fuzz_server(srv.port, hello_for(device.identity), n=n_warm, seed=args.seed)
        rss_warm = rss_mb()
        outcome += fuzz_server(srv.port, hello_for(device.identity), n=args.n - n_warm, seed=args.seed + 1)
        rss_end = rss_mb()
        t_fuzz = time.monotonic() - t0
        x = make_signal(125)
        out, stats = run_device(device.open_stream(), x, ("127.0.0.1", srv.port), wait_hint_s=5.0,
                                connect_wait_s=5.0)
        err = float(np.abs(out - reference_output(joint, x)).max())
        time.sleep(0.2)
        st = srv.stats()
    ok = (outcome["streams"] == args.n and st.get("engine_errors", 0) == 0 and err <= 1e-4
          and stats.counters["hints_used"] == 124 and st["active_streams"] == 0)
    res = {"malformed_streams": outcome["streams"], "bytes_sent": outcome["bytes"], "seconds": round(t_fuzz, 1),
           "server_answers": {k: v for k, v in outcome.items() if k not in ("streams", "bytes")},
           "server_stats": st, "process_rss_mb_after_first_tenth": rss_warm, "process_rss_mb_at_end": rss_end,
           "good_stream_max_abs_vs_reference": err,
           "good_stream_hints_used": stats.counters["hints_used"], "ok": ok}
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    print(f"fuzz: {args.n} malformed streams in {t_fuzz:.1f} s; protocol errors {st.get('protocol_errors', 0)}, "
          f"refused {sum(v for k, v in st.items() if k.startswith('refused.'))}, engine errors "
          f"{st.get('engine_errors', 0)}; process RSS {rss_warm:.1f} -> {rss_end:.1f} MB; well-behaved stream afterwards: max-abs {err:.2e} -> "
          f"{'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
