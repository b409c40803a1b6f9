"""Mamba's selective scan, for MambaVision without mamba_ssm's CUDA extension: the dispatch
with mamba_ssm's signature and the `mamba_ssm` stand-in (``dispatch``), the scan in plain torch
ops (``torch_scan``), Triton kernels for CUDA (``triton_kernels``) and their benchmarks
(``bench``)."""
