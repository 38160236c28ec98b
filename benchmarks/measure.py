"""Timing and peak-memory measurement shared by the benchmark.

Times: every candidate of a comparison is run in turns (round robin), each turn timing a batch of calls
long enough to be well above the clock's resolution; the figure kept is the fastest turn's time per call.
The minimum is the usual choice for a shared machine: other processes only ever add time, so the fastest
turn is the one least disturbed, and running candidates in turns exposes them to the same load.

Peak memory (bytes above what was allocated before the call):
- on CUDA, `torch.cuda.max_memory_allocated()` after `reset_peak_memory_stats()`;
- on the CPU, tensor storage is counted from the allocation and free events that `torch.profiler` records
  with `profile_memory=True` (every tensor's storage goes through PyTorch's CPU allocator): the peak of
  their running sum over the call. Python objects (and NumPy arrays, which report to it) are counted by
  `tracemalloc`, separately. The figure reported is the sum of the two peaks, an upper bound of the
  true peak (the two need not peak at the same moment).
"""
from __future__ import annotations

import gc
import time
import tracemalloc

import torch


def synchronize(device) -> None:
    "Wait for the device's queued work (CUDA); nothing to wait for on the CPU."
    if torch.device(device).type == "cuda": torch.cuda.synchronize(device)


def _calls_per_turn(fn, device, target_s: float) -> int:
    "How many calls make one timed turn of about `target_s` seconds."
    n = 1
    while True:
        synchronize(device)
        t0 = time.perf_counter()
        for _ in range(n): fn()
        synchronize(device)
        dt = time.perf_counter() - t0
        if dt >= target_s or n >= 1 << 20: return n
        n = max(n * 2, int(n * target_s / max(dt, 1e-9)) + 1) if dt > target_s / 20 else n * 10


def compare_times(fns: dict, device="cpu", turns: int = 7, target_s: float = 0.02, budget_s: float = 10.0) -> dict:
    "Seconds per call of each function in `fns` (name -> fn), measured in turns; the fastest turn of each."
    names = list(fns)
    calls = {}
    for name in names:   # warm up: first-call costs (lazy init, allocator growth) are not timed
        synchronize(device)
        t0 = time.perf_counter()
        fns[name]()
        synchronize(device)
        # a call as long as a turn is a turn of one call; otherwise find how many calls make one
        calls[name] = 1 if time.perf_counter() - t0 >= target_s else _calls_per_turn(fns[name], device, target_s)
    best = {name: float("inf") for name in names}
    start = time.perf_counter()
    for turn in range(turns):
        for name in names:
            fn, n = fns[name], calls[name]
            synchronize(device)
            t0 = time.perf_counter()
            for _ in range(n): fn()
            synchronize(device)
            best[name] = min(best[name], (time.perf_counter() - t0) / n)
        if turn >= 2 and time.perf_counter() - start > budget_s: break
    return best


def time_once(fn, device="cpu", turns: int = 3) -> float:
    "Seconds of the fastest of `turns` single calls: for operations too slow to repeat many times."
    best = float("inf")
    for _ in range(turns):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return best


class _quiet_stderr:
    "Silence the profiler's own start/stop lines on file descriptor 2 while it runs."
    def __enter__(self):
        import os, sys
        sys.stderr.flush()
        self.saved, self.null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(self.null, 2)
    def __exit__(self, *exc):
        import os
        os.dup2(self.saved, 2)
        os.close(self.saved); os.close(self.null)


def _cpu_peaks(fns: dict) -> dict:
    "Peak bytes of CPU tensor storage plus peak bytes of Python allocations of each function (one profiler session)."
    from torch.profiler import ProfilerActivity, profile, record_function
    python = {}
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        tracemalloc.start()   # a first round of both tools, unmeasured: their one-time allocations
        with record_function("warm-up"): torch.zeros(1).add_(1)
        tracemalloc.stop()
        for name, fn in fns.items():
            tracemalloc.start()
            try:
                base = tracemalloc.get_traced_memory()[0]
                with record_function(f"peak_memory:{name}"):
                    result = fn()
                    del result
                python[name] = max(0, tracemalloc.get_traced_memory()[1] - base)
            finally: tracemalloc.stop()
    try: events = prof.profiler.kineto_results.events()
    except AttributeError: return {name: None for name in fns}
    spans, deltas = {}, []
    for e in events:
        if e.name().startswith("peak_memory:"): spans[e.name()[12:]] = (e.start_ns(), e.start_ns() + e.duration_ns())
        elif e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU:
            deltas.append((e.start_ns(), e.nbytes()))
    deltas.sort()
    peaks = {}
    for name in fns:
        if name not in spans: peaks[name] = None; continue
        start, end = spans[name]
        live = peak = 0
        for t, nbytes in deltas:
            if start <= t <= end:
                live += nbytes
                peak = max(peak, live)
        peaks[name] = peak + python[name]
    return peaks


def peak_memories(fns: dict, device="cpu") -> dict:
    "Peak bytes each function needs above what was allocated before it (see the module docstring for what is counted)."
    gc.collect()
    device = torch.device(device)
    if device.type == "cuda":
        peaks = {}
        for name, fn in fns.items():
            synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            result = fn()
            synchronize(device)
            del result
            peaks[name] = torch.cuda.max_memory_allocated(device) - base
        return peaks
    return _cpu_peaks(fns)


def peak_memory(fn, device="cpu") -> int | None:
    "Peak bytes `fn()` needs above what was allocated before it."
    return peak_memories({"fn": fn}, device)["fn"]
