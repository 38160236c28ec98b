"""Benchmarks of sched_nb's hot operations against the seed's rules and diffusers, measured in one run.

    python -m benchmarks [--quick] [--device cpu|cuda] [--threads N] [--json FILE]

`suite.py` defines the rows, `baselines.py` what they are compared with, `measure.py` how time and peak
memory are measured; `gpu_checks.py` holds the CUDA-graph and torch.compile checks.
"""
