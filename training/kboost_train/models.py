"""Causal streaming TF-GridNet (small / medium / large) and the knowledge-boosted joint model.

Two forms of every model, same weights:
  * ``forward(x, ...)``: offline, the whole signal, for training;
  * ``init_state(batch, ...)`` and ``step(chunk, state, ...) -> (out, state)``: streaming. Each step
    takes 128 new samples per input channel and returns 128 samples per output channel; the
    concatenated step outputs equal the offline forward of the same signal delayed by exactly 64
    samples (the lookahead). Algorithmic latency 12 ms (8 ms chunk + 4 ms lookahead).

Shapes: x [B, 2, N] binaural waveform; y [B, n_out, N], n_out = 4 for SS (source-major:
[s0 left, s0 right, s1 left, s1 right]), 2 for TSE/SE ([left, right]); speaker [B, 256];
hints [B, C_h, T, F] (frame t holds the compressed hint that frame t uses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kboost.config import (
    CHUNK_SIZE,
    LOOKAHEAD,
    N_FREQ,
    N_IN_CHANNELS,
    SPEAKER_EMBEDDING_DIM,
    ModelConfig,
)
from kboost_train.layers import (
    CausalConv2d,
    CausalDeconv2d,
    ChannelNorm,
    InterFrame,
    IntraFrame,
    KBFusion,
    LocalSelfAttention,
    SpeakerFiLM,
    State,
    _updated,
)
from kboost_train.stft import Stft


class GridNetBlock(nn.Module):
    """Intra-frame BLSTM, inter-frame LSTM and (large model) local self-attention."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        n = cfg.net
        self.intra = IntraFrame(n.d_model, n.n_hidden)
        self.inter = InterFrame(n.d_model, n.n_hidden)
        self.attn = (
            LocalSelfAttention(n.d_model, n.n_attn_heads, n.attn_head_dim, n.attn_window)
            if n.n_attn_heads else None
        )

    def forward(self, x: Tensor) -> Tensor:
        x = self.inter(self.intra(x))
        return self.attn(x) if self.attn is not None else x

    def init_state(self, batch: int, prefix: str) -> State:
        s = self.inter.init_state(batch, f"{prefix}inter.")
        if self.attn is not None:
            s.update(self.attn.init_state(batch, f"{prefix}attn."))
        return s

    def step(self, x: Tensor, state: State, prefix: str, t: Tensor) -> tuple[Tensor, State]:
        x, state = self.inter.step(self.intra(x), state, f"{prefix}inter.")
        if self.attn is not None:
            x, state = self.attn.step(x, state, f"{prefix}attn.", t)
        return x, state


class TFGridNet(nn.Module):
    """One causal streaming TF-GridNet of the config's task and size, with the TSE speaker FiLM and,
    for a KB config, the fusion layers after every block but the last.

    Parameter names (shared with the weights file and the C++ loader): ``encoder.conv.*``,
    ``encoder_norm.*``, ``blocks.{i}.intra.*``, ``blocks.{i}.inter.*``, ``blocks.{i}.attn.*``,
    ``speaker_films.{i}.conv.*``, ``fusions.{i}.*``, ``decoder.deconv.*``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.net.d_model
        self.stft = Stft()
        self.encoder = CausalConv2d(2 * N_IN_CHANNELS, d)
        self.encoder_norm = ChannelNorm(d)
        self.blocks = nn.ModuleList(GridNetBlock(cfg) for _ in range(cfg.net.n_blocks))
        n_mid = cfg.net.n_blocks - 1
        self.speaker_films = (
            nn.ModuleList(SpeakerFiLM(SPEAKER_EMBEDDING_DIM, d) for _ in range(n_mid))
            if cfg.has_speaker else None
        )
        kb = cfg.kb
        self.fusions = (
            nn.ModuleList(
                KBFusion(d, cfg.n_hint_channels, kb.delay, kb.n_heads, kb.head_dim, kb.window)
                for _ in range(n_mid)
            )
            if kb is not None else None
        )
        self.decoder = CausalDeconv2d(d, cfg.n_spec_channels)

    # ---- offline ---------------------------------------------------------------------------------
    def _check(self, x: Tensor, speaker: Tensor | None, hints: Tensor | None, n_frames: int | None) -> None:
        if x.dim() != 3 or x.shape[1] != N_IN_CHANNELS:
            raise ValueError(f"expected binaural audio [B, 2, N], got shape {tuple(x.shape)}")
        if self.cfg.has_speaker and (speaker is None or speaker.shape[-1] != SPEAKER_EMBEDDING_DIM):
            raise ValueError(f"TSE needs a speaker embedding [B, {SPEAKER_EMBEDDING_DIM}]")
        if hints is not None and n_frames is not None:
            want = (x.shape[0], self.cfg.n_hint_channels, n_frames, N_FREQ)
            if tuple(hints.shape) != want:
                raise ValueError(f"hints: expected shape {want}, got {tuple(hints.shape)}")

    def forward_spec(self, feats: Tensor, speaker: Tensor | None = None,
                     hints: Tensor | None = None, delay: int | None = None) -> Tensor:
        """Features [B, 4, T, F] -> output spectrogram [B, 2*n_out, T, F] (channel 2o = re, 2o+1 = im
        of output o). ``hints``: [B, C_h, T, F], the delayed hints (zeros = no hint); ``delay``:
        the fusion's feature alignment if not the config's (the hints must be delayed to match)."""
        x = self.encoder_norm(self.encoder(feats))
        if self.fusions is not None and hints is None:
            hints = feats.new_zeros(feats.shape[0], self.cfg.n_hint_channels, feats.shape[2], N_FREQ)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i < len(self.blocks) - 1:
                if self.speaker_films is not None:
                    x = self.speaker_films[i](x, speaker)
                if self.fusions is not None:
                    x = self.fusions[i](x, hints, delay)
        return self.decoder(x)

    def spectrogram(self, x: Tensor, speaker: Tensor | None = None) -> Tensor:
        """[B, 2, N] -> the output spectrogram [B, 2*n_out, T, F], without hints (a large model's
        output, what the hint compression reads)."""
        return self.forward_spec(self.stft.analysis(x), speaker)

    def synthesize(self, spec: Tensor, n_samples: int) -> Tensor:
        b, c, t, f = spec.shape
        return self.stft.synthesis(spec.view(b, c // 2, 2, t, f), n_samples)

    def forward(self, x: Tensor, speaker: Tensor | None = None, hints: Tensor | None = None,
                delay: int | None = None) -> Tensor:
        """[B, 2, N] -> [B, n_out, N]. ``hints``, ``delay`` as in :meth:`forward_spec` (KB only)."""
        feats = self.stft.analysis(x)
        self._check(x, speaker, hints, feats.shape[2])
        return self.synthesize(self.forward_spec(feats, speaker, hints, delay), x.shape[-1])

    # ---- streaming -------------------------------------------------------------------------------
    def init_state(self, batch: int = 1, speaker: Tensor | None = None) -> State:
        """Fresh stream state. For TSE, the speaker FiLM of the enrollment is computed here, once."""
        s: State = {
            "t": torch.zeros((), dtype=torch.long),
            "stft.hist": torch.zeros(batch, N_IN_CHANNELS, LOOKAHEAD),
            "stft.tail": torch.zeros(batch, self.cfg.n_out, LOOKAHEAD),
        }
        s.update(self.encoder.init_state(batch, "encoder."))
        for i, block in enumerate(self.blocks):
            s.update(block.init_state(batch, f"blocks.{i}."))
        if self.speaker_films is not None:
            if speaker is None or tuple(speaker.shape) != (batch, SPEAKER_EMBEDDING_DIM):
                raise ValueError(f"TSE needs a speaker embedding of shape [{batch}, 256] at init_state")
            for i, film in enumerate(self.speaker_films):
                s[f"speaker_films.{i}.film"] = film.film(speaker).detach()
        if self.fusions is not None:
            for i, fusion in enumerate(self.fusions):
                s.update(fusion.init_state(batch, f"fusions.{i}."))
        s.update(self.decoder.init_state(batch, "decoder."))
        return s

    def step_spec(self, chunk: Tensor, state: State, hint: Tensor | None = None
                  ) -> tuple[Tensor, Tensor, State]:
        """One chunk: [B, 2, 128] -> (out [B, n_out, 128], spec frame [B, 2*n_out, 1, F], state).
        ``hint`` [B, C_h, F]: the compressed hint of chunk t-d, or None for a missing hint."""
        if chunk.dim() != 3 or chunk.shape[1:] != (N_IN_CHANNELS, CHUNK_SIZE):
            raise ValueError(f"expected a chunk [B, 2, {CHUNK_SIZE}], got {tuple(chunk.shape)}")
        t = state["t"]
        feats, hist = self.stft.analysis_step(chunk, state["stft.hist"])
        x, state = self.encoder.step(feats, state, "encoder.")
        x = self.encoder_norm(x)
        if self.fusions is not None:
            if hint is None:
                hint = chunk.new_zeros(chunk.shape[0], self.cfg.n_hint_channels, N_FREQ)
            hint4 = hint.unsqueeze(2)
        for i, block in enumerate(self.blocks):
            x, state = block.step(x, state, f"blocks.{i}.", t)
            if i < len(self.blocks) - 1:
                if self.speaker_films is not None:
                    x = SpeakerFiLM.apply(x, state[f"speaker_films.{i}.film"])
                if self.fusions is not None:
                    x, state = self.fusions[i].step(x, hint4, state, f"fusions.{i}.", t)
        spec, state = self.decoder.step(x, state, "decoder.")
        b, c, _, f = spec.shape
        out, tail = self.stft.synthesis_step(spec.view(b, c // 2, 2, 1, f), state["stft.tail"])
        return out, spec, _updated(state, **{"t": t + 1, "stft.hist": hist, "stft.tail": tail})

    def step(self, chunk: Tensor, state: State, hint: Tensor | None = None) -> tuple[Tensor, State]:
        out, _, state = self.step_spec(chunk, state, hint)
        return out, state


class HintCompressor(nn.Module):
    """The large model's side of KB: Conv2d(2*n_out -> 2*n_out/c, 3 x 3, causal in time) of its output
    spectrogram. Parameters ``conv.conv.*``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.conv = CausalConv2d(cfg.n_spec_channels, cfg.n_hint_channels)

    def forward(self, spec: Tensor) -> Tensor:  # [B, 2 n_out, T, F] -> [B, C_h, T, F]
        return self.conv(spec)

    def init_state(self, batch: int, prefix: str = "compress.") -> State:
        return self.conv.init_state(batch, prefix)

    def step(self, spec: Tensor, state: State, prefix: str = "compress.") -> tuple[Tensor, State]:
        """[B, 2 n_out, 1, F] -> hint [B, C_h, F]."""
        e, state = self.conv.step(spec, state, prefix)
        return e[:, :, 0], state


def delay_frames(x: Tensor, d: int) -> Tensor:
    """Frame t of the result is frame t-d of x (dim 2), zeros before frame 0."""
    return F.pad(x, (0, 0, d, 0))[:, :, : x.shape[2]]


class JointModel(nn.Module):
    """Large model -> compression -> delay d -> small model with KB fusion (the training graph).

    Only the small model's output is the model's output; gradients reach the large model and the
    compression through the hint path. Submodules: ``large``, ``compress``, ``small``.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.kb is None:
            raise ValueError(f"{cfg.name}: JointModel needs a KB config (e.g. ss-small-kb-d3-c1)")
        self.cfg = cfg
        self.large = TFGridNet(cfg.teacher())
        self.compress = HintCompressor(cfg)
        self.small = TFGridNet(cfg)

    def large_spec(self, x: Tensor, speaker: Tensor | None = None) -> Tensor:
        """The large model's output spectrogram [B, 2 n_out, T, F] (what the compression reads)."""
        return self.large.spectrogram(x, speaker)

    def hints(self, x: Tensor, speaker: Tensor | None = None, large_spec: Tensor | None = None) -> Tensor:
        """Undelayed compressed hints [B, C_h, T, F]: frame t is the hint of chunk t. ``large_spec``:
        the large model's output spectrogram of ``x`` if already computed (a frozen teacher's cache)."""
        if large_spec is None:
            large_spec = self.large_spec(x, speaker)
        return self.compress(large_spec)

    def forward(self, x: Tensor, speaker: Tensor | None = None, hint_mask: Tensor | None = None,
                delay: int | None = None, large_spec: Tensor | None = None) -> Tensor:
        """[B, 2, N] -> small model output [B, n_out, N]. ``hint_mask`` [B or 1, T] (1 = arrived,
        0 = missing) zeroes hint frames as the device sees them (after the delay). ``delay``
        overrides the config's: hints and the fusion's feature alignment both use it, as a
        streaming model built with that delay would. ``large_spec``: :meth:`large_spec` of ``x``,
        precomputed (then the large model is not run: only valid while its weights are frozen)."""
        d = self.cfg.kb.delay if delay is None else delay
        e = delay_frames(self.hints(x, speaker, large_spec), d)
        if hint_mask is not None:
            e = e * hint_mask[:, None, :, None].to(e.dtype)
        return self.small(x, speaker, hints=e, delay=d)

    # ---- streaming, hints through an explicit FIFO of d chunks -----------------------------------
    def init_state(self, batch: int = 1, speaker: Tensor | None = None) -> State:
        s = {f"large.{k}": v for k, v in self.large.init_state(batch, speaker).items()}
        s.update(self.compress.init_state(batch))
        s["fifo"] = torch.zeros(batch, self.cfg.kb.delay, self.cfg.n_hint_channels, N_FREQ)
        s.update({f"small.{k}": v for k, v in self.small.init_state(batch, speaker).items()})
        return s

    @staticmethod
    def _sub(state: State, prefix: str) -> State:
        n = len(prefix)
        return {k[n:]: v for k, v in state.items() if k.startswith(prefix)}

    def large_step(self, chunk: Tensor, state: State) -> tuple[Tensor, State]:
        """The hint server's work for one chunk: (compressed hint [B, C_h, F] of this chunk, state)."""
        _, spec, ls = self.large.step_spec(chunk, self._sub(state, "large."))
        e, state = self.compress.step(spec, state)
        return e, _updated(state, **{f"large.{k}": v for k, v in ls.items()})

    def small_step(self, chunk: Tensor, state: State, hint: Tensor | None) -> tuple[Tensor, State]:
        out, ss = self.small.step(chunk, self._sub(state, "small."), hint)
        return out, _updated(state, **{f"small.{k}": v for k, v in ss.items()})

    def step(self, chunk: Tensor, state: State, deliver: bool = True) -> tuple[Tensor, State]:
        """Large step -> FIFO of d hints -> small step with the hint of chunk t-d. ``deliver=False``
        withholds the hint popped at this chunk (a missing hint)."""
        e, state = self.large_step(chunk, state)
        fifo = torch.cat([state["fifo"], e.unsqueeze(1)], dim=1)  # [B, d+1, C_h, F]
        hint = fifo[:, 0] if deliver else None
        out, state = self.small_step(chunk, state, hint)
        return out, _updated(state, fifo=fifo[:, 1:])
