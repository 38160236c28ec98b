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
