"""Mamba selective scan with mamba_ssm's signature, and a stand-in for the `mamba_ssm` package.

MambaVision imports `mamba_ssm.ops.selective_scan_interface.selective_scan_fn` at import time.
`install_mamba_ssm_standin()` registers this module's `selective_scan_fn` under that name when the
real package (with its CUDA extension) is missing. `selective_scan_fn` dispatches to:

- mamba_ssm's CUDA kernel, for CUDA tensors, when it imports;
- emotrack's Triton kernels (`emotrack.models.selective_scan.triton_kernels`), for CUDA
  tensors otherwise;
- `selective_scan_chunked` (`emotrack.models.selective_scan.torch_scan`), a chunked scan in
  plain torch ops, on the CPU, while tracing for TorchScript or ONNX export, and for the forms
  the Triton kernels do not cover.

`selective_scan_ref` (also in `torch_scan`) is the obvious sequential loop over the sequence,
kept for tests.

Shapes (mamba_ssm's): u, delta, z (batch, dim, L); A (dim, dstate), real; B and C either
(dim, dstate) (constant), (batch, dstate, L) or (batch, groups, dstate, L); D and delta_bias (dim,).
The recurrence, per channel d and state n, is
h[t] = exp(delta[t] * A) * h[t-1] + delta[t] * B[t] * u[t],  y[t] = C[t] . h[t] + D * u[t],
and the output is y (times silu(z) when z is given), in u's dtype, computed in float32 (float64
when an input is float64).
"""

import contextlib
import importlib.machinery
import sys
import types
from collections.abc import Callable, Iterator

import torch

from emotrack.models.selective_scan.torch_scan import selective_scan_chunked, selective_scan_ref

Tensor = torch.Tensor

MAMBA_CUDA = "mamba_ssm-cuda"
TRITON = "emotrack-triton"
CHUNKED = "emotrack-chunked"

_forced: str | None = None
# What this machine offers, found out once (install_mamba_ssm_standin asks, before any
# torch.compile: Dynamo cannot trace the imports, only read this dict).
_probed: dict[str, object] = {}
_STANDIN_MODULES = ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.selective_scan_interface")


def selective_scan_fn(
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
    """mamba_ssm's `selective_scan_fn`: out (batch, dim, L), plus last_state when asked."""
    args = (u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus), bool(return_last_state))
    impl = implementation_for(u, B, C, A)
    if impl == MAMBA_CUDA:
        return _mamba_cuda_fn()(*args)
    if impl == TRITON:
        from emotrack.models.selective_scan.triton_kernels import selective_scan_triton

        return selective_scan_triton(*args)
    return selective_scan_chunked(*args)


@contextlib.contextmanager
def forced_implementation(name: str | None) -> Iterator[None]:
    """Within the block, send CUDA calls to `name` (TRITON or CHUNKED); for benchmarks."""
    global _forced
    if name not in (None, TRITON, CHUNKED):
        raise ValueError(f"unknown scan implementation {name!r}; use {TRITON!r} or {CHUNKED!r}")
    previous, _forced = _forced, name
    try:
        yield
    finally:
        _forced = previous


def implementation_for(
    u: Tensor, B: Tensor | None = None, C: Tensor | None = None, A: Tensor | None = None
) -> str:
    """Which path `selective_scan_fn` takes for these inputs (MAMBA_CUDA, TRITON or CHUNKED)."""
    if _tracing() or not u.is_cuda:
        return CHUNKED
    if _forced is not None:
        return _forced
    if _mamba_cuda_fn() is not None:
        return MAMBA_CUDA
    if _triton_usable():
        from emotrack.models.selective_scan.triton_kernels import supports

        if supports(u, B, C, A):
            return TRITON
    return CHUNKED


def install_mamba_ssm_standin() -> str:
    """Make `mamba_ssm.ops.selective_scan_interface` importable; return the active implementation.

    Leaves a working mamba_ssm alone ("mamba_ssm-cuda"). Otherwise registers stand-in modules
    exposing this module's `selective_scan_fn` and `selective_scan_ref`, and returns
    "emotrack-triton" when CUDA and Triton are available, else "emotrack-chunked".
    """
    if _mamba_cuda_fn() is not None:
        return MAMBA_CUDA
    if not _standin_installed():
        for name in [key for key in sys.modules if key.split(".")[0] == "mamba_ssm"]:
            del sys.modules[name]  # leftovers of a failed import of the real package
        modules = {}
        for name in _STANDIN_MODULES:
            module = types.ModuleType(name, "emotrack stand-in for mamba_ssm (selective scan only)")
            module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
            module.__path__ = []
            modules[name] = module
        interface = modules[_STANDIN_MODULES[-1]]
        interface.selective_scan_fn = selective_scan_fn
        interface.selective_scan_ref = selective_scan_ref
        interface.emotrack_standin = True
        modules["mamba_ssm"].ops = modules["mamba_ssm.ops"]
        modules["mamba_ssm.ops"].selective_scan_interface = interface
        sys.modules.update(modules)
    return TRITON if torch.cuda.is_available() and _triton_usable() else CHUNKED


def _tracing() -> bool:
    """Whether a TorchScript (ONNX export) graph is being recorded: it gets the chunked scan in
    plain ops. torch.compile keeps the Triton op, which has a fake implementation for tracing
    (Dynamo reports itself as exporting, so is_exporting() cannot tell compile from export)."""
    return bool(
        torch.onnx.is_in_onnx_export() or torch.jit.is_tracing() or torch.jit.is_scripting()
    )


def _standin_installed() -> bool:
    module = sys.modules.get(_STANDIN_MODULES[-1])
    return bool(getattr(module, "emotrack_standin", False))


def _mamba_cuda_fn() -> Callable | None:
    """mamba_ssm's own selective_scan_fn when it and its CUDA extension import, else None."""
    if "mamba_cuda" not in _probed:  # a plain dict, not functools.cache: torch.compile reads it
        _probed["mamba_cuda"] = None
        if not _standin_installed():
            try:
                from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as fn
            except Exception:
                fn = None
            _probed["mamba_cuda"] = None if fn is selective_scan_fn else fn
    return _probed["mamba_cuda"]


def _triton_usable() -> bool:
    if "triton" not in _probed:
        try:
            import emotrack.models.selective_scan.triton_kernels  # noqa: F401
        except Exception:
            _probed["triton"] = False
        else:
            _probed["triton"] = True
    return _probed["triton"]
