"""The flow-matching schedules (SD3, Flux) against the reference implementation's golden values.

Their arithmetic has no float32 `exp` or `log`, so tables, conversions and `percent_to_sigma` equal the golden
values exactly: sched_nb computes them in the reference's own float32 (and Python float) operations.
"""
import math

import pytest
import torch

import sched_nb
from helpers import assert_rel_close, check_conversion, check_percent_to_sigma, load_golden

CASES = load_golden()["flow"]
RTOL = 1e-4


def _ids(case): return f"{case['class']}-" + "-".join(f"{k}{v}" for k, v in case["settings"].items())


def _build(case, device):
    return getattr(sched_nb, case["class"])({"sampling_settings": case["settings"]}).to(device)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_sigmas_match_reference(case, device):
    ms = _build(case, device)
    assert ms.sigmas.device.type == device.type and ms.sigmas.dtype == torch.float32
    stride = case.get("sigmas_stride", 1)
    assert len(ms.sigmas) == len(case["sigmas"]) * stride
    assert ms.sigmas[::stride].cpu().tolist() == torch.tensor(case["sigmas"]).tolist()   # bit for bit
    assert list(ms.state_dict()) == ["sigmas"]                                            # the reference's one buffer
    assert_rel_close(ms.log_sigmas[::stride], torch.tensor(case["sigmas"], dtype=torch.float64).log(), RTOL, "log_sigmas")
    assert_rel_close(ms.sigma_min, case["sigmas"][0], RTOL, "sigma_min")
    if stride == 1: assert_rel_close(ms.sigma_max, case["sigmas"][-1], RTOL, "sigma_max")
    else: assert ms.sigma_max.item() == 1.0   # the table ends at t = 1, past the last strided entry


CONVERSIONS = [(c, m) for c in CASES for m in ("timestep", "sigma") if m in c]


@pytest.mark.parametrize("case, method", CONVERSIONS, ids=[f"{_ids(c)}-{m}" for c, m in CONVERSIONS])
def test_conversion_matches_reference(case, method, device):
    ms = _build(case, device)
    check_conversion(ms, case, method, RTOL, device, case["class"])
    x = torch.tensor(case[method]["in"], device=device)
    assert getattr(ms, method)(x).cpu().tolist() == torch.tensor(case[method]["out"]).tolist()   # bit for bit


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_percent_to_sigma_matches_reference(case, device):
    check_percent_to_sigma(_build(case, device), case, 0.0)


def test_multiplier_and_shift_keep_their_type():
    sd3 = sched_nb.ModelSamplingDiscreteFlow()
    assert type(sd3.multiplier) is int and sd3.multiplier == 1000   # ComfyUI passes the int 1000
    sd3.set_parameters(shift=3, multiplier=1.0)
    assert (type(sd3.shift), type(sd3.multiplier)) == (int, float)
    assert type(sched_nb.ModelSamplingFlux({"shift": 1}).shift) is int


def test_every_golden_class_is_covered():
    assert {c["class"] for c in CASES} == {"ModelSamplingDiscreteFlow", "ModelSamplingFlux"}


def test_flux_timestep_is_identity(device):
    ms = sched_nb.ModelSamplingFlux().to(device)
    x = torch.tensor([0.0, 0.25, 1.0], device=device)
    torch.testing.assert_close(ms.timestep(x), x)


@pytest.mark.parametrize("cls", ["ModelSamplingDiscreteFlow", "ModelSamplingFlux"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_conversions_keep_float_dtype(cls, dtype, device):
    ms = getattr(sched_nb, cls)({"shift": 2.0}).to(device)
    x = torch.tensor([0.1, 0.5, 0.9], device=device, dtype=dtype)
    for method in ("timestep", "sigma"):
        got = getattr(ms, method)(x)
        assert got.dtype == dtype and got.device.type == device.type


def test_python_numbers_work():
    sd3 = sched_nb.ModelSamplingDiscreteFlow({"shift": 3.0})
    torch.testing.assert_close(sd3.sigma(500), torch.tensor(0.75))
    torch.testing.assert_close(sd3.timestep(0.5), torch.tensor(500.0))
    assert sd3.sigma(torch.tensor([500])).dtype == torch.float32


def test_time_shifts():
    t = torch.linspace(0.01, 0.99, 50, dtype=torch.float64)
    s = sched_nb.time_snr_shift(3.0, t)
    torch.testing.assert_close(s / (1 - s), 3.0 * t / (1 - t))
    torch.testing.assert_close(sched_nb.flux_time_shift(0.7, 1.0, t), sched_nb.time_snr_shift(math.exp(0.7), t))
    assert sched_nb.time_snr_shift(1.0, 0.3) == 0.3
    assert math.isclose(sched_nb.flux_time_shift(1.15, 1.0, 0.5), math.exp(1.15) / (math.exp(1.15) + 1))


@pytest.mark.parametrize("settings, message", [
    ({"shift": 0.0}, "shift must be > 0, got 0.0"),
    ({"shift": -3.0}, "shift must be > 0, got -3.0"),
    ({"shift": float("nan")}, "shift must be a finite number, got nan"),
    ({"multiplier": 0}, "multiplier must be > 0, got 0.0"),
    ({"multiplier": float("inf")}, "multiplier must be a finite number, got inf"),
])
def test_discrete_flow_refuses_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        sched_nb.ModelSamplingDiscreteFlow(settings)


@pytest.mark.parametrize("cls", ["ModelSamplingDiscreteFlow", "ModelSamplingFlux"])
@pytest.mark.parametrize("timesteps, exc, message", [
    (0, ValueError, "timesteps must be an integer >= 1, got 0"),
    (-5, ValueError, "timesteps must be an integer >= 1, got -5"),
    (2.5, TypeError, "timesteps must be an integer"),
])
def test_timesteps_are_checked(cls, timesteps, exc, message):
    with pytest.raises(exc, match=message):
        getattr(sched_nb, cls)().set_parameters(timesteps=timesteps)


def test_flux_shift_is_a_log_and_may_be_zero_or_negative():
    # mu is ln(alpha): 0 means no shift, negative moves time toward the data
    flat = sched_nb.ModelSamplingFlux({"shift": 0.0})
    torch.testing.assert_close(flat.sigmas, torch.arange(1, 10001) / 10000)
    assert sched_nb.ModelSamplingFlux({"shift": -1.0}).percent_to_sigma(0.5) < 0.5
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match="shift must be a finite number"):
            sched_nb.ModelSamplingFlux({"shift": bad})


def test_small_tables():
    ms = sched_nb.ModelSamplingDiscreteFlow()
    ms.set_parameters(shift=2.0, timesteps=4)
    torch.testing.assert_close(ms.sigmas, sched_nb.time_snr_shift(2.0, torch.tensor([0.25, 0.5, 0.75, 1.0])))


from hypothesis import given, settings, strategies as st


@settings(max_examples=50, deadline=None)
@given(shift=st.floats(0.05, 20.0), t=st.floats(1e-4, 1.0))
def test_discrete_flow_timestep_of_unshifted_sigma_inverts(shift, t):
    ms = sched_nb.ModelSamplingDiscreteFlow({"shift": 1.0})
    x = torch.tensor([t], dtype=torch.float64)
    torch.testing.assert_close(ms.sigma(ms.timestep(x)), x, rtol=1e-12, atol=0)
    shifted = sched_nb.ModelSamplingDiscreteFlow({"shift": shift}).sigma(x * 1000)
    assert 0.0 < shifted.item() <= 1.0 + 1e-12
    # the shift scales the EDM noise level sigma / (1 - sigma) by `shift`
    if t < 0.999:
        edm = shifted / (1 - shifted)
        torch.testing.assert_close(edm, shift * x / (1 - x), rtol=1e-9, atol=0)


@settings(max_examples=50, deadline=None)
@given(mu=st.floats(-3.0, 3.0), p=st.floats(1e-6, 1 - 1e-6))
def test_flux_percent_to_sigma_is_monotone_in_unit_interval(mu, p):
    ms = sched_nb.ModelSamplingFlux({"shift": mu})
    s = ms.percent_to_sigma(p)
    assert 0.0 < s < 1.0
    assert s >= ms.percent_to_sigma(min(p + 1e-3, 1 - 1e-9))
