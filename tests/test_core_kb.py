"""Knowledge boosting through the C++ core: the large model's C++ streamer (server role) makes the
hints, they are pushed into the small model's C++ streamer (device role) on a schedule with some
withheld (missing) and some pushed late, and the device output is compared with the PyTorch step
loop (JointModel.large_step / small_step) given the same schedule (zero hint where missing). Every
delay 0..6 x compression 1, 2, 4, 2 s each; the output must not depend on how chunks are grouped
between hint pushes (1, 2, 7 chunks)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from core_parity import assert_parity, chunk, core_config, random_audio, randomize_, tensors, torch_step_loop
from kboost import _core
from kboost.config import get_config
from kboost_train.models import JointModel

N_CHUNKS = 250  # 2 s
SEED = 200


def withheld(j: int) -> bool:
    return j % 5 == 1


def pushed_late(j: int) -> bool:
    return not withheld(j) and j % 7 == 3


def on_time(j: int) -> bool:
    return not withheld(j) and not pushed_late(j)


@functools.lru_cache(maxsize=None)
def _joint(task: str, delay: int, compression: int) -> JointModel:
    """Same large model for every case of a task (seeded), its own compression and small model."""
    cfg = get_config(f"{task}-small-kb-d{delay}-c{compression}")
    torch.manual_seed(SEED)
    joint = JointModel(cfg).eval()
    randomize_(joint.large, SEED + 1)
    torch.manual_seed(SEED + 10 * compression)
    joint.compress.conv.conv.reset_parameters()
    randomize_(joint.compress, SEED + 2 + compression)
    torch.manual_seed(SEED + 100 * delay + compression)
    for m in joint.small.modules():
        if hasattr(m, "reset_parameters") and m is not joint.small:
            m.reset_parameters()
    randomize_(joint.small, SEED + 3 + 10 * delay + compression)
    return joint


@functools.lru_cache(maxsize=None)
def _inputs(task: str):
    x = random_audio(N_CHUNKS, SEED + 4)
    spk = np.random.default_rng(SEED + 5).standard_normal(256).astype(np.float32) if task == "tse" else None
    return x, spk


@functools.lru_cache(maxsize=None)
def _large_spec(task: str) -> np.ndarray:
    """The torch large model's output spectrogram frames [T, 2 n_out, 97], shared by all cases."""
    x, spk = _inputs(task)
    return torch_step_loop(_joint(task, 0, 1).large, x, spk)[1]


@functools.lru_cache(maxsize=None)
def _torch_hints(task: str, compression: int) -> np.ndarray:
    """JointModel.large_step's hints [T, C_h, 97]: the compression step over the large model's frames."""
    joint = _joint(task, 0, compression)
    state = joint.compress.init_state(1)
    hints = []
    with torch.no_grad():
        for spec in _large_spec(task):
            e, state = joint.compress.step(torch.from_numpy(spec)[None, :, None], state)
            hints.append(e[0].numpy())
    return np.stack(hints)


@functools.lru_cache(maxsize=None)
def _core_hints(task: str, compression: int) -> np.ndarray:
    """The hints of the C++ server streamer (large model + compression) [T, C_h, 97]."""
    joint = _joint(task, 0, compression)
    cfg = joint.cfg
    server = _core._testing.model_from_tensors(
        core_config(cfg, "server"),
        {**tensors(joint, "large."), **{k: v for k, v in tensors(joint).items() if k.startswith("compress.")}})
    s = _core.Streamer(server)
    x, spk = _inputs(task)
    if spk is not None:
        s.set_speaker(spk)
    hints = [s.process_chunk_with_hint(chunk(x, k))[1] for k in range(N_CHUNKS)]
    return np.stack(hints)


def _torch_device(task: str, delay: int, compression: int) -> np.ndarray:
    joint = _joint(task, delay, compression)
    hints = _torch_hints(task, compression)
    x, spk = _inputs(task)
    out = []
    with torch.no_grad():
        state = joint.small.init_state(1, None if spk is None else torch.from_numpy(spk)[None])
        for k in range(N_CHUNKS):
            j = k - delay
            hint = torch.from_numpy(hints[j])[None] if j >= 0 and on_time(j) else None
            y, state = joint.small.step(torch.from_numpy(chunk(x, k))[None], state, hint)
            out.append(y[0].numpy())
    return np.concatenate(out, axis=1)


def _core_device(task: str, delay: int, compression: int, group: int) -> tuple[np.ndarray, dict]:
    """Device streamer; before each group of `group` chunks, push the on-time hints that group needs;
    after it, push the late ones whose chunk has passed (refused), plus a duplicate, a far-future and
    a wrong-size hint now and then (all refused)."""
    joint = _joint(task, delay, compression)
    device = _core._testing.model_from_tensors(core_config(joint.cfg, "device"), tensors(joint, "small."))
    s = _core.Streamer(device, hint_ring_size=32)
    x, spk = _inputs(task)
    if spk is not None:
        s.set_speaker(spk)
    hints = _core_hints(task, compression)
    out, n_refused = [], {"late": 0, "duplicate": 0, "future": 0, "bad_size": 0}
    pushed = set()
    for k0 in range(0, N_CHUNKS, group):
        k1 = min(k0 + group, N_CHUNKS)
        for j in range(max(0, k0 - delay), k1 - delay):  # needed at chunks k0 .. k1-1
            if on_time(j) and j not in pushed:
                assert s.push_hint(j, hints[j]), f"hint {j} refused at chunk {s.chunk_index}"
                pushed.add(j)
        if k0 % 3 == 0 and pushed:
            j = max(pushed)
            if j + delay >= k0:  # still waiting in the ring: a duplicate
                assert not s.push_hint(j, hints[j])
                n_refused["duplicate"] += 1
            assert not s.push_hint(k0 + 1000, hints[0])
            n_refused["future"] += 1
            assert not s.push_hint(k0, hints[0][:1])
            n_refused["bad_size"] += 1
        for k in range(k0, k1):
            out.append(s.process_chunk(chunk(x, k)))
        for j in range(max(0, k0 - delay), k1 - delay):  # their chunk has been processed
            if pushed_late(j):
                assert not s.push_hint(j, hints[j])
                n_refused["late"] += 1
    st = s.stats()
    for key, n in n_refused.items():
        assert st[f"hints_{key}"] == n, (key, st)
    n_used = sum(on_time(j) for j in range(N_CHUNKS - delay))
    assert (st["hints_used"], st["hints_missing"]) == (n_used, N_CHUNKS - delay - n_used), st
    return np.concatenate(out, axis=1), st


@pytest.mark.parametrize("compression", [1, 2, 4])
def test_server_hints_match_torch_large_step(compression):
    assert_parity(_core_hints("ss", compression), _torch_hints("ss", compression), f"server hints c={compression}")


CASES = [("ss", d, c) for d in range(7) for c in (1, 2, 4)] + [("tse", 3, 2)]


@pytest.mark.parametrize(("task", "delay", "compression"), CASES)
def test_device_with_pushed_hints_matches_torch(task, delay, compression):
    want = _torch_device(task, delay, compression)
    outs = [_core_device(task, delay, compression, group)[0] for group in (1, 2, 7)]
    assert_parity(outs[0], want, f"{task} KB d={delay} c={compression}")
    for group, o in zip((2, 7), outs[1:]):
        np.testing.assert_array_equal(o, outs[0], err_msg=f"grouping {group} chunks changed the output")
