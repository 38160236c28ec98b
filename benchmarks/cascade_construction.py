"""Construction of StableCascadeSampling against a scalar loop over its 10000 times.

The loop is the way the seed documentation describes building the table: a Python loop over
t = (x + 1) / 10000 calling a scalar float32 sigma(t) for each. Both run in this process, on the CPU,
and the script prints their median times and the ratio.

    python benchmarks/cascade_construction.py [--repeats N]
"""
import argparse
import math
import statistics
import time

import torch

from sched_nb.cascade import StableCascadeSampling


class LoopStableCascade(torch.nn.Module):
    "The table built one scalar float32 sigma(t) at a time."
    def __init__(self, shift=1.0, cosine_s=8e-3):
        super().__init__()
        self.shift = shift
        self.cosine_s = torch.tensor(cosine_s)
        self._init_alpha_cumprod = torch.cos(self.cosine_s / (1 + self.cosine_s) * math.pi * 0.5) ** 2
        self.num_timesteps = 10000
        sigmas = torch.empty((self.num_timesteps), dtype=torch.float32)
        for x in range(self.num_timesteps):
            t = (x + 1) / self.num_timesteps
            sigmas[x] = self.sigma(torch.tensor(t))
        self.register_buffer("sigmas", sigmas)
        self.register_buffer("log_sigmas", sigmas.log())

    def sigma(self, timestep):
        alpha_cumprod = (torch.cos((timestep + self.cosine_s) / (1 + self.cosine_s) * math.pi * 0.5) ** 2
                         / self._init_alpha_cumprod)
        if self.shift != 1.0:
            var = alpha_cumprod
            logSNR = (var / (1 - var)).log()
            logSNR += 2 * torch.log(1.0 / torch.tensor(self.shift))
            alpha_cumprod = logSNR.sigmoid()
        alpha_cumprod = alpha_cumprod.clamp(0.0001, 0.9999)
        return ((1 - alpha_cumprod) / alpha_cumprod) ** 0.5


def median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed runs of each (median reported)")
    ap.add_argument("--shift", type=float, default=1.0, help="Stable Cascade shift")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = {"shift": args.shift}

    # same table, so the ratio compares equal work
    fast, slow = StableCascadeSampling(cfg), LoopStableCascade(args.shift)
    rel = ((fast.sigmas.double() - slow.sigmas.double()).abs() / slow.sigmas.double()).max().item()
    assert rel < 2e-3, f"the two tables differ by {rel:.2e} relative"

    loop = median_seconds(lambda: LoopStableCascade(args.shift), args.repeats)
    vec = median_seconds(lambda: StableCascadeSampling(cfg), max(args.repeats, 20))
    print(f"torch {torch.__version__}, 1 thread, shift {args.shift}, max relative difference of the tables {rel:.1e}")
    print(f"scalar loop (10000 sigma calls): {loop * 1e3:9.2f} ms")
    print(f"StableCascadeSampling():         {vec * 1e3:9.2f} ms")
    print(f"ratio: {loop / vec:.0f}x")


if __name__ == "__main__":
    main()
