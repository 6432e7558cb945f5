"""Data for kboost training: the offline speech/noise cache, binaural mixers and datasets.

Modules (numpy-only unless said): ``sources`` (the catalogue: packages, voices, held-out speakers),
``store`` (the cache format, writer and memory-mapped reader), ``build`` (``kboost data build``),
``spatial`` (ITD/ILD rendering, optional reverb), ``mix`` (SS/TSE/SE mixers), ``embed`` (d-vectors,
resemblyzer), ``paper`` (the paper's dataset layout, torch), ``datasets`` (torch Datasets and
``build_dataset``).
"""
