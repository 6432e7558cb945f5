"""Named configs and the runtime package's independence from torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kboost.config import ModelConfig, get_config, list_configs


def test_every_named_config_parses():
    names = list_configs()
    assert len(names) == 9 + 3 * 7 * 3
    for name in names:
        cfg = get_config(name)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad", ["ss-tiny", "ss-large-kb-d3-c1", "ss-small-kb-d7-c1", "ss-small-kb-d3-c3", "xx"])
def test_bad_config_names(bad):
    with pytest.raises(ValueError):
        get_config(bad)


def _without_torch(code: str) -> subprocess.CompletedProcess:
    """Run Python code in a fresh interpreter where `import torch` fails."""
    return subprocess.run([sys.executable, "-c", "import sys; sys.modules['torch'] = None\n" + code],
                          capture_output=True, text=True)


def test_runtime_imports_without_torch():
    """`import kboost` (and its CLI) must not need torch: block it and import."""
    r = _without_torch("import kboost, kboost.cli, kboost.config\nprint(kboost.__version__)\n")
    assert r.returncode == 0, r.stderr


def test_data_build_needs_no_torch():
    """`kboost data build` (numpy, the Debian packages) runs where torch is not installed."""
    r = _without_torch("from kboost.cli import main\nsys.exit(main(['data', 'build', '--help']))\n")
    assert r.returncode == 0, r.stderr
    assert "--cache" in r.stdout


def test_cli_info_json():
    r = subprocess.run([sys.executable, "-m", "kboost", "info", "ss-large", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["params"]["total"] == 518_771
    assert info["macs_per_chunk"] > info["lstm_macs_per_chunk"] > 0


def test_cli_unknown_config_is_a_clear_error():
    r = subprocess.run([sys.executable, "-m", "kboost", "info", "ss-huge"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "unknown config 'ss-huge'" in r.stderr
