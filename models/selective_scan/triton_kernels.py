"""Selective scan on CUDA in Triton: forward and backward kernels, wrapped as torch custom ops.

One program handles one batch row and a block of BLOCK_D channels, holding the (BLOCK_D, dstate)
state in registers and looping over the sequence; inputs of any float dtype are computed in
float32. Per-step loads and stores run across channels, so u, delta, z, B and C are first laid
out channels-contiguous (MambaVision's delta already is), and outputs and gradients come back as
(batch, channels, L) views of (batch, L, channels) buffers: mamba_ssm's shapes and values, other
strides. The backward kernel first re-runs the forward recurrence, writing every state to a
float32 scratch buffer (freed when it returns, so training keeps no states between forward and
backward), then walks the sequence backwards. Reductions over channels (dB, dC) and over the
batch (dA, dD, d delta_bias) are written as per-program partial sums and added up in torch, so
the result does not depend on scheduling.

Covers real A with B and C of shape (batch, dstate, L) or (batch, 1, dstate, L) (MambaVision's
form); `supports()` says whether a call is covered, `selective_scan.dispatch` falls back otherwise.
"""

import torch
import triton
import triton.language as tl

Tensor = torch.Tensor

_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_MAX_DSTATE = 64
# (channels per program, warps per program), chosen by selective_scan.bench.sweep_triton on an H200.
FORWARD_CONFIG = (32, 1)
BACKWARD_CONFIG = (32, 1)


def supports(u: Tensor, B: Tensor | None, C: Tensor | None, A: Tensor | None) -> bool:
    """Whether the Triton kernels cover a call with these u, B, C, A."""
    if u.dtype not in _DTYPES or A is None or A.is_complex() or A.shape[1] > _MAX_DSTATE:
        return False
    for X in (B, C):
        if X is None or X.dtype not in _DTYPES:
            return False
        if not (X.dim() == 3 or (X.dim() == 4 and X.shape[1] == 1)):
            return False
    return True


def selective_scan_triton(
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
    """mamba_ssm's `selective_scan_fn` on the Triton kernels (differentiable)."""
    B = _channels_contiguous(B.squeeze(1) if B.dim() == 4 else B)
    C = _channels_contiguous(C.squeeze(1) if C.dim() == 4 else C)
    u, delta, z = _channels_contiguous(u), _channels_contiguous(delta), _channels_contiguous(z)
    out, last = _scan_op(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
    return (out, last) if return_last_state else out


@triton.jit
def _softplus(x):
    return tl.where(x <= 20.0, tl.log(1.0 + tl.exp(x)), x)


@triton.jit
def _scan_fwd_kernel(
    u_ptr, dt_ptr, a_ptr, b_ptr, c_ptr, dskip_ptr, z_ptr, bias_ptr, out_ptr, last_ptr,
    dim, length, n_dblocks,
    su_b, su_d, su_l, st_b, st_d, st_l, sa_d, sa_n, sb_b, sb_n, sb_l, sc_b, sc_n, sc_l,
    sz_b, sz_d, sz_l, so_b, so_d, so_l,
    DSTATE: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    STORE_LAST: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    pid_b = (pid // n_dblocks).to(tl.int64)
    offs_d = (pid % n_dblocks) * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_d < dim
    mask_n = offs_n < DSTATE
    mask_dn = mask_d[:, None] & mask_n[None, :]
    a2 = tl.load(a_ptr + offs_d[:, None] * sa_d + offs_n[None, :] * sa_n, mask=mask_dn, other=0.0)
    a2 = a2.to(tl.float32) * 1.4426950408889634
    if HAS_D:
        dskip = tl.load(dskip_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    u_ptrs = u_ptr + pid_b * su_b + offs_d * su_d
    dt_ptrs = dt_ptr + pid_b * st_b + offs_d * st_d
    z_ptrs = z_ptr + pid_b * sz_b + offs_d * sz_d
    out_ptrs = out_ptr + pid_b * so_b + offs_d * so_d
    b_ptrs = b_ptr + pid_b * sb_b + offs_n * sb_n
    c_ptrs = c_ptr + pid_b * sc_b + offs_n * sc_n
    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    for t in range(length):
        u = tl.load(u_ptrs + t * su_l, mask=mask_d, other=0.0).to(tl.float32)
        dt = tl.load(dt_ptrs + t * st_l, mask=mask_d, other=0.0).to(tl.float32)
        bt = tl.load(b_ptrs + t * sb_l, mask=mask_n, other=0.0).to(tl.float32)
        ct = tl.load(c_ptrs + t * sc_l, mask=mask_n, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt = dt + bias
        if SOFTPLUS:
            dt = _softplus(dt)
        h = tl.exp2(dt[:, None] * a2) * h + (dt * u)[:, None] * bt[None, :]
        y = tl.sum(h * ct[None, :], axis=1)
        if HAS_D:
            y = y + dskip * u
        if HAS_Z:
            zt = tl.load(z_ptrs + t * sz_l, mask=mask_d, other=0.0).to(tl.float32)
            y = y * zt * tl.sigmoid(zt)
        tl.store(out_ptrs + t * so_l, y.to(out_ptr.dtype.element_ty), mask=mask_d)
    if STORE_LAST:
        last_ptrs = last_ptr + (pid_b * dim + offs_d[:, None]) * DSTATE + offs_n[None, :]
        tl.store(last_ptrs, h, mask=mask_dn)


@triton.jit
def _scan_bwd_kernel(
    u_ptr, dt_ptr, a_ptr, b_ptr, c_ptr, dskip_ptr, z_ptr, bias_ptr, dout_ptr, states_ptr,
    du_ptr, ddt_ptr, dz_ptr, db_ptr, dc_ptr, da_ptr, ddskip_ptr, dbias_ptr,
    dim, length, n_dblocks,
    su_b, su_d, su_l, st_b, st_d, st_l, sa_d, sa_n, sb_b, sb_n, sb_l, sc_b, sc_n, sc_l,
    sz_b, sz_d, sz_l, so_b, so_d, so_l, sg_b, sg_d, sg_l,
    DSTATE: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_N: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    pid_b = (pid // n_dblocks).to(tl.int64)
    pid_d = pid % n_dblocks
    offs_d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    offs_n = tl.arange(0, BLOCK_N)
    mask_d = offs_d < dim
    mask_n = offs_n < DSTATE
    mask_dn = mask_d[:, None] & mask_n[None, :]
    a = tl.load(a_ptr + offs_d[:, None] * sa_d + offs_n[None, :] * sa_n, mask=mask_dn, other=0.0)
    a = a.to(tl.float32)
    a2 = a * 1.4426950408889634
    if HAS_D:
        dskip = tl.load(dskip_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(bias_ptr + offs_d, mask=mask_d, other=0.0).to(tl.float32)
    u_ptrs = u_ptr + pid_b * su_b + offs_d * su_d
    dt_ptrs = dt_ptr + pid_b * st_b + offs_d * st_d
    z_ptrs = z_ptr + pid_b * sz_b + offs_d * sz_d
    dout_ptrs = dout_ptr + pid_b * so_b + offs_d * so_d
    b_ptrs = b_ptr + pid_b * sb_b + offs_n * sb_n
    c_ptrs = c_ptr + pid_b * sc_b + offs_n * sc_n
    row = pid_b * sg_b + offs_d * sg_d
    part = (pid_b * n_dblocks + pid_d) * length * DSTATE + offs_n
    tile = tl.arange(0, BLOCK_D)[:, None] * BLOCK_N + offs_n[None, :]
    states = states_ptr + pid.to(tl.int64) * length * BLOCK_D * BLOCK_N + tile

    h = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    for t in range(length):
        u = tl.load(u_ptrs + t * su_l, mask=mask_d, other=0.0).to(tl.float32)
        dt = tl.load(dt_ptrs + t * st_l, mask=mask_d, other=0.0).to(tl.float32)
        bt = tl.load(b_ptrs + t * sb_l, mask=mask_n, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt = dt + bias
        if SOFTPLUS:
            dt = _softplus(dt)
        h = tl.exp2(dt[:, None] * a2) * h + (dt * u)[:, None] * bt[None, :]
        tl.store(states + t * BLOCK_D * BLOCK_N, h)

    g = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    da_acc = tl.zeros((BLOCK_D, BLOCK_N), dtype=tl.float32)
    dskip_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    dbias_acc = tl.zeros((BLOCK_D,), dtype=tl.float32)
    for i in range(length):
        t = length - 1 - i
        u = tl.load(u_ptrs + t * su_l, mask=mask_d, other=0.0).to(tl.float32)
        dt_raw = tl.load(dt_ptrs + t * st_l, mask=mask_d, other=0.0).to(tl.float32)
        bt = tl.load(b_ptrs + t * sb_l, mask=mask_n, other=0.0).to(tl.float32)
        ct = tl.load(c_ptrs + t * sc_l, mask=mask_n, other=0.0).to(tl.float32)
        dy = tl.load(dout_ptrs + t * so_l, mask=mask_d, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt_raw = dt_raw + bias
        if SOFTPLUS:
            dt = _softplus(dt_raw)
        else:
            dt = dt_raw
        h_prev = tl.load(states + (t - 1) * BLOCK_D * BLOCK_N, mask=mask_dn & (t > 0), other=0.0)
        decay = tl.exp2(dt[:, None] * a2)
        h = decay * h_prev + (dt * u)[:, None] * bt[None, :]
        if HAS_Z:
            zt = tl.load(z_ptrs + t * sz_l, mask=mask_d, other=0.0).to(tl.float32)
            y = tl.sum(h * ct[None, :], axis=1)
            if HAS_D:
                y = y + dskip * u
            sig = tl.sigmoid(zt)
            dz = dy * y * sig * (1.0 + zt * (1.0 - sig))
            tl.store(dz_ptr + row + t * sg_l, dz.to(dz_ptr.dtype.element_ty), mask=mask_d)
            dy = dy * zt * sig
        g = g + dy[:, None] * ct[None, :]
        tl.store(dc_ptr + part + t * DSTATE, tl.sum(dy[:, None] * h, axis=0), mask=mask_n)
        gb = tl.sum(g * bt[None, :], axis=1)
        tl.store(db_ptr + part + t * DSTATE, tl.sum(g * (dt * u)[:, None], axis=0), mask=mask_n)
        g_decay = g * decay * h_prev
        da_acc += g_decay * dt[:, None]
        du = dt * gb
        if HAS_D:
            du = du + dskip * dy
            dskip_acc += dy * u
        ddt = u * gb + tl.sum(g_decay * a, axis=1)
        if SOFTPLUS:
            ddt = ddt * tl.sigmoid(dt_raw)
        dbias_acc += ddt
        tl.store(du_ptr + row + t * sg_l, du.to(du_ptr.dtype.element_ty), mask=mask_d)
        tl.store(ddt_ptr + row + t * sg_l, ddt.to(ddt_ptr.dtype.element_ty), mask=mask_d)
        g = g * decay
    tl.store(da_ptr + (pid_b * dim + offs_d[:, None]) * DSTATE + offs_n[None, :], da_acc,
             mask=mask_dn)  # fmt: skip
    tl.store(ddskip_ptr + pid_b * dim + offs_d, dskip_acc, mask=mask_d)
    tl.store(dbias_ptr + pid_b * dim + offs_d, dbias_acc, mask=mask_d)


def _channels_contiguous(x: Tensor | None) -> Tensor | None:
    """x (batch, channels, L) laid out with channels contiguous, so each step's loads coalesce."""
    if x is None or x.stride(1) == 1:
        return x
    return x.transpose(1, 2).contiguous().transpose(1, 2)


def _channels_contiguous_empty(batch: int, dim: int, length: int, dtype: torch.dtype,
                               device: torch.device) -> Tensor:  # fmt: skip
    return torch.empty((batch, length, dim), dtype=dtype, device=device).transpose(1, 2)


def _strides(x: Tensor | None, ndim: int = 3) -> tuple[int, ...]:
    return tuple(x.stride()) if x is not None else (0,) * ndim


def _launch_shape(u: Tensor, A: Tensor, block_d: int) -> tuple[int, int, int, int]:
    batch, dim, _ = u.shape
    dstate = A.shape[1]
    n_dblocks = triton.cdiv(dim, block_d)
    return batch * n_dblocks, n_dblocks, dstate, max(2, triton.next_power_of_2(dstate))


def scan_forward(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool, return_last_state: bool,
    config: tuple[int, int] | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Launch the forward kernel: out (batch, dim, L) in u's dtype, last state (or empty)."""
    block_d, num_warps = config or FORWARD_CONFIG
    batch, dim, length = u.shape
    grid, n_dblocks, dstate, block_n = _launch_shape(u, A, block_d)
    out = _channels_contiguous_empty(batch, dim, length, u.dtype, u.device)
    shape = (batch, dim, dstate) if return_last_state else (0,)
    last = torch.empty(shape, dtype=torch.float32, device=u.device)
    _scan_fwd_kernel[(grid,)](
        u, delta, A, B, C, u if D is None else D, u if z is None else z,
        u if delta_bias is None else delta_bias, out, last,
        dim, length, n_dblocks,
        *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *_strides(z),
        *out.stride(),
        DSTATE=dstate, BLOCK_D=block_d, BLOCK_N=block_n, HAS_D=D is not None,
        HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        STORE_LAST=return_last_state, num_warps=num_warps,
    )  # fmt: skip
    return out, last


def scan_backward(
    dout: Tensor, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
    config: tuple[int, int] | None = None,
) -> tuple[Tensor, ...]:  # fmt: skip
    """Launch the backward kernel: du, ddelta, dA, dB, dC, dD, dz, ddelta_bias (empty if absent)."""
    block_d, num_warps = config or BACKWARD_CONFIG
    batch, dim, length = u.shape
    grid, n_dblocks, dstate, block_n = _launch_shape(u, A, block_d)
    dev, f32 = u.device, torch.float32
    states = torch.empty((grid, length, block_d, block_n), dtype=f32, device=dev)
    du = _channels_contiguous_empty(batch, dim, length, u.dtype, dev)
    ddelta = _channels_contiguous_empty(batch, dim, length, delta.dtype, dev)
    dz_dtype = z.dtype if z is not None else u.dtype
    dz = _channels_contiguous_empty(batch, dim, length if z is not None else 0, dz_dtype, dev)
    db_part = torch.empty((batch, n_dblocks, length, dstate), dtype=f32, device=dev)
    dc_part = torch.empty((batch, n_dblocks, length, dstate), dtype=f32, device=dev)
    da_part = torch.empty((batch, dim, dstate), dtype=f32, device=dev)
    dd_part = torch.empty((batch, dim), dtype=f32, device=dev)
    dbias_part = torch.empty((batch, dim), dtype=f32, device=dev)
    _scan_bwd_kernel[(grid,)](
        u, delta, A, B, C, u if D is None else D, u if z is None else z,
        u if delta_bias is None else delta_bias, dout, states,
        du, ddelta, dz, db_part, dc_part, da_part, dd_part, dbias_part,
        dim, length, n_dblocks,
        *u.stride(), *delta.stride(), *A.stride(), *B.stride(), *C.stride(), *_strides(z),
        *dout.stride(), *du.stride(),
        DSTATE=dstate, BLOCK_D=block_d, BLOCK_N=block_n, HAS_D=D is not None,
        HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=delta_softplus,
        num_warps=num_warps,
    )  # fmt: skip
    return (
        du,
        ddelta,
        da_part.sum(0).to(A.dtype),
        db_part.sum(1).transpose(1, 2).to(B.dtype),
        dc_part.sum(1).transpose(1, 2).to(C.dtype),
        dd_part.sum(0).to(D.dtype) if D is not None else dd_part.new_empty(0),
        dz,
        dbias_part.sum(0).to(delta_bias.dtype) if delta_bias is not None else dd_part.new_empty(0),
    )


@torch.library.custom_op("emotrack::selective_scan_fwd", mutates_args=(), device_types="cuda")
def _scan_op(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool, return_last_state: bool,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    return scan_forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


@_scan_op.register_fake
def _(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
    shape = (u.shape[0], u.shape[1], A.shape[1]) if return_last_state else (0,)
    out = _channels_contiguous_empty(*u.shape, u.dtype, u.device)
    return out, u.new_empty(shape, dtype=torch.float32)


@torch.library.custom_op("emotrack::selective_scan_bwd", mutates_args=(), device_types="cuda")
def _scan_bwd_op(
    dout: Tensor, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None,
    z: Tensor | None, delta_bias: Tensor | None, delta_softplus: bool,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:  # fmt: skip
    return scan_backward(dout, u, delta, A, B, C, D, z, delta_bias, delta_softplus)


@_scan_bwd_op.register_fake
def _(dout, u, delta, A, B, C, D, z, delta_bias, delta_softplus):
    batch, dim, length = u.shape

    def state_grad(x):
        return x.new_empty((batch, length, A.shape[1])).transpose(1, 2)

    def param_grad(x):
        return x.new_empty(x.shape) if x is not None else u.new_empty(0, dtype=torch.float32)

    dz_dtype = z.dtype if z is not None else u.dtype
    return (
        _channels_contiguous_empty(batch, dim, length, u.dtype, u.device),
        _channels_contiguous_empty(batch, dim, length, delta.dtype, u.device),
        param_grad(A),
        state_grad(B),
        state_grad(C),
        param_grad(D),
        _channels_contiguous_empty(batch, dim, length if z is not None else 0, dz_dtype, u.device),
        param_grad(delta_bias),
    )


def _setup_context(ctx, inputs, output):
    u, delta, A, B, C, D, z, delta_bias, delta_softplus, _ = inputs
    ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias)
    ctx.delta_softplus = delta_softplus


def _backward(ctx, dout, dlast):
    u, delta, A, B, C, D, z, delta_bias = ctx.saved_tensors
    grads = _scan_bwd_op(
        _channels_contiguous(dout), u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus
    )
    du, ddelta, dA, dB, dC, dD, dz, dbias = grads
    return (du, ddelta, dA, dB, dC, dD if D is not None else None, dz if z is not None else None,
            dbias if delta_bias is not None else None, None, None)  # fmt: skip


_scan_op.register_autograd(_backward, setup_context=_setup_context)
