"""kboost: knowledge boosting for real-time binaural speech models.

The runtime package: it needs numpy (and soundfile for audio I/O) and never imports torch. The
C++ streaming core is the extension module ``kboost._core``; the PyTorch training side is the
separate package ``kboost_train`` (``pip install kboost[train]``).
"""

from kboost import _core
from kboost._core import build_info
from kboost.config import ModelConfig, get_config, list_configs

__version__ = _core.version()

__all__ = ["ModelConfig", "__version__", "build_info", "get_config", "list_configs"]
