"""kboost_train: the PyTorch side of kboost (reference models, training, evaluation, export).

Needs the training extra: ``pip install 'kboost[train]'``.
"""

from kboost_train.models import HintCompressor, JointModel, TFGridNet

__all__ = ["HintCompressor", "JointModel", "TFGridNet", "build_model"]


def build_model(cfg):
    """The trainable module of a config: a JointModel for KB configs, else a TFGridNet."""
    return JointModel(cfg) if cfg.kb is not None else TFGridNet(cfg)
