"""The layers of causal streaming TF-GridNet and of the knowledge-boosting fusion.

Every stateful layer has two forms over the same parameters:
  * ``forward(x, ...)``: offline, a whole sequence of T frames (training);
  * ``step(x, state, prefix) -> (y, state)``: one frame, the layer's memory read from and written to
    the flat ``state`` dict under keys that start with ``prefix`` (a functional form: the input dict
    is not mutated, so a step can be exported with the state as explicit inputs and outputs).

Layout legend: B batch, D channels, T frames, F = 97 frequency bins, H LSTM hidden, L heads,
E query/key channels per head, V value channels per head, W attention window (frames).
Tensors between layers are [B, D, T, F].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kboost.config import N_FREQ

State = dict[str, Tensor]


def _updated(state: State, **items: Tensor) -> State:
    out = dict(state)
    out.update(items)
    return out


def band_mask(n_frames: int, window: int, device: torch.device | None = None) -> Tensor:
    """[T, T] bool, True where query frame i may attend key frame j: i - window < j <= i."""
    i = torch.arange(n_frames, device=device)
    d = i[:, None] - i[None, :]
    return (d >= 0) & (d < window)


def window_mask(t: Tensor, window: int) -> Tensor:
    """[W] bool for a streaming cache of W slots, oldest first, the newest slot last: True where a slot
    holds a frame that exists, i.e. the last min(t + 1, W) slots at frame t."""
    slots = torch.arange(window, device=t.device)
    return slots >= (window - 1 - t.clamp(max=window - 1))


def push_cache(cache: Tensor, new: Tensor) -> tuple[Tensor, Tensor]:
    """Append a frame to a FIFO cache along dim 2 and drop the oldest. Returns (full, next_cache):
    ``full`` holds the W-1 cached frames and the new one (the attention window), ``next_cache`` the
    last W-1 of them."""
    full = torch.cat([cache, new], dim=2)
    return full, full[:, :, 1:]


class CausalConv2d(nn.Module):
    """Conv2d with a 3 x 3 kernel, causal in time (keeps the last 2 input frames), 'same' in frequency.

    Used for the input layer (4 -> D) and the hint compression (2 n_out -> 2 n_out / c).
    Parameters: ``conv.weight`` [C_out, C_in, 3, 3], ``conv.bias`` [C_out].
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=(3, 3), padding=(0, 1))
        self.c_in = c_in

    def forward(self, x: Tensor) -> Tensor:  # [B, C_in, T, F] -> [B, C_out, T, F]
        return self.conv(F.pad(x, (0, 0, 2, 0)))

    def init_state(self, batch: int, prefix: str) -> State:
        return {f"{prefix}hist": torch.zeros(batch, self.c_in, 2, N_FREQ)}

    def step(self, x: Tensor, state: State, prefix: str) -> tuple[Tensor, State]:
        full = torch.cat([state[f"{prefix}hist"], x], dim=2)
        return self.conv(full), _updated(state, **{f"{prefix}hist": full[:, :, 1:]})


class CausalDeconv2d(nn.Module):
    """ConvTranspose2d(D -> C, kernel (3, 3), padding (2, 1)) on the block output left-padded by
    2 frames: output frame t depends on inputs t-2..t. Computed as the equivalent correlation with
    the transposed, flipped kernel so that a step computes exactly one output frame.

    Parameters: ``deconv.weight`` [D, C, 3, 3] (ConvTranspose2d layout), ``deconv.bias`` [C].
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(c_in, c_out, kernel_size=(3, 3), padding=(2, 1))
        self.c_in = c_in

    def _conv(self, x: Tensor) -> Tensor:
        w = self.deconv.weight.transpose(0, 1).flip(2, 3)
        return F.conv2d(x, w, self.deconv.bias, padding=(0, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self._conv(F.pad(x, (0, 0, 2, 0)))

    def init_state(self, batch: int, prefix: str) -> State:
        return {f"{prefix}hist": torch.zeros(batch, self.c_in, 2, N_FREQ)}

    def step(self, x: Tensor, state: State, prefix: str) -> tuple[Tensor, State]:
        full = torch.cat([state[f"{prefix}hist"], x], dim=2)
        return self._conv(full), _updated(state, **{f"{prefix}hist": full[:, :, 1:]})


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of each (t, f) bin of a [B, D, T, F] tensor. Parameters [D]."""

    def __init__(self, d: int) -> None:
        super().__init__(d, eps=1e-5)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x.transpose(1, 3)).transpose(1, 3)


class Linear1x1(nn.ConvTranspose1d):
    """ConvTranspose1d(C_in -> C_out, kernel 1) of the reference, applied as a linear map on the
    last dimension. Parameters: ``weight`` [C_in, C_out, 1], ``bias`` [C_out]."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]  # [..., C_in] -> [..., C_out]
        return F.linear(x, self.weight[:, :, 0].t(), self.bias)


class IntraFrame(nn.Module):
    """Norm -> bidirectional LSTM across the 97 bins of one frame -> linear -> + residual.
    Stateless across frames."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.norm = ChannelNorm(d)
        self.rnn = nn.LSTM(d, h, batch_first=True, bidirectional=True)
        self.linear = Linear1x1(2 * h, d)

    def forward(self, x: Tensor) -> Tensor:
        b, d, t, f = x.shape
        z = self.norm(x).permute(0, 2, 3, 1).reshape(b * t, f, d)  # [BT, F, D]
        z = self.linear(self.rnn(z)[0])  # [BT, F, D]
        return x + z.reshape(b, t, f, d).permute(0, 3, 1, 2)


class InterFrame(nn.Module):
    """Norm -> unidirectional LSTM over time, one sequence per bin, (h, c) carried across chunks ->
    linear -> + residual. State: ``h``, ``c`` [1, B*F, H]."""

    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.norm = ChannelNorm(d)
        self.rnn = nn.LSTM(d, h, batch_first=True)
        self.linear = Linear1x1(h, d)
        self.h = h

    def _run(self, x: Tensor, hc: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        b, d, t, f = x.shape
        z = self.norm(x).permute(0, 3, 2, 1).reshape(b * f, t, d)  # [BF, T, D]
        z, hc = self.rnn(z, hc)
        z = self.linear(z).reshape(b, f, t, d).permute(0, 3, 2, 1)
        return x + z, hc

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, None)[0]

    def init_state(self, batch: int, prefix: str) -> State:
        z = torch.zeros(1, batch * N_FREQ, self.h)
        return {f"{prefix}h": z, f"{prefix}c": z.clone()}

    def step(self, x: Tensor, state: State, prefix: str) -> tuple[Tensor, State]:
        y, (h, c) = self._run(x, (state[f"{prefix}h"], state[f"{prefix}c"]))
        return y, _updated(state, **{f"{prefix}h": h, f"{prefix}c": c})


class HeadNorm(nn.Module):
    """LayerNorm over the last two dims (per head, per frame) with affine parameters of shape
    [*groups, A, Bdim]: one set per head when ``groups`` is (L,), shared when it is ()."""

    def __init__(self, shape: tuple[int, ...], n_norm_dims: int = 2, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape))
        self.bias = nn.Parameter(torch.zeros(shape))
        self.n = n_norm_dims
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        dims = tuple(range(-self.n, 0))
        mu = x.mean(dim=dims, keepdim=True)
        var = (x - mu).pow(2).mean(dim=dims, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight + self.bias


class LocalSelfAttention(nn.Module):
    """Causal local multi-head self-attention of the large model over the current frame and the
    W-1 frames before it (W = 50, 400 ms).

    Per head l: Q, K = LN_(E,F)(PReLU_l(Conv1x1_l(x))), V = LN_(V,F)(PReLU_l(Conv1x1_l(x))); scores
    Q.K / sqrt(E F); heads concatenated -> Conv1x1(D -> D) -> PReLU -> LN_(D,F) -> + residual.
    Per-head parameters are stacked over heads: ``q_weight`` [L, E, D], ``q_bias`` [L, E],
    ``q_alpha`` [L] (one PReLU per head), ``q_norm.weight`` [L, E, F]; likewise k_*, v_* (V = D/L).
    Streaming state: K and V caches of the W-1 previous frames, [B, L, W-1, E*F] and [B, L, W-1, V*F].
    """

    def __init__(self, d: int, n_heads: int, head_dim: int, window: int) -> None:
        super().__init__()
        self.d, self.n_heads, self.e, self.window = d, n_heads, head_dim, window
        self.v = d // n_heads
        for name, c in (("q", head_dim), ("k", head_dim), ("v", self.v)):
            w = torch.empty(n_heads, c, d)
            nn.init.kaiming_uniform_(w.view(n_heads * c, d), a=math.sqrt(5))
            setattr(self, f"{name}_weight", nn.Parameter(w))
            bound = 1 / math.sqrt(d)
            setattr(self, f"{name}_bias", nn.Parameter(torch.empty(n_heads, c).uniform_(-bound, bound)))
            setattr(self, f"{name}_alpha", nn.Parameter(torch.full((n_heads,), 0.25)))
            setattr(self, f"{name}_norm", HeadNorm((n_heads, c, N_FREQ)))
        self.proj = nn.Conv2d(d, d, kernel_size=1)
        self.proj_act = nn.PReLU()
        self.proj_norm = HeadNorm((d, N_FREQ))

    def _project(self, x: Tensor, name: str) -> Tensor:
        """[B, D, T, F] -> [B, L, T, C*F] for name in q/k/v."""
        w, b = getattr(self, f"{name}_weight"), getattr(self, f"{name}_bias")
        alpha = getattr(self, f"{name}_alpha")
        z = torch.einsum("lcd,bdtf->btlcf", w, x) + b[:, :, None]  # [B, T, L, C, F]
        z = torch.where(z >= 0, z, alpha[:, None, None] * z)  # one PReLU per head
        z = getattr(self, f"{name}_norm")(z)
        return z.transpose(1, 2).flatten(-2)  # [B, L, T, C*F]

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.e * N_FREQ)
        scores = scores.masked_fill(~mask, float("-inf"))
        return torch.softmax(scores, dim=-1) @ v  # [B, L, Tq, V*F]

    def _output(self, x: Tensor, o: Tensor) -> Tensor:
        b, l, t, _ = o.shape
        o = o.view(b, l, t, self.v, N_FREQ).permute(0, 1, 3, 2, 4).reshape(b, self.d, t, N_FREQ)
        o = self.proj_act(self.proj(o))  # [B, D, T, F]
        o = self.proj_norm(o.transpose(1, 2)).transpose(1, 2)
        return x + o

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = (self._project(x, n) for n in "qkv")
        return self._output(x, self._attend(q, k, v, band_mask(x.shape[2], self.window, x.device)))

    def init_state(self, batch: int, prefix: str) -> State:
        w = self.window - 1
        return {
            f"{prefix}k": torch.zeros(batch, self.n_heads, w, self.e * N_FREQ),
            f"{prefix}v": torch.zeros(batch, self.n_heads, w, self.v * N_FREQ),
        }

    def step(self, x: Tensor, state: State, prefix: str, t: Tensor) -> tuple[Tensor, State]:
        q, k, v = (self._project(x, n) for n in "qkv")
        k_all, k_next = push_cache(state[f"{prefix}k"], k)
        v_all, v_next = push_cache(state[f"{prefix}v"], v)
        y = self._output(x, self._attend(q, k_all, v_all, window_mask(t, self.window)))
        return y, _updated(state, **{f"{prefix}k": k_next, f"{prefix}v": v_next})


class SpeakerFiLM(nn.Module):
    """TSE speaker conditioning: Conv1d(256 -> 2*D*F) of the enrollment embedding gives a scale and a
    bias per channel and bin: x * scale + bias. Constant per enrollment: the streaming form computes
    it once (``init_state``) and keeps it in the state as ``film`` [B, 2, D, F]."""

    def __init__(self, emb_dim: int, d: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(emb_dim, 2 * d * N_FREQ, kernel_size=1)
        self.d = d

    def film(self, emb: Tensor) -> Tensor:  # [B, 256] -> [B, 2, D, F]
        return self.conv(emb.unsqueeze(-1)).view(emb.shape[0], 2, self.d, N_FREQ)

    @staticmethod
    def apply(x: Tensor, film: Tensor) -> Tensor:
        return x * film[:, 0, :, None, :] + film[:, 1, :, None, :]

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        return self.apply(x, self.film(emb))


class KBFusion(nn.Module):
    """Knowledge-boosting fusion after a block of the small model (section 4 of the spec).

    With x_t the block output and e the hint each frame uses (already delayed: frame t gets the
    compressed hint of chunk t-d, zeros where none exists or it is missing):
      1. alignment: x_{t-d} (a FIFO of d frames; zeros before frame 0);
      2. FiLM: m = x_{t-d} * film_scale(e) + film_shift(e)   (1x1 convs C_h -> D);
      3. cross-attention, query from x_t, keys/values from m over the last W fused frames:
         q, k = LN_(F,E)(PReLU(Linear(D -> L*E))), v = LN_(F,V)(PReLU(Linear(D -> D))) with the
         norm shared by the heads; scale 1/sqrt(F E); heads re-assembled -> Linear(D -> D) -> PReLU
         -> LN_(F,D) -> + x_t.
    Streaming state: ``align`` [B, D, d, F] (the last d block outputs), K/V caches of the W-1
    previous fused frames [B, L, W-1, F*E] and [B, L, W-1, F*V].
    """

    def __init__(self, d: int, hint_channels: int, delay: int, n_heads: int, head_dim: int,
                 window: int) -> None:
        super().__init__()
        self.d, self.delay, self.n_heads, self.e, self.window = d, delay, n_heads, head_dim, window
        self.v = d // n_heads
        self.film_scale = nn.Conv2d(hint_channels, d, kernel_size=1)
        self.film_shift = nn.Conv2d(hint_channels, d, kernel_size=1)
        self.q_linear = nn.Linear(d, n_heads * head_dim)
        self.q_act = nn.PReLU()
        self.q_norm = HeadNorm((N_FREQ, head_dim))
        self.k_linear = nn.Linear(d, n_heads * head_dim)
        self.k_act = nn.PReLU()
        self.k_norm = HeadNorm((N_FREQ, head_dim))
        self.v_linear = nn.Linear(d, d)
        self.v_act = nn.PReLU()
        self.v_norm = HeadNorm((N_FREQ, self.v))
        self.proj_linear = nn.Linear(d, d)
        self.proj_act = nn.PReLU()
        self.proj_norm = HeadNorm((N_FREQ, d))

    def _heads(self, x: Tensor, name: str, c: int) -> Tensor:
        """[B, D, T, F] -> [B, L, T, F*c]."""
        z = getattr(self, f"{name}_act")(getattr(self, f"{name}_linear")(x.permute(0, 2, 3, 1)))
        b, t, f, _ = z.shape
        z = z.view(b, t, f, self.n_heads, c).permute(0, 3, 1, 2, 4)  # [B, L, T, F, c]
        return getattr(self, f"{name}_norm")(z).flatten(-2)

    def _fuse(self, x_aligned: Tensor, hint: Tensor) -> Tensor:
        return x_aligned * self.film_scale(hint) + self.film_shift(hint)

    def _attend(self, x: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
        q = self._heads(x, "q", self.e)
        scores = q @ k.transpose(-1, -2) / math.sqrt(N_FREQ * self.e)
        scores = scores.masked_fill(~mask, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v  # [B, L, T, F*V]
        b, l, t, _ = o.shape
        o = o.view(b, l, t, N_FREQ, self.v).permute(0, 2, 3, 1, 4).reshape(b, t, N_FREQ, self.d)
        o = self.proj_norm(self.proj_act(self.proj_linear(o)))  # [B, T, F, D]
        return x + o.permute(0, 3, 1, 2)

    def forward(self, x: Tensor, hint: Tensor, delay: int | None = None) -> Tensor:
        """x [B, D, T, F]; hint [B, C_h, T, F], frame t holding the hint frame t uses. ``delay``
        overrides the alignment delay the layer was built with (a delay-conditioned model)."""
        d = self.delay if delay is None else delay
        x_aligned = F.pad(x, (0, 0, d, 0))[:, :, : x.shape[2]]
        m = self._fuse(x_aligned, hint)
        k, v = self._heads(m, "k", self.e), self._heads(m, "v", self.v)
        return self._attend(x, k, v, band_mask(x.shape[2], self.window, x.device))

    def init_state(self, batch: int, prefix: str) -> State:
        w = self.window - 1
        return {
            f"{prefix}align": torch.zeros(batch, self.d, self.delay, N_FREQ),
            f"{prefix}k": torch.zeros(batch, self.n_heads, w, N_FREQ * self.e),
            f"{prefix}v": torch.zeros(batch, self.n_heads, w, N_FREQ * self.v),
        }

    def step(self, x: Tensor, hint: Tensor, state: State, prefix: str, t: Tensor) -> tuple[Tensor, State]:
        """x [B, D, 1, F]; hint [B, C_h, 1, F] (the hint of chunk t-d, zeros if missing)."""
        full = torch.cat([state[f"{prefix}align"], x], dim=2)  # [B, D, d+1, F]
        m = self._fuse(full[:, :, :1], hint)
        k_all, k_next = push_cache(state[f"{prefix}k"], self._heads(m, "k", self.e))
        v_all, v_next = push_cache(state[f"{prefix}v"], self._heads(m, "v", self.v))
        y = self._attend(x, k_all, v_all, window_mask(t, self.window))
        return y, _updated(state, **{f"{prefix}align": full[:, :, 1:], f"{prefix}k": k_next,
                                     f"{prefix}v": v_next})
