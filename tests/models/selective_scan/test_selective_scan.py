"""Selective scan: chunked (CPU/ONNX) and Triton (CUDA) paths against the sequential reference."""

import importlib.util
import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from emotrack.models.selective_scan import dispatch
from emotrack.models.selective_scan.dispatch import selective_scan_fn
from emotrack.models.selective_scan.torch_scan import selective_scan_chunked, selective_scan_ref

NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


@dataclass(frozen=True)
class Case:
    batch: int = 2
    dim: int = 6
    length: int = 19
    dstate: int = 8
    bc: str = "variable"  # "constant" (dim, n), "variable" (b, n, L), "grouped" (b, g, n, L)
    D: bool = True
    z: bool = True
    bias: bool = True
    softplus: bool = True


def make_inputs(case: Case, dtype=torch.float64, seed=0) -> dict:
    """Random inputs in the ranges Mamba sees: A < 0, delta of either sign before softplus."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    def param(*shape, scale=1.0):  # A, D, delta_bias: float32 unless float64, as in MambaVision
        return rand(*shape, scale=scale).to(
            torch.float64 if dtype == torch.float64 else torch.float32
        )

    b, d, L, n = case.batch, case.dim, case.length, case.dstate
    bc_shape = {"constant": (d, n), "variable": (b, n, L), "grouped": (b, 2, n, L)}[case.bc]
    delta = rand(b, d, L) if case.softplus else rand(b, d, L).abs() * 0.5
    return {
        "u": rand(b, d, L),
        "delta": delta,
        "A": -torch.exp(param(d, n, scale=0.7)),
        "B": rand(*bc_shape),
        "C": rand(*bc_shape),
        "D": param(d) if case.D else None,
        "z": rand(b, d, L) if case.z else None,
        "delta_bias": param(d, scale=0.3) if case.bias else None,
    }


def run(fn, inputs: dict, softplus: bool, last: bool = False, grad: bool = False, **kwargs):
    """Call `fn`; with grad=True also back-propagate a fixed cotangent and return input grads."""
    leaves = {k: (v.detach().clone().requires_grad_(grad) if v is not None else None)
              for k, v in inputs.items()}  # fmt: skip
    result = fn(**leaves, delta_softplus=softplus, return_last_state=last, **kwargs)
    out = result[0] if last else result
    if not grad:
        return result, None
    cotangent = torch.linspace(-1, 1, out.numel(), dtype=out.dtype, device=out.device)
    (out * cotangent.reshape(out.shape)).sum().backward()
    return result, {k: v.grad for k, v in leaves.items() if v is not None}


def assert_grads_close(grads: dict, ref_grads: dict, tol: float) -> None:
    """Each gradient within tol of the reference, relative to the reference's largest entry."""
    for name, value in grads.items():
        ref = ref_grads[name].float()
        err = (value.float() - ref).abs().max().item()
        assert err <= tol * (ref.abs().max().item() + 1.0), (name, err)


CASES = [
    Case(),
    Case(length=1),
    Case(length=64),
    Case(length=37, dstate=16),
    Case(bc="constant", z=False),
    Case(bc="grouped", D=False, bias=False),
    Case(softplus=False, z=False, bias=False, D=False),
    Case(batch=1, dim=3, length=5, dstate=1),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.bc}-L{c.length}-n{c.dstate}")
@pytest.mark.parametrize("chunk_size", [None, 8])
def test_chunked_matches_reference_forward_and_gradients(case, chunk_size):
    inputs = make_inputs(case)
    (ref, ref_last), ref_grads = run(selective_scan_ref, inputs, case.softplus, True, True)
    (out, last), grads = run(selective_scan_chunked, inputs, case.softplus, True, True,
                             chunk_size=chunk_size)  # fmt: skip
    assert out.dtype == torch.float64 and out.shape == inputs["u"].shape
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(last, ref_last, rtol=1e-10, atol=1e-10)
    assert last.shape == (case.batch, case.dim, case.dstate)
    assert set(grads) == {k for k, v in inputs.items() if v is not None}
    for name in grads:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-9, atol=1e-9, msg=name)


def test_float32_and_bfloat16_inputs_compute_in_float32():
    case = Case(batch=3, dim=16, length=49)
    ref64, _ = run(selective_scan_ref, make_inputs(case), True)
    out32, _ = run(selective_scan_chunked, make_inputs(case, torch.float32), True)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), ref64, rtol=1e-4, atol=1e-4)

    bf16 = make_inputs(case, torch.bfloat16)
    (out, last), grads = run(selective_scan_chunked, bf16, True, last=True, grad=True)
    (ref, ref_last), ref_grads = run(selective_scan_ref, bf16, True, last=True, grad=True)
    assert out.dtype == torch.bfloat16 and last.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(last, ref_last, rtol=1e-4, atol=1e-4)
    assert all(value.dtype == bf16[name].dtype for name, value in grads.items())
    assert_grads_close(grads, ref_grads, 2e-2)


def test_strong_decay_stays_finite():
    """Cumulative log-decays far below exp's range (-1e4) must not overflow or give NaN."""
    case = Case(batch=1, dim=4, length=300, softplus=False, z=False)
    inputs = make_inputs(case)
    delta = torch.full((1, 4, 300), 0.05, dtype=torch.float64)
    delta[..., ::7] = 40.0
    inputs["delta"] = delta
    inputs["A"] = -torch.linspace(0.01, 16, 4 * 8, dtype=torch.float64).reshape(4, 8)
    ref, ref_grads = run(selective_scan_ref, inputs, False, grad=True)
    out, grads = run(selective_scan_chunked, inputs, False, grad=True, chunk_size=64)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref)
    for name in grads:
        assert torch.isfinite(grads[name]).all(), name
        torch.testing.assert_close(grads[name], ref_grads[name], msg=name)


def test_fn_uses_chunked_scan_on_cpu_with_mamba_signature():
    case = Case(dim=4, length=10)
    inputs = make_inputs(case, torch.float32)
    assert (
        dispatch.implementation_for(inputs["u"], inputs["B"], inputs["C"], inputs["A"])
        == dispatch.CHUNKED
    )
    out = selective_scan_fn(*[inputs[k] for k in NAMES], True, None)  # MambaVision's call
    assert isinstance(out, torch.Tensor)
    out_last = selective_scan_fn(*[inputs[k] for k in NAMES], True, True)
    ref = selective_scan_ref(**inputs, delta_softplus=True)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(out_last[0], ref)
    assert out_last[1].shape == (case.batch, case.dim, case.dstate)


def test_onnx_export_matches_torch(tmp_path):
    """The scan traces into an ONNX graph that ONNX Runtime runs to the same numbers."""
    ort = pytest.importorskip("onnxruntime")
    case = Case(batch=2, dim=8, length=23)
    inputs = make_inputs(case, torch.float32)

    class Mixer(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.A = torch.nn.Parameter(inputs["A"])
            self.D = torch.nn.Parameter(inputs["D"])
            self.bias = torch.nn.Parameter(inputs["delta_bias"])

        def forward(self, u, delta, B, C, z):
            return selective_scan_fn(u, delta, self.A, B, C, self.D, z, self.bias, True)

    names = ["u", "delta", "B", "C", "z"]
    args = tuple(inputs[k] for k in names)
    path = tmp_path / "scan.onnx"
    batch_axis = {k: {0: "batch"} for k in names}
    torch.onnx.export(Mixer(), args, str(path), input_names=names, dynamic_axes=batch_axis,
                      dynamo=False)  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = selective_scan_ref(**inputs, delta_softplus=True)
    got = session.run(None, {k: inputs[k].numpy() for k in names})[0]
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)
    bigger = make_inputs(Case(batch=3, dim=8, length=23), torch.float32, seed=1)
    bigger.update(A=inputs["A"], D=inputs["D"], delta_bias=inputs["delta_bias"])
    got = session.run(None, {k: bigger[k].numpy() for k in names})[0]
    expected = selective_scan_ref(**bigger, delta_softplus=True)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-4, atol=1e-4)


def test_standin_lets_mambavision_import_and_train():
    active = dispatch.install_mamba_ssm_standin()
    if active == dispatch.MAMBA_CUDA:
        pytest.skip("the real mamba_ssm is installed")
    assert active in (dispatch.TRITON, dispatch.CHUNKED)
    assert dispatch.install_mamba_ssm_standin() == active
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as imported

    assert imported is selective_scan_fn
    assert importlib.util.find_spec("mamba_ssm") is not None
    mamba_vision = pytest.importorskip("mambavision.models.mamba_vision")
    assert sys.modules["mamba_ssm.ops.selective_scan_interface"].selective_scan_fn is imported

    torch.manual_seed(0)
    mixer = mamba_vision.MambaVisionMixer(d_model=16, d_state=8, d_conv=3, expand=1)
    x = torch.randn(2, 49, 16)
    out = mixer(x)
    assert out.shape == x.shape
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in mixer.parameters())


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

GPU_CASES = [
    Case(batch=3, dim=40, length=49),
    Case(batch=2, dim=70, length=196, z=False),
    Case(batch=2, dim=33, length=1, dstate=16),
    Case(batch=2, dim=8, length=23, softplus=False, D=False, bias=False, z=False),
]


@cuda
@pytest.mark.parametrize("case", GPU_CASES, ids=lambda c: f"d{c.dim}-L{c.length}-n{c.dstate}")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_triton_matches_reference(case, dtype):
    pytest.importorskip("triton")
    inputs = make_inputs(case, dtype)
    for grouped in (False, True):
        gpu = {k: (v.cuda() if v is not None else None) for k, v in inputs.items()}
        # MambaVision's delta is a (b, l, d) buffer seen as (b, d, l): channels contiguous.
        gpu["delta"] = gpu["delta"].transpose(1, 2).contiguous().transpose(1, 2)
        if grouped:
            gpu["B"], gpu["C"] = gpu["B"].unsqueeze(1), gpu["C"].unsqueeze(1)
        assert (
            dispatch.implementation_for(gpu["u"], gpu["B"], gpu["C"], gpu["A"]) == dispatch.TRITON
        )
        (out, last), grads = run(selective_scan_fn, gpu, case.softplus, True, True)
        (ref, ref_last), ref_grads = run(selective_scan_ref, gpu, case.softplus, True, True)
        tol = 1e-3 if dtype == torch.float32 else 3e-2
        assert out.dtype == dtype and out.shape == ref.shape
        torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
        torch.testing.assert_close(last, ref_last, rtol=1e-3, atol=1e-3)
        for name, value in grads.items():
            assert value.dtype == gpu[name].dtype and value.shape == gpu[name].shape, name
        assert_grads_close(grads, ref_grads, tol)


@cuda
@pytest.mark.parametrize("config", [(16, 1), (64, 2), (128, 4)], ids=str)
def test_triton_block_configs(monkeypatch, config):
    """Every (channels per program, warps) config the benchmark sweeps gives the same results."""
    triton_kernels = pytest.importorskip("emotrack.models.selective_scan.triton_kernels")
    monkeypatch.setattr(triton_kernels, "FORWARD_CONFIG", config)
    monkeypatch.setattr(triton_kernels, "BACKWARD_CONFIG", config)
    inputs = make_inputs(Case(batch=2, dim=150, length=50), torch.float32)
    gpu = {k: (v.cuda() if v is not None else None) for k, v in inputs.items()}
    out, grads = run(selective_scan_fn, gpu, True, grad=True)
    ref, ref_grads = run(selective_scan_ref, gpu, True, grad=True)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-3)
    assert_grads_close(grads, ref_grads, 1e-3)


def _compiled(backend: str):
    """selective_scan_fn under torch.compile with no graph break allowed (fullgraph)."""
    torch._dynamo.reset()
    return torch.compile(selective_scan_fn, backend=backend, fullgraph=True)


def test_compiles_without_graph_breaks_on_the_cpu():
    """`emotrack-train --compile` traces the scan whole; on the CPU that is the chunked scan."""
    inputs = make_inputs(Case(), torch.float32)
    out, grads = run(_compiled("aot_eager"), inputs, True, grad=True)
    ref, ref_grads = run(selective_scan_ref, inputs, True, grad=True)
    torch.testing.assert_close(out, ref.float(), rtol=1e-4, atol=1e-4)
    assert_grads_close(grads, ref_grads, 1e-4)


@cuda
def test_compiled_model_keeps_the_triton_kernels():
    """Under torch.compile the CUDA scan stays emotrack's Triton op (not the chunked fallback)."""
    pytest.importorskip("triton")
    dispatch.install_mamba_ssm_standin()  # as building a MambaVision model does, before compiling
    inputs = make_inputs(Case(batch=2, dim=40, length=49), torch.bfloat16)
    gpu = {k: (v.cuda() if v is not None else None) for k, v in inputs.items()}
    ops = set()

    def recording(graph, example_inputs):
        ops.update(str(node.target) for node in graph.graph.nodes)
        return graph.forward

    torch._dynamo.reset()
    torch.compile(selective_scan_fn, backend=recording, fullgraph=True)(**gpu)
    assert any("emotrack.selective_scan_fwd" in op for op in ops), ops
    out, grads = run(_compiled("inductor"), gpu, True, grad=True)
    ref, ref_grads = run(selective_scan_ref, gpu, True, grad=True)
    torch.testing.assert_close(out, ref, rtol=3e-2, atol=3e-2)
    assert_grads_close(grads, ref_grads, 3e-2)
