"""kboost_train: the PyTorch side of kboost (reference models, training, evaluation, export).

Needs the training extra: ``pip install 'kboost[train]'``. The model classes are imported on first
use, so the numpy-only parts (``kboost_train.data``: ``kboost data build``) work without torch.
"""

__all__ = ["HintCompressor", "JointModel", "TFGridNet", "build_model"]


def __getattr__(name: str):
    if name in ("HintCompressor", "JointModel", "TFGridNet"):
        from kboost_train import models

        return getattr(models, name)
    raise AttributeError(f"module 'kboost_train' has no attribute {name!r}")


def build_model(cfg):
    """The trainable module of a config: a JointModel for KB configs, else a TFGridNet."""
    from kboost_train.models import JointModel, TFGridNet

    return JointModel(cfg) if cfg.kb is not None else TFGridNet(cfg)
