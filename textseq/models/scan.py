"""minGRU and minLSTM (Feng et al., 2024, "Were RNNs All We Needed?"): recurrences whose gates read the
input only, so that h_t = a_t * h_{t-1} + b_t is linear in h and a whole window runs at once.

    minGRU   z = sigmoid(W_z x),  h~ = g(W_h x),   h_t = (1 - z) * h_{t-1} + z * h~
    minLSTM  f, i = sigmoid(W_f x), sigmoid(W_i x),  f' = f / (f + i),  i' = i / (f + i),
             h_t = f' * h_{t-1} + i' * h~

g(v) = v + 0.5 for v >= 0, sigmoid(v) below: positive and continuous, so h stays positive and the
whole recurrence can be computed in log space (Heinsen, 2023):

    log h_t = a*_t + logcumsumexp_{k <= t}(log b_k - a*_k)   with a*_t = sum_{k <= t} log a_k

(the carried state h_0 enters as the k = 0 term with a*_0 = 0). Cumulative sums and logcumsumexp
stay finite over thousands of steps where the product of the a_t would underflow; the scan runs in
float32 at least, whatever the autocast dtype.

Layout follows torch's naming so init, transfer and probes find the weights:

    weight_ih_l{k}[_reverse]  (G*H, I_k)   G = 2 (minGRU: z, h~) or 3 (minLSTM: f, i, h~)
    bias_ih_l{k}[_reverse]    (G*H,)

There are no recurrent weights. Shapes: x (B, T, I) -> output (B, T, D*H), h_n (L*D, B, H).
`scan` picks how a window is computed: "log" (the parallel scan above), "sequential" (one fused
loop with a hand-written backward, faster on a CPU) or "loop" (plain autograd step by step, the
reference; T = 1 in generation always takes it). Tests hold the three to the same outputs and gradients.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from textseq.models.cells import LayerStack

_TINY = 1e-30  # a zero state's log would be -inf; its contribution exp(log(1e-30) + ...) is 0 all the same


def g(x: torch.Tensor) -> torch.Tensor:
    """The minGRU paper's positive activation: x + 0.5 for x >= 0, sigmoid(x) below."""
    return F.relu(x) + torch.sigmoid(x.clamp(max=0.0))  # cheaper on a CPU than a where() of the two branches


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without leaving log space for negative x."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def parallel_scan_log(log_a: torch.Tensor, log_b: torch.Tensor, log_h0: torch.Tensor) -> torch.Tensor:
    """log h_t for h_t = a_t h_{t-1} + b_t, t = 1..T; log_a, log_b (B, T, H), log_h0 (B, H) -> (B, T, H)."""
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, H)
    terms = torch.cat([log_h0.unsqueeze(1), log_b - a_star], dim=1)  # (B, T+1, H)
    return a_star + torch.logcumsumexp(terms, dim=1)[:, 1:]  # (B, T, H)


def _forward_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t by a loop of fused multiply-adds; (B, T, H) -> (B, T, H)."""
    h, hs = h0, []
    for t in range(b.size(1)):
        h = torch.addcmul(b[:, t], a[:, t], h)  # (B, H)
        hs.append(h)
    return torch.stack(hs, dim=1)  # one copy, not T strided writes


class _SequentialScan(torch.autograd.Function):
    """h_t = a_t h_{t-1} + b_t by one loop of fused multiply-adds, and its gradient by the reverse loop.

    dL/dh_t accumulates as g_t = dL/dh_t (direct) + a_{t+1} g_{t+1}; then dL/db_t = g_t,
    dL/da_t = g_t h_{t-1}, dL/dh_0 = a_1 g_1. Two passes of T small ops and no autograd graph per
    step: on a CPU, where the T steps cannot run in parallel anyway, this is about ten times cheaper
    than the log-space scan's transcendental functions (see benchmarks/cell_throughput.py)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        out = _forward_scan(a, b, h0)
        ctx.save_for_backward(a, out, h0)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        a, out, h0 = ctx.saved_tensors
        return _reverse_scan(a, out, h0, grad_out)


def sequential_scan(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t h_{t-1} + b_t, t = 1..T, by a fused loop with a hand-written backward; (B, T, H) -> (B, T, H)."""
    return _SequentialScan.apply(a, b, h0)


class _MinGRUSequential(torch.autograd.Function):
    """minGRU's coefficients and the sequential scan in one op with a hand-written backward.

    a = 1 - z, b = z g(v) with z = sigmoid(k); after the scan's reverse loop gives dL/db and
    dL/da: dL/dz = dL/db g(v) - dL/da, dL/dk = dL/dz z (1 - z), dL/dv = dL/db z g'(v), where
    g'(v) = 1 for v >= 0 and g(v)(1 - g(v)) below (g(v) >= 0.5 exactly when v >= 0). About half the
    element-wise passes autograd makes through the same formulas."""

    @staticmethod
    def forward(ctx, k: torch.Tensor, v: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        z, gv = torch.sigmoid(k), g(v)  # (B, T, H) each
        a, b = 1.0 - z, z * gv
        out = _forward_scan(a, b, h0)
        ctx.save_for_backward(z, gv, out, h0)
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        z, gv, out, h0 = ctx.saved_tensors
        a = 1.0 - z
        grad_a, grad_b, grad_h0 = _reverse_scan(a, out, h0, grad_out)
        grad_k = (grad_b * gv - grad_a) * z * a
        grad_v = grad_b * z * torch.where(gv >= 0.5, torch.ones_like(gv), gv * (1.0 - gv))
        return grad_k, grad_v, grad_h0


def _reverse_scan(a: torch.Tensor, out: torch.Tensor, h0: torch.Tensor, grad_out: torch.Tensor):
    """dL/da, dL/db (B, T, H) and dL/dh0 (B, H) of h_t = a_t h_{t-1} + b_t, given dL/dh_t (direct)."""
    g, gs = torch.zeros_like(h0), []  # g (B, H): dL/dh_t, including what flows back from after t
    for t in range(grad_out.size(1) - 1, -1, -1):
        g = g + grad_out[:, t]
        gs.append(g)
        g = g * a[:, t]
    gs.reverse()
    grad_b = torch.stack(gs, dim=1)  # (B, T, H)
    h_prev = torch.cat([h0.unsqueeze(1), out[:, :-1]], dim=1)  # (B, T, H)
    return grad_b * h_prev, grad_b, g


SCANS = ("log", "sequential", "loop")  # the ways MinRecurrent can run a window; all compute the same h


class MinRecurrent(LayerStack):
    """Shared stacking, directions and dropout; subclasses give the log-space and the plain coefficients."""

    mode: ClassVar[str]
    num_states: ClassVar[int] = 1
    recurrent_weights = False  # the gates read x_t only: no weight_hh / bias_hh
    options = ("scan",)  # the config keys make_recurrent passes on

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, dropout: float = 0.0,
                 bidirectional: bool = False, scan: str = "auto") -> None:
        super().__init__(input_size, hidden_size, num_layers, dropout, bidirectional)
        # "log": the parallel log-space scan; "sequential": the fused loop with its own backward;
        # "loop": plain autograd, one step at a time (the reference). "auto" takes "sequential" on a
        # CPU, where it measured several times faster than "log" (benchmarks/cell_throughput.py), and
        # "log" on a GPU, where its cumulative ops run across T in parallel (not yet measured there).
        self.scan = scan
        self.reset_parameters()

    # -- the cell: coefficients of h_t = a_t h_{t-1} + b_t from the input projection ---------------
    def log_coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """xp (B, T, G*H) -> log a, log b (B, T, H) each."""
        raise NotImplementedError

    def coefficients(self, xp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """xp (B, T, G*H) -> a, b (B, T, H), written from the equations (not through the logs)."""
        raise NotImplementedError

    def fused_sequential(self, xp: torch.Tensor, h0: torch.Tensor) -> torch.Tensor | None:
        """The sequential scan with the coefficients fused into it (None: this cell has none)."""
        return None

    # -- one layer, one direction -------------------------------------------------------------------
    def _run(self, xp: torch.Tensor, h0: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
        """xp (B, T, G*H), h0 (B, H), valid (B, T) or None -> outputs (B, T, H); invalid steps keep h."""
        scan = self.scan if self.scan != "auto" else ("log" if xp.is_cuda else "sequential")
        if scan not in SCANS:
            raise ValueError(f"unknown scan {scan!r}; valid: auto, {', '.join(SCANS)}")
        if scan == "log" and xp.size(1) > 1:
            work = torch.promote_types(xp.dtype, torch.float32)  # bf16/fp16 cumulative sums lose the state
            log_a, log_b = self.log_coefficients(xp.to(work))  # (B, T, H) each
            if valid is not None:  # a = 1, b = 0 at padding: the state passes through unchanged
                keep = valid.unsqueeze(-1)  # (B, T, 1)
                log_a = log_a.masked_fill(~keep, 0.0)
                log_b = log_b.masked_fill(~keep, math.log(_TINY) * 4)
            log_h0 = torch.log(h0.to(work).clamp_min(_TINY))  # (B, H)
            return parallel_scan_log(log_a, log_b, log_h0).exp().to(xp.dtype)  # (B, T, H)
        if scan == "sequential" and xp.size(1) > 1:
            work = torch.promote_types(xp.dtype, torch.float32)
            fused = self.fused_sequential(xp.to(work), h0.to(work)) if valid is None else None
            if fused is not None:
                return fused.to(xp.dtype)
            a, b = self.coefficients(xp.to(work))  # (B, T, H) each
            if valid is not None:
                keep = valid.unsqueeze(-1)  # (B, T, 1)
                a, b = a.masked_fill(~keep, 1.0), b.masked_fill(~keep, 0.0)
            return sequential_scan(a, b, h0.to(work)).to(xp.dtype)  # (B, T, H)
        a, b = self.coefficients(xp)  # (B, T, H) each
        h, outs = h0, []
        for t in range(xp.size(1)):
            new = a[:, t] * h + b[:, t]  # (B, H)
            h = new if valid is None else torch.where(valid[:, t].unsqueeze(1), new, h)
            outs.append(h)
        return torch.stack(outs, dim=1) if outs else xp.new_zeros(xp.size(0), 0, self.hidden_size)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, I), hx (L*D, B, H) -> output (B, T, D*H), h_n (L*D, B, H).

        With `lengths` (B,), rows are padded sequences: each direction reads only positions < length
        (the backward one each row flipped within its length), and h_n is the state at the row's end."""
        if x.dim() != 3 or x.size(-1) != self.input_size:
            raise ValueError(f"{type(self).__name__} expects input (B, T, {self.input_size}), got {tuple(x.shape)}")
        batch, steps = x.shape[:2]
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if hx is None:
            hx = x.new_zeros(shape)
        elif isinstance(hx, tuple) or tuple(hx.shape) != shape:
            raise ValueError(f"{type(self).__name__} expects a state tensor of shape {shape}")
        valid = flip = None
        positions = torch.arange(steps, device=x.device)  # (T,)
        if lengths is not None:
            valid = positions < lengths.to(x.device).unsqueeze(1)  # (B, T)
            flip = torch.where(valid, lengths.to(x.device).unsqueeze(1) - 1 - positions, positions)  # (B, T)
        else:
            flip = positions.flip(0).expand(batch, steps)  # (B, T)
        layer_in, finals = x, []  # (B, T, I_k)
        for layer in range(self.num_layers):
            if layer > 0 and self.dropout > 0.0 and self.training:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
            outs = []
            for d, sfx in enumerate(self._suffixes()):
                xp = F.linear(layer_in, getattr(self, f"weight_ih_l{layer}{sfx}"),
                              getattr(self, f"bias_ih_l{layer}{sfx}"))  # (B, T, G*H): all steps at once
                if d:
                    xp = _reorder(xp, flip)  # read right to left
                out = self._run(xp, hx[layer * self.num_directions + d], valid)  # (B, T, H)
                finals.append(out[:, -1] if steps else hx[layer * self.num_directions + d])  # (B, H)
                outs.append(_reorder(out, flip) if d else out)
            layer_in = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)  # (B, T, D*H)
        return layer_in, torch.stack(finals)  # (B, T, D*H), (L*D, B, H)


def _reorder(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, T, F) with row b's position t taken from position index[b, t]."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.size(2)))


class MinGRU(MinRecurrent):
    """minGRU: h_t = (1 - z_t) h_{t-1} + z_t g(W_h x_t), z_t = sigmoid(W_z x_t); blocks z, h~."""

    mode = "MINGRU"
    num_gates = 2

    def log_coefficients(self, xp):
        k, v = xp.chunk(2, dim=-1)  # (B, T, H) each
        return -F.softplus(k), -F.softplus(-k) + log_g(v)  # log(1 - z), log z + log h~

    def coefficients(self, xp):
        k, v = xp.chunk(2, dim=-1)
        z = torch.sigmoid(k)  # (B, T, H)
        return 1.0 - z, z * g(v)

    def fused_sequential(self, xp, h0):
        k, v = xp.chunk(2, dim=-1)  # (B, T, H) each
        return _MinGRUSequential.apply(k, v, h0)


class MinLSTM(MinRecurrent):
    """minLSTM: h_t = f'_t h_{t-1} + i'_t g(W_h x_t) with f', i' = f, i normalised to sum to 1; blocks f, i, h~."""

    mode = "MINLSTM"
    num_gates = 3

    def log_coefficients(self, xp):
        kf, ki, v = xp.chunk(3, dim=-1)  # (B, T, H) each
        log_f, log_i = -F.softplus(-kf), -F.softplus(-ki)
        # log f' = log f - log(f + i) = -softplus(log i - log f), and the same for i'
        return -F.softplus(log_i - log_f), -F.softplus(log_f - log_i) + log_g(v)

    def coefficients(self, xp):
        kf, ki, v = xp.chunk(3, dim=-1)
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)  # (B, T, H)
        return f / (f + i), i / (f + i) * g(v)
