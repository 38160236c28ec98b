#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in one go: the test suite (its `device` fixture adds the CUDA cases),
# the benchmark on CUDA (and on this machine's CPU, for comparison), and the CUDA-graph and
# torch.compile(fullgraph=True) checks. Run from anywhere:
#
#     bash benchmarks/gpu_check.sh [OUT_DIR]      # OUT_DIR defaults to $TMPDIR/sched_nb_gpu_check
#
# Every part runs even if an earlier one fails; the exit status is non-zero if any failed. The figures are
# printed and also written to OUT_DIR (tests.txt, benchmark_cuda.md/.json, benchmark_cpu.md/.json,
# gpu_checks.txt/.json).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-${TMPDIR:-/tmp}/sched_nb_gpu_check}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's sched_nb and benchmarks, installed or not
status=0
step() { echo; echo "=== $1"; }

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
python - <<'PY' 2>&1 | tee -a "$out/gpu.txt"
import importlib, torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available(): print("device", torch.cuda.get_device_name(0))
for name in ("diffusers", "pytest", "hypothesis", "fastcore", "tqdm", "triton"):
    try: print(name, getattr(importlib.import_module(name), "__version__", "?"))
    except ImportError: print(name, "MISSING")
PY
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || { echo "no CUDA device: nothing to check"; exit 1; }

step "test suite (CPU and CUDA cases; browser tests excluded)"
python -m pytest -q tests -m "not browser" -p no:cacheprovider 2>&1 | tee "$out/tests.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "benchmark on CUDA"
python -m benchmarks --device cuda --json "$out/benchmark_cuda.json" 2>/dev/null | tee "$out/benchmark_cuda.md"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "benchmark on this machine's CPU (quick, default threads), for comparison"
python -m benchmarks --quick --threads 0 --json "$out/benchmark_cpu.json" 2>/dev/null | tee "$out/benchmark_cpu.md"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "CUDA graph of a 30-step Euler loop; torch.compile(fullgraph=True)"
python -m benchmarks.gpu_checks --device cuda --json "$out/gpu_checks.json" 2>&1 | tee "$out/gpu_checks.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

echo; echo "=== done: status $status (0: every part passed); figures in $out/"
exit $status
