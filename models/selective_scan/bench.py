"""Benchmarks of the selective scan and of MambaVision with it (CUDA; CPU works but is slow).

`bench_scan` times one scan call (forward, and forward + backward) at MambaVision's shapes for each
implementation; `bench_mambavision` measures windows/s of a whole MambaVision model, inference or
training, under bf16 autocast. `main` runs both and prints one JSON object on stdout:

    python -m emotrack.models.selective_scan.bench --batch 256 --models mamba_vision_T:infer
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from emotrack.models.selective_scan import dispatch
from emotrack.models.selective_scan.torch_scan import selective_scan_chunked, selective_scan_ref

# (model, stage, scan channels = d_inner / 2, tokens per window); MambaVision's d_state is 8.
MAMBAVISION_SHAPES = (
    ("mamba_vision_T", 3, 320, 196),
    ("mamba_vision_T", 4, 640, 49),
    ("mamba_vision_S", 3, 384, 196),
    ("mamba_vision_S", 4, 768, 49),
)
IMPLEMENTATIONS = {
    dispatch.TRITON: None,
    dispatch.CHUNKED: selective_scan_chunked,
    "reference": selective_scan_ref,
}


@dataclass
class ScanTiming:
    implementation: str
    model: str
    stage: int
    batch: int
    dim: int
    length: int
    forward_ms: float
    forward_backward_ms: float | None


def scan_inputs(batch: int, dim: int, length: int, device: str, dtype: torch.dtype,
                dstate: int = 8) -> dict:  # fmt: skip
    """Inputs laid out as MambaVision passes them (delta channel-contiguous, B/C contiguous)."""
    g = torch.Generator(device=device).manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=g, device=device)

    return {
        "u": rand(batch, dim, length).to(dtype),
        "delta": rand(batch, length, dim).to(dtype).transpose(1, 2),
        "A": -torch.arange(1, dstate + 1, device=device, dtype=torch.float32).repeat(dim, 1),
        "B": rand(batch, dstate, length).to(dtype),
        "C": rand(batch, dstate, length).to(dtype),
        "D": torch.ones(dim, device=device),
        "z": None,
        "delta_bias": rand(dim) * 0.5 - 4.0,
        "delta_softplus": True,
    }


def time_ms(fn: Callable[[], object], device: str, warmup: int = 3, iters: int = 10) -> float:
    """Mean wall time of fn() in milliseconds, synchronising the device."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / iters * 1e3


def bench_scan(
    batch: int = 256,
    device: str = "cuda",
    dtype: torch.dtype = torch.bfloat16,
    implementations: tuple[str, ...] = tuple(IMPLEMENTATIONS),
    backward: bool = True,
    iters: int = 10,
) -> list[ScanTiming]:
    """Time each implementation at each MambaVision scan shape."""
    results = []
    for model, stage, dim, length in MAMBAVISION_SHAPES:
        inputs = scan_inputs(batch, dim, length, device, dtype)
        for name in implementations:
            fn = _scan_callable(name)
            reps = 2 if name == "reference" else iters
            with torch.no_grad():
                fwd = time_ms(lambda fn=fn, x=inputs: fn(**x), device, warmup=1, iters=reps)
            fwd_bwd = None
            if backward:
                leaves = {k: v.detach().requires_grad_(True) if torch.is_tensor(v) else v
                          for k, v in inputs.items()}  # fmt: skip

                def step(fn=fn, leaves=leaves):
                    fn(**leaves).float().square().mean().backward()

                fwd_bwd = time_ms(step, device, warmup=1, iters=reps)
            results.append(ScanTiming(name, model, stage, batch, dim, length, fwd, fwd_bwd))
    return results


def sweep_triton(
    batch: int = 256,
    dim: int = 384,
    length: int = 196,
    device: str = "cuda",
    block_ds: tuple[int, ...] = (16, 32, 64, 128),
    warps: tuple[int, ...] = (1, 2, 4),
) -> list[dict]:
    """Forward and backward kernel times (ms) for each (channels per program, warps) config."""
    from emotrack.models.selective_scan import triton_kernels

    inputs = scan_inputs(batch, dim, length, device, torch.bfloat16)
    args = [inputs[k] for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")]
    dout = torch.randn_like(inputs["u"])
    results = []
    for block_d in block_ds:
        for num_warps in warps:
            config = (block_d, num_warps)
            fwd = time_ms(
                lambda c=config: triton_kernels.scan_forward(*args, True, False, c), device
            )
            bwd = time_ms(
                lambda c=config: triton_kernels.scan_backward(dout, *args, True, c), device
            )
            results.append({"block_d": block_d, "num_warps": num_warps, "forward_ms": fwd,
                            "backward_ms": bwd})  # fmt: skip
    return results


def bench_mambavision(
    name: str = "mamba_vision_T",
    batch: int = 256,
    train: bool = False,
    device: str = "cuda",
    steps: int = 10,
    implementation: str | None = None,
) -> dict:
    """Windows/s of MambaVision `name` on 3x224x224 inputs under bf16 autocast."""
    active = dispatch.install_mamba_ssm_standin()
    from mambavision.models import mamba_vision

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    model = getattr(mamba_vision, name)(pretrained=False).to(device)
    x = torch.randn(batch, 3, 224, 224, device=device)
    labels = torch.randint(0, 1000, (batch,), device=device)
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16)
    if train:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

        def step():
            with autocast:
                loss = torch.nn.functional.cross_entropy(model(x).float(), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    else:
        model.eval()

        def step():
            with torch.inference_mode(), autocast:
                model(x)

    with dispatch.forced_implementation(implementation):
        seconds = time_ms(step, device, warmup=3, iters=steps) / 1e3
    return {
        "model": name,
        "mode": "train" if train else "infer",
        "batch": batch,
        "scan": implementation or active,
        "windows_per_s": batch / seconds,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emotrack.models.selective_scan.bench")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--no-scan", action="store_true", help="skip the scan microbenchmarks")
    parser.add_argument("--sweep", action="store_true", help="time Triton kernel configs too")
    parser.add_argument(
        "--models",
        nargs="*",
        default=["mamba_vision_T:infer", "mamba_vision_S:train"],
        help="MODEL:infer|train[:IMPLEMENTATION] entries to time end to end",
    )
    args = parser.parse_args(argv)
    report: dict = {"device": _device_name(args.device), "torch": torch.__version__}
    if not args.no_scan:
        timings = bench_scan(args.batch, args.device)
        report["scan"] = [asdict(t) for t in timings]
    if args.sweep:
        report["sweep"] = sweep_triton(args.batch, device=args.device)
        print(json.dumps(report["sweep"]), file=sys.stderr)
    report["models"] = []
    for entry in args.models:
        name, mode, *impl = entry.split(":")
        result = bench_mambavision(name, args.batch, mode == "train", args.device,
                                   implementation=impl[0] if impl else None)  # fmt: skip
        report["models"].append(result)
        print(json.dumps(result), file=sys.stderr)
    print(json.dumps(report, indent=2))
    return 0


def _scan_callable(name: str) -> Callable:
    if name == dispatch.TRITON:
        from emotrack.models.selective_scan.triton_kernels import selective_scan_triton

        return selective_scan_triton
    return IMPLEMENTATIONS[name]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"


if __name__ == "__main__":
    sys.exit(main())
