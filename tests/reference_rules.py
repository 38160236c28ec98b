"""The reference's step schedules as it describes them, one step at a time in Python: a plain oracle that the
vectorized schedulers must equal bit for bit on the same machine (the same float32 operations, the same order).

Each function takes the model sampling and the number of steps and returns a float32 tensor ending in 0 (except
where the reference itself ends otherwise, noted below)."""
import math

import numpy as np
import scipy.stats
import torch


def _zero_ended(values):
    return torch.tensor(list(values) + [0.0], dtype=torch.float32)


def simple(ms, steps):
    stride = len(ms.sigmas) / steps
    return _zero_ended(float(ms.sigmas[-(1 + int(i * stride))]) for i in range(steps))


def ddim_uniform(ms, steps):
    picked, x = [], 1
    starts_at_zero = math.isclose(float(ms.sigmas[1]), 0, abs_tol=1e-5)
    if starts_at_zero: steps += 1
    stride = max(len(ms.sigmas) // steps, 1)
    while x < len(ms.sigmas):
        picked.append(float(ms.sigmas[x]))
        x += stride
    picked = ([] if starts_at_zero else [0.0]) + picked
    return torch.tensor(picked[::-1], dtype=torch.float32)


def _even_in_time(ms, steps, drop_last):
    start, end = ms.timestep(ms.sigma_max), ms.timestep(ms.sigma_min)
    if drop_last: times, tail = torch.linspace(start, end, steps + 1)[:-1], [0.0]
    elif math.isclose(float(ms.sigma(end)), 0, abs_tol=1e-5): times, tail = torch.linspace(start, end, steps + 1), []
    else: times, tail = torch.linspace(start, end, steps), [0.0]
    return torch.tensor([float(ms.sigma(times[i])) for i in range(len(times))] + tail, dtype=torch.float32)


def normal(ms, steps): return _even_in_time(ms, steps, False)
def sgm_uniform(ms, steps): return _even_in_time(ms, steps, True)


def beta(ms, steps, alpha=0.6, beta=0.6):
    picks = np.rint(scipy.stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), alpha, beta) * (len(ms.sigmas) - 1))
    out, last = [], -1
    for t in picks:
        if t != last: out.append(float(ms.sigmas[int(t)]))
        last = t
    return _zero_ended(out)


def linear_quadratic(ms, steps, threshold_noise=0.025):
    if steps == 1: fractions = [1.0, 0.0]
    else:
        m = steps // 2
        head = [i * threshold_noise / m for i in range(m)]
        d, q = m - threshold_noise * steps, steps - m
        a = d / (m * q ** 2)
        b = threshold_noise / m - 2 * d / (q ** 2)
        c = a * (m ** 2)
        tail = [a * (i ** 2) + b * i + c for i in range(m, steps)]
        fractions = [1.0 - u for u in head + tail + [1.0]]
    return torch.tensor(fractions, dtype=torch.float32) * ms.sigma_max.cpu()


def _ends(ms): return float(ms.sigma_min), float(ms.sigma_max)


def karras(ms, steps, rho=7.0):
    lo, hi = _ends(ms)
    ramp = torch.linspace(0, 1, steps)
    return torch.cat([(hi ** (1 / rho) + ramp * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho, torch.zeros(1)])


def exponential(ms, steps):
    lo, hi = _ends(ms)
    return torch.cat([torch.linspace(math.log(hi), math.log(lo), steps).exp(), torch.zeros(1)])


def kl_optimal(ms, steps):
    "The reference divides by steps - 1, NaN for one step; the oracle is called with steps >= 2."
    lo, hi = _ends(ms)
    ramp = torch.arange(steps, dtype=torch.float).div_(steps - 1)
    out = ramp.new_zeros(steps + 1)
    out[:-1] = (ramp * math.atan(lo) + (1 - ramp) * math.atan(hi)).tan_()
    return out


RULES = {"simple": simple, "sgm_uniform": sgm_uniform, "karras": karras, "exponential": exponential,
         "ddim_uniform": ddim_uniform, "beta": beta, "normal": normal, "linear_quadratic": linear_quadratic,
         "kl_optimal": kl_optimal}
