"""The selective scan in plain torch ops: `selective_scan_chunked`, sequential over about
2*sqrt(L) steps (the CPU's, while tracing for TorchScript or ONNX export, and for the forms the
Triton kernels do not cover), and `selective_scan_ref`, the obvious loop over the sequence, kept
for tests. Shapes and dtypes as in :mod:`emotrack.models.selective_scan.dispatch`.
"""

import math
import warnings

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Reference: the recurrence one step at a time (slow; for tests)."""
    ct = _compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    dim, length = u.shape[1], u.shape[2]
    uf, dt = _prepare_delta(u, delta, delta_bias, delta_softplus, ct)
    Af, Bs, Cs = A.to(ct), _per_step(B, dim, ct), _per_step(C, dim, ct)
    h = torch.zeros(u.shape[0], dim, A.shape[1], dtype=ct, device=u.device)
    ys = []
    for t in range(length):
        b_t = Bs[:, :, min(t, Bs.shape[2] - 1)]
        c_t = Cs[:, :, min(t, Cs.shape[2] - 1)]
        h = torch.exp(dt[:, :, t, None] * Af) * h + (dt[:, :, t] * uf[:, :, t])[..., None] * b_t
        ys.append((h * c_t).sum(-1))
    out = _finish(torch.stack(ys, dim=2), uf, D, z, u.dtype, ct)
    return (out, h) if return_last_state else out


def selective_scan_chunked(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    chunk_size: int | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """The scan in plain torch ops, sequential over about 2*sqrt(L) steps instead of L.

    The sequence is cut into chunks of `chunk_size` steps (default ceil(sqrt(L))). Every chunk's
    states are first computed from a zero start, all chunks at once (a loop over the steps of one
    chunk); then the chunk start states are carried across chunks (a loop over chunks); finally
    each state gets its chunk start's contribution, start * exp(cumulative log-decay within the
    chunk). Every exponent is a sum of delta * A, so <= 0 for the usual A < 0, delta >= 0: no
    overflow. The loop counts depend on shapes only, so tracing and ONNX export see static graphs.
    """
    ct = _compute_dtype(u, delta, A, B, C, D, z, delta_bias)
    dim, length = _sizes(u, 1)
    chunk = chunk_size or math.isqrt(length - 1) + 1
    chunks = (length + chunk - 1) // chunk
    uf, dt = _prepare_delta(u, delta, delta_bias, delta_softplus, ct)

    def steps_first(x: Tensor, constant: bool = False) -> Tensor:
        """(batch, d, L, r) per-step values -> (chunk, chunks, batch, d, r), zero-padded in time."""
        x = x.permute(2, 0, 1, 3)
        if constant:
            return x.unsqueeze(0)
        x = F.pad(x, (0, 0, 0, 0, 0, 0, 0, chunks * chunk - length))
        return x.reshape(chunks, chunk, -1, *_sizes(x, 2)).transpose(0, 1).contiguous()

    log_decay = steps_first(dt.unsqueeze(-1)) * A.to(ct)
    drive = steps_first((dt * uf).unsqueeze(-1)) * steps_first(_per_step(B, dim, ct), B.dim() == 2)
    states = _chunked_states(log_decay, drive)
    y = (states * steps_first(_per_step(C, dim, ct), C.dim() == 2)).sum(-1)
    y = y.permute(2, 3, 1, 0).contiguous().flatten(2)[:, :, :length]
    out = _finish(y, uf, D, z, u.dtype, ct)
    if not return_last_state:
        return out
    return out, states[(length - 1) % chunk, (length - 1) // chunk]


def _chunked_states(log_decay: Tensor, drive: Tensor) -> Tensor:
    """States of h[t] = exp(log_decay[t]) * h[t-1] + drive[t], all as (chunk, chunks, ...).

    Steps are taken with unbind, not indexing: the backward of one unbind is one stack, while
    each index would add a zero-filled full-size gradient.
    """
    decays, drives = log_decay.exp().unbind(0), drive.unbind(0)
    h = drives[0]
    local = [h]
    for decay_t, drive_t in zip(decays[1:], drives[1:], strict=True):
        h = torch.addcmul(drive_t, decay_t, h)
        local.append(h)
    cum_log_decay = log_decay.cumsum(0)
    chunk_decays, chunk_ends = cum_log_decay[-1].exp().unbind(0), h.unbind(0)
    start = torch.zeros_like(chunk_ends[0])
    starts = [start]
    for chunk_decay, chunk_end in zip(chunk_decays[:-1], chunk_ends[:-1], strict=True):
        start = torch.addcmul(chunk_end, chunk_decay, start)
        starts.append(start)
    return torch.stack(local) + cum_log_decay.exp() * torch.stack(starts)


def _sizes(x: Tensor, start: int) -> tuple[int, ...]:
    """x.shape[start:] as ints, constants in traced graphs (never ask for a batch size here:
    it must stay dynamic in exported graphs)."""
    if torch.compiler.is_compiling():  # no tracer warnings there, and Dynamo can't trace warnings
        return tuple(int(size) for size in x.shape[start:])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        return tuple(int(size) for size in x.shape[start:])


def _compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    wide = any(t is not None and t.dtype == torch.float64 for t in tensors)
    return torch.float64 if wide else torch.float32


def _prepare_delta(
    u: Tensor, delta: Tensor, delta_bias: Tensor | None, softplus: bool, ct: torch.dtype
) -> tuple[Tensor, Tensor]:
    dt = delta.to(ct)
    if delta_bias is not None:
        dt = dt + delta_bias.to(ct)[:, None]
    if softplus:
        dt = F.softplus(dt)
    return u.to(ct), dt


def _per_step(X: Tensor, dim: int, ct: torch.dtype) -> Tensor:
    """B or C as (batch or 1, dim or 1, L or 1, dstate)."""
    if X.dim() == 2:
        return X.to(ct)[None, :, None, :]
    if X.dim() == 3:
        return X.to(ct).transpose(1, 2).unsqueeze(1)
    groups, dstate, length = _sizes(X, 1)
    if dim % groups:
        raise ValueError(f"dim {dim} is not a multiple of the {groups} groups of B/C")
    per_group = X[:, :, None].expand(-1, groups, dim // groups, dstate, length)
    return per_group.reshape(-1, dim, dstate, length).transpose(2, 3).to(ct)


def _finish(
    y: Tensor, uf: Tensor, D: Tensor | None, z: Tensor | None, dtype: torch.dtype, ct: torch.dtype
) -> Tensor:
    if D is not None:
        y = y + uf * D.to(ct)[:, None]
    if z is not None:
        y = y * F.silu(z.to(ct))
    return y.to(dtype).contiguous()
