"""`kboost demo` on the bundled assets (the README's main job): the committed weights load in the
C++ core, the server and the device talk over loopback, every hint is used, and the report holds
SI-SNRi with and without boosting."""

from __future__ import annotations

import json
import subprocess
import sys



def test_demo_on_bundled_assets(tmp_path):
    r = subprocess.run([sys.executable, "-m", "kboost", "demo", "--fast", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "SI-SNRi with boosting" in r.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["random_weights"] is False
    assert "C++ core" in report["server_engine"] and "C++ core" in report["device_engine"]
    boosted, alone = report["runs"]["boosted"], report["runs"]["alone"]
    assert boosted["hints_used"] == boosted["n_chunks"] - report["delay_chunks"]
    assert alone["hints_used"] == 0
    for run in (boosted, alone):
        assert isinstance(run["si_snri"], float)
    # The hints change the output: the two runs are not the same signal.
    assert boosted["si_snr"] != alone["si_snr"]
    for name in ("boosted.wav", "alone.wav", "report.md", "demo.png"):
        assert (tmp_path / name).stat().st_size > 0
