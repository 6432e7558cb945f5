"""The network runtime over the C++ core's engines (kboost._core.Model / Streamer): exported tiny
weights served and run through a real socket equal the PyTorch in-process reference, alone and
mixed with the PyTorch engines. Skipped while the core has no model runtime."""

from __future__ import annotations

import numpy as np
import pytest

from kboost.engine import CoreDevice, CoreHintSource, core_available
from kboost.realtime import run_device
from runtime_helpers import make_signal, reference_output, running_server, tiny_engines

pytestmark = pytest.mark.skipif(not core_available(), reason="kboost._core has no Model/Streamer yet")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from kboost_train.export import export_module

    d = tmp_path_factory.mktemp("core")
    joint, source, device = tiny_engines(3)
    export_module(joint, joint.cfg, d / "server.gguf", "server")
    export_module(joint, joint.cfg, d / "device.gguf", "device")
    return joint, source, device, CoreHintSource(d / "server.gguf"), CoreDevice(d / "device.gguf")


@pytest.mark.parametrize("server_kind,device_kind", [("core", "core"), ("core", "torch"), ("torch", "core")])
def test_core_engines_over_socket_equal_reference(exported, server_kind, device_kind):
    joint, t_source, t_device, c_source, c_device = exported
    assert c_source.identity == t_source.identity and c_device.identity == t_device.identity
    source = c_source if server_kind == "core" else t_source
    device = c_device if device_kind == "core" else t_device
    x = make_signal(60)
    with running_server(source) as srv:
        out, stats = run_device(device.open_stream(), x, ("127.0.0.1", srv.port), wait_hint_s=5.0,
                                connect_wait_s=5.0)
    err = float(np.abs(out - reference_output(joint, x)).max())
    assert err <= 1e-4, f"{server_kind} server + {device_kind} device: max-abs {err}"
    assert stats.counters["hints_used"] == 57


def test_core_device_missing_hints_equal_reference(exported):
    joint, *_, c_device = exported
    x = make_signal(40)
    out, stats = run_device(c_device.open_stream(), x)
    assert float(np.abs(out - reference_output(joint, x, delivered=np.zeros(40, bool))).max()) <= 1e-4
    assert stats.hints_missing == 37


def test_core_device_hint_bookkeeping_matches_reference_stream(exported):
    *_, t_device, _, c_device = exported
    h = np.ones((8, 97), np.float32)
    x = np.zeros((2, 128), np.float32)
    got = []
    for device in (t_device, c_device):
        s = device.open_stream()
        r = [s.push_hint(0, h), s.push_hint(0, h), s.push_hint(10_000, h)]
        for _ in range(5):
            s.process_chunk(x)
        r += [s.push_hint(1, h), s.push_hint(2, h)]
        s.process_chunk(x)
        got.append((r, s.chunk_index, s.counters()))
    assert got[0] == got[1]
