"""Every kernel table this CPU can run gives the PyTorch result on whole models: the SS small and
SS small+KB (device role, hints missing, so the fusion runs on zero hints) networks streamed
through the C++ core with KBOOST_KERNELS capping the table at ref, avx2 and avx512 in turn (the
table is chosen once per process, hence one subprocess per cap). The in-process parity tests
(test_core_*.py) cover the table chosen for this CPU; csrc/tests/test_kernels.cpp covers each
table's kernels alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = r"""
import json, sys
import numpy as np, torch
sys.path.insert(0, sys.argv[1])
from core_parity import assert_parity, core_config, core_stream, random_audio, randomize_, tensors, torch_step_loop
from kboost import _core
from kboost.config import get_config
from kboost_train.models import JointModel, TFGridNet

x = random_audio(120, 7)
torch.manual_seed(5)
small = randomize_(TFGridNet(get_config("ss-small")).eval(), 6)
want, _ = torch_step_loop(small, x)
got = core_stream(_core.Streamer(_core._testing.model_from_tensors(core_config(get_config("ss-small")), tensors(small))), x)
assert_parity(got, want, "ss-small")

cfg = get_config("ss-small-kb-d3-c1")
joint = randomize_(JointModel(cfg).eval(), 8)
device = _core._testing.model_from_tensors(core_config(cfg, "device"), tensors(joint, "small."))
print(json.dumps({"isa": _core.kernel_isa(), "kb_out": core_stream(_core.Streamer(device), x).tolist()}))
"""


def _run(cap: str) -> dict:
    env = dict(os.environ, KBOOST_KERNELS=cap)
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(Path(__file__).parent)], env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, f"KBOOST_KERNELS={cap}: {r.stderr[-3000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs() -> dict:
    return {cap: _run(cap) for cap in ("ref", "avx2", "avx512")}


def test_each_cap_matches_torch_and_the_others(runs):
    assert runs["ref"]["isa"] == "ref"
    # A cap never picks a wider table than it names; it may pick a narrower one on a CPU without it.
    assert runs["avx2"]["isa"] in ("avx2+fma", "ref")
    assert runs["avx512"]["isa"] in ("avx512", "avx2+fma", "ref")
    ref = np.array(runs["ref"]["kb_out"])
    for cap in ("avx2", "avx512"):
        got = np.array(runs[cap]["kb_out"])
        assert np.max(np.abs(got - ref)) <= 1e-4, f"{cap}: small+KB output differs from the reference table's"
