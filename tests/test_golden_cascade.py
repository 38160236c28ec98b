"""Stable Cascade's model sampling against the reference implementation's golden values (relative 2e-3).

The reference computes in float32 and loses up to ~1.4e-3 of sigma to cancellation near t = 0; sched_nb
computes in float64, so it is held to the golden values at 2e-3 and to a float64 evaluation of the
formula at 1e-6.
"""
import math

import pytest
import torch

import sched_nb
from helpers import assert_rel_close, check_conversion, check_percent_to_sigma, load_golden

CASES = load_golden()["stable_cascade"]
RTOL = 2e-3


def _ids(case): return f"shift{case['settings']['shift']}"


def _build(case, device):
    return sched_nb.StableCascadeSampling({"sampling_settings": case["settings"]}).to(device)


def _sigma_f64(t, shift, s=8e-3):
    "The formula, written out in float64 Python math."
    a = math.cos((t + s) / (1 + s) * math.pi / 2) ** 2 / math.cos(s / (1 + s) * math.pi / 2) ** 2
    if shift != 1.0:
        a = 1 / (1 + math.exp(-(math.log(a / (1 - a)) + 2 * math.log(1 / shift)))) if a < 1 else 1.0
    a = min(max(a, 1e-4), 0.9999)
    return math.sqrt((1 - a) / a)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_sigmas_match_reference(case, device):
    ms = _build(case, device)
    assert ms.sigmas.device.type == device.type and ms.sigmas.dtype == torch.float32
    assert len(ms.sigmas) == 10000 and ms.num_timesteps == 10000
    assert_rel_close(ms.sigmas, case["sigmas"], RTOL, "sigmas")
    assert_rel_close(ms.log_sigmas.exp(), case["sigmas"], RTOL, "exp(log_sigmas)")
    assert_rel_close(ms.sigma_min, case["sigma_min"], RTOL, "sigma_min")
    assert_rel_close(ms.sigma_max, case["sigma_max"], RTOL, "sigma_max")
    assert_rel_close(ms.alphas_cumprod, 1 / (torch.tensor(case["sigmas"], dtype=torch.float64) ** 2 + 1), RTOL, "alphas_cumprod")


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_sigmas_are_the_float64_formula(case):
    ms = _build(case, "cpu")
    shift = case["settings"]["shift"]
    idx = [0, 1, 2, 10, 100, 1000, 5000, 9000, 9990, 9999]
    expected = [_sigma_f64((i + 1) / 10000, shift) for i in idx]
    assert_rel_close(ms.sigmas[idx], expected, 1e-6, "sigmas vs float64 formula")


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("method", ["timestep", "sigma"])
def test_conversion_matches_reference(case, method, device):
    check_conversion(_build(case, device), case, method, RTOL, device, "StableCascadeSampling")


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_percent_to_sigma_matches_reference(case, device):
    check_percent_to_sigma(_build(case, device), case, RTOL)


def test_every_golden_shift_is_covered():
    assert sorted(c["settings"]["shift"] for c in CASES) == [0.5, 1.0, 2.0]


def test_is_a_discrete_model_sampling():
    ms = sched_nb.StableCascadeSampling()
    assert isinstance(ms, sched_nb.ModelSamplingDiscrete)
    assert ms.shift == 1.0 and float(ms.cosine_s) == pytest.approx(8e-3)
    assert float(ms._init_alpha_cumprod) == pytest.approx(math.cos(8e-3 / 1.008 * math.pi / 2) ** 2)
    assert sorted(ms.state_dict()) == ["log_sigmas", "sigmas"]   # the reference's two buffers
    # what the reference's discrete parent constructor leaves behind
    assert (ms.linear_start, ms.linear_end, ms.zsnr, ms.sigma_data, ms.num_timesteps) == (0.00085, 0.012, False, 1.0, 10000)


@pytest.mark.parametrize("shift", [1.0, 2.0, 3.7])
def test_percent_to_sigma_is_the_sigma_of_a_hosts_float32_time(shift, device):
    "Computed in float64 on purpose, yet bit-equal to what `sigma` gives a host for the float32 time 1 - p."
    ms = sched_nb.StableCascadeSampling({"shift": shift}).to(device)
    for p in (1e-6, 0.1, 0.25, 0.4, 0.5, 0.75, 0.9, 0.999):
        assert ms.percent_to_sigma(p) == ms.sigma(torch.tensor(1 - p, device=device)).item()


def test_timestep_ignores_shift():
    sigma = torch.tensor([0.1, 1.0, 10.0])
    a, b = sched_nb.StableCascadeSampling({"shift": 1.0}), sched_nb.StableCascadeSampling({"shift": 3.0})
    torch.testing.assert_close(a.timestep(sigma), b.timestep(sigma))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_conversions_keep_float_dtype(dtype, device):
    ms = sched_nb.StableCascadeSampling({"shift": 2.0}).to(device)
    t = torch.tensor([0.1, 0.5, 0.9], device=device, dtype=dtype)
    s = ms.sigma(t)
    assert s.dtype == dtype and s.device.type == device.type
    assert ms.timestep(s).dtype == dtype


def test_python_numbers_and_integer_tensors():
    ms = sched_nb.StableCascadeSampling()
    assert ms.sigma(0.5).dtype == torch.float32 and ms.sigma(0.5).ndim == 0
    assert ms.sigma(torch.tensor([0, 1])).dtype == torch.float32
    torch.testing.assert_close(ms.timestep(ms.sigma(0.5)), torch.tensor(0.5))


@pytest.mark.parametrize("kwargs, exc, message", [
    ({"shift": 0.0}, ValueError, "shift must be > 0, got 0.0"),
    ({"shift": -2.0}, ValueError, "shift must be > 0, got -2.0"),
    ({"shift": float("nan")}, ValueError, "shift must be a finite number, got nan"),
    ({"shift": float("inf")}, ValueError, "shift must be a finite number, got inf"),
    ({"shift": 1.0, "cosine_s": -0.5}, ValueError, "cosine_s must be >= 0.0, got -0.5"),
    ({"shift": "2"}, TypeError, "shift must be a real number"),
])
def test_bad_parameters_are_refused(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        sched_nb.StableCascadeSampling().set_parameters(**kwargs)
    if set(kwargs) == {"shift"}:
        with pytest.raises(exc, match=message):
            sched_nb.StableCascadeSampling(kwargs)


def test_out_of_range_times_give_no_nan():
    ms = sched_nb.StableCascadeSampling({"shift": 2.0})
    s = ms.sigma(torch.tensor([-0.1, 0.0, 1.0]))
    assert torch.isfinite(s).all()


from hypothesis import given, settings, strategies as st


@settings(max_examples=50, deadline=None)
@given(t=st.floats(0.02, 0.98))
def test_timestep_inverts_unshifted_sigma(t):
    ms = sched_nb.StableCascadeSampling()
    x = torch.tensor([t], dtype=torch.float64)
    torch.testing.assert_close(ms.timestep(ms.sigma(x)), x, rtol=1e-9, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(shift=st.floats(0.1, 10.0), t=st.floats(0.0, 1.0))
def test_shift_scales_sigma_inside_the_clamp(shift, t):
    base = sched_nb.StableCascadeSampling().sigma(torch.tensor([t], dtype=torch.float64))
    got = sched_nb.StableCascadeSampling({"shift": shift}).sigma(torch.tensor([t], dtype=torch.float64))
    lo, hi = math.sqrt(1e-4 / 0.9999), math.sqrt(0.9999 / 1e-4)
    if lo * 1.001 < base.item() < hi / 1.001:
        assert math.isclose(got.item(), min(max(shift * base.item(), lo), hi), rel_tol=1e-9)
    assert lo * (1 - 1e-12) <= got.item() <= hi * (1 + 1e-12)
