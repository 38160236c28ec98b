"""Shared helpers of the test suite: golden data and comparisons."""
import gzip
import json
import os
from functools import lru_cache
from pathlib import Path

import torch

DATA = Path(__file__).parent / "data"
REQUIRE_BROWSER = os.environ.get("SCHED_NB_REQUIRE_BROWSER") == "1"


@lru_cache(maxsize=1)
def load_golden():
    "The reference implementation's expected values (tests/data/golden_public.json.gz)."
    with gzip.open(DATA / "golden_public.json.gz", "rt") as f:
        return json.load(f)


def as_tensor(obj, device="cpu"):
    "A golden `{'shape', 'data'}` tensor (or a plain list) as a float32 tensor."
    if isinstance(obj, dict):
        return torch.tensor(obj["data"], dtype=torch.float32, device=device).reshape(obj["shape"])
    return torch.tensor(obj, dtype=torch.float32, device=device)


def assert_rel_close(actual, expected, rtol, what=""):
    """Every element within `rtol` relative error.

    Elements that cancel to almost zero (a difference of two rounded products) are held to an absolute
    floor of 1e-6 times the largest expected magnitude instead: float32 rounding of the operands alone
    moves them by more than `rtol` of their own tiny size.
    """
    actual = torch.as_tensor(actual, dtype=torch.float64).cpu()
    expected = torch.as_tensor(expected, dtype=torch.float64).cpu()
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    finite = expected[torch.isfinite(expected)]
    floor = 1e-6 * finite.abs().max().item() if finite.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rtol, atol=floor, msg=lambda m: f"{what}: {m}")



def check_conversion(ms, case, method, rtol, device, what=""):
    "`ms.<method>` on a golden case's inputs: on the input's device, float32, its shape, within `rtol` of the reference."
    x = torch.tensor(case[method]["in"], dtype=torch.float32, device=device)
    got = getattr(ms, method)(x)
    assert got.device.type == device.type and got.dtype == torch.float32 and got.shape == x.shape
    assert_rel_close(got, case[method]["out"], rtol, f"{what}.{method}")


def check_percent_to_sigma(ms, case, rtol):
    "`ms.percent_to_sigma` on a golden case's inputs: a Python float within `rtol` of the reference."
    import math
    for p, expected in zip(case["percent_to_sigma"]["in"], case["percent_to_sigma"]["out"]):
        got = ms.percent_to_sigma(p)
        assert type(got) is float, f"percent_to_sigma({p}) returned {type(got).__name__}"
        assert math.isclose(got, expected, rel_tol=rtol, abs_tol=0.0), f"percent_to_sigma({p}) = {got}, expected {expected}"


# --- the reference's arithmetic, written out from its algorithm, to replay on the running machine -----------------
#
# The golden values were computed on another machine. Where a value goes through PyTorch's float32 `exp` or `log`,
# that machine rounds about one value in a hundred to the other neighbouring float32 than this one does (both are
# within one ulp of the exact value). The exact properties a host relies on are therefore checked against the
# reference's own operations replayed here, and the golden values within one float32 ulp (most of them exactly).

def ulps(a, b):
    "How many float32 values lie between each `a` and `b` (0: the same float32; NaN and NaN count as the same)."
    import numpy as np
    a = np.asarray(torch.as_tensor(a, dtype=torch.float32).cpu(), dtype=np.float32).reshape(-1)
    b = np.asarray(torch.as_tensor(b, dtype=torch.float32).cpu(), dtype=np.float32).reshape(-1)
    both_nan = np.isnan(a) & np.isnan(b)
    ia, ib = (x.view(np.int32).astype(np.int64) for x in (a, b))
    ia, ib = (np.where(i < 0, -(i & 0x7FFFFFFF), i) for i in (ia, ib))   # order negative floats too
    d = np.abs(ia - ib)
    d[both_nan] = 0
    return d


def reference_betas(settings):
    "The float64 betas of the reference's beta schedules (SD's linear, cosine, squaredcos_cap_v2, sqrt_linear, sqrt)."
    import math
    name = settings.get("beta_schedule", "linear")
    n = settings.get("timesteps", 1000)
    start, end = settings.get("linear_start", 0.00085), settings.get("linear_end", 0.012)
    f64 = torch.float64
    if name == "linear": return torch.linspace(start ** 0.5, end ** 0.5, n, dtype=f64) ** 2
    if name == "sqrt_linear": return torch.linspace(start, end, n, dtype=f64)
    if name == "sqrt": return torch.linspace(start, end, n, dtype=f64) ** 0.5
    if name == "cosine":
        s = 8e-3
        abar = torch.cos((torch.arange(n + 1, dtype=f64) / n + s) / (1 + s) * math.pi / 2).pow(2)
        abar = abar / abar[0]
        return torch.clamp(1 - abar[1:] / abar[:-1], min=0, max=0.999)
    if name == "squaredcos_cap_v2":   # one Python-float step at a time, as the reference's helper for Karlo's prior
        abar = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
        return torch.tensor([min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)], dtype=f64)
    raise ValueError(name)


def reference_discrete_sigmas(settings, zsnr=None):
    "The reference's float64 sigma table of a discrete schedule, zero-terminal-SNR rescale included."
    betas = reference_betas(settings)
    ac = torch.cumprod(1.0 - betas, dim=0)
    sigmas = ((1 - ac) / ac) ** 0.5
    if settings.get("zsnr", False) if zsnr is None else zsnr:
        root = (1 / (sigmas * sigmas + 1)).sqrt()
        first, last = root[0].clone(), root[-1].clone()
        root = (root - last) * (first / (first - last))
        abar = root ** 2
        abar[-1] = 4.8973451890853435e-08
        sigmas = ((1 - abar) / abar) ** 0.5
    return sigmas


def reference_discrete_sigma(log_sigmas, t):
    "The reference's discrete `sigma(t)`: clamp, floor and ceiling, (1 - w) lo + w hi in float32, exp."
    t = torch.clamp(t.float(), min=0, max=len(log_sigmas) - 1)
    lo, hi, w = t.floor().long(), t.ceil().long(), t.frac()
    return ((1 - w) * log_sigmas[lo] + w * log_sigmas[hi]).exp()


def reference_discrete_percent(log_sigmas, p, timesteps=None):
    "The reference's discrete `percent_to_sigma(p)`, scaled by T - 1 (999 for the usual T = 1000)."
    if p <= 0: return 999999999.9
    if p >= 1: return 0.0
    scale = (len(log_sigmas) if timesteps is None else timesteps) - 1
    return reference_discrete_sigma(log_sigmas, torch.tensor((1.0 - p) * scale)).item()


def check_exact_or_one_ulp(got, golden, here, what=""):
    "Each value bit-equal to the reference's arithmetic replayed here, and the golden value or its float32 neighbour."
    got, golden, here = (torch.as_tensor(v, dtype=torch.float64).reshape(-1).cpu() for v in (got, golden, here))
    same_here = (got == here) | (got.isnan() & here.isnan())
    assert bool(same_here.all()), f"{what}: differs from the reference's arithmetic at {(~same_here).nonzero().flatten().tolist()}"
    d = ulps(got, golden)
    assert int(d.max(initial=0)) <= 1, f"{what}: {int(d.max())} float32 ulps from the golden value"
    return int((d == 0).sum()), int(d.size)


def noise_list(shape, n:int=100, dtype=torch.float64):
    "`make()` gives a noise_sampler handing out the same sequence of `n` normal tensors (seeds 100, 101, ...) on every run."
    draws = [torch.randn(shape, generator=torch.Generator().manual_seed(100 + k), dtype=dtype) for k in range(n)]
    def make():
        it = iter(draws)
        return lambda sigma, sigma_next: next(it)
    return make
