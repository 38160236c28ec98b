"""The continuous EDM and V schedules against the reference implementation's golden values (relative 1e-4)."""

import pytest
import torch

import sched_nb
from helpers import assert_rel_close, check_conversion, check_percent_to_sigma, load_golden

CASES = load_golden()["continuous_edm"]
RTOL = 1e-4


def _ids(case):
    s = case["settings"]
    return f"{case['class']}-" + ("defaults" if not s else "-".join(f"{k}{v}" for k, v in s.items()))


def _build(case, device):
    return getattr(sched_nb, case["class"])({"sampling_settings": case["settings"]}).to(device)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_schedule_matches_reference(case, device):
    ms = _build(case, device)
    assert ms.sigma_data == case["sigma_data"]
    assert ms.sigmas.device.type == device.type and ms.sigmas.dtype == torch.float32
    assert_rel_close(ms.sigmas, case["sigmas"], RTOL, "sigmas")
    assert_rel_close(ms.log_sigmas, torch.tensor(case["sigmas"], dtype=torch.float64).log(), RTOL, "log_sigmas")
    assert_rel_close(ms.sigma_min, case["sigma_min"], RTOL, "sigma_min")
    assert_rel_close(ms.sigma_max, case["sigma_max"], RTOL, "sigma_max")


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("method", ["timestep", "sigma"])
def test_conversion_matches_reference(case, method, device):
    check_conversion(_build(case, device), case, method, RTOL, device, case["class"])


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_percent_to_sigma_matches_reference(case, device):
    check_percent_to_sigma(_build(case, device), case, RTOL)


def test_every_golden_class_is_covered():
    assert {c["class"] for c in CASES} == {"ModelSamplingContinuousEDM", "ModelSamplingContinuousV"}


@pytest.mark.parametrize("cls", ["ModelSamplingContinuousEDM", "ModelSamplingContinuousV"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_conversions_keep_float_dtype(cls, dtype, device):
    ms = getattr(sched_nb, cls)().to(device)
    sigma = torch.tensor([0.01, 0.5, 3.0], device=device, dtype=dtype)
    t = ms.timestep(sigma)
    assert t.dtype == dtype and t.device.type == device.type
    back = ms.sigma(t)
    assert back.dtype == dtype
    torch.testing.assert_close(back.double(), sigma.double(), rtol=2e-2, atol=0)


@pytest.mark.parametrize("cls", ["ModelSamplingContinuousEDM", "ModelSamplingContinuousV"])
def test_python_numbers_and_integer_tensors(cls):
    ms = getattr(sched_nb, cls)()
    assert ms.timestep(1.0).dtype == torch.float32
    torch.testing.assert_close(ms.sigma(ms.timestep(2)), torch.tensor(2.0))
    assert ms.timestep(torch.tensor([1, 2])).dtype == torch.float32


@pytest.mark.parametrize("settings, message", [
    ({"sigma_min": 0.0}, "sigma_min must be > 0, got 0.0"),
    ({"sigma_min": -0.5}, "sigma_min must be > 0, got -0.5"),
    ({"sigma_min": 10.0, "sigma_max": 10.0}, "sigma_min must be < sigma_max, got sigma_min=10.0 and sigma_max=10.0"),
    ({"sigma_min": 20.0, "sigma_max": 10.0}, "sigma_min must be < sigma_max"),
    ({"sigma_data": 0.0}, "sigma_data must be > 0, got 0.0"),
    ({"sigma_data": -1.0}, "sigma_data must be > 0"),
    ({"sigma_min": float("nan")}, "sigma_min must be a finite number, got nan"),
    ({"sigma_max": float("inf")}, "sigma_max must be a finite number, got inf"),
    ({"sigma_data": float("nan")}, "sigma_data must be a finite number"),
])
@pytest.mark.parametrize("cls", ["ModelSamplingContinuousEDM", "ModelSamplingContinuousV"])
def test_bad_settings_are_refused(cls, settings, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        getattr(sched_nb, cls)(settings)


def test_bad_setting_type_is_refused():
    with pytest.raises(TypeError, match="sigma_max must be a real number"):
        sched_nb.ModelSamplingContinuousEDM({"sigma_max": "80"})


def test_set_parameters_validates_too():
    ms = sched_nb.ModelSamplingContinuousEDM()
    with pytest.raises(ValueError, match="sigma_min must be < sigma_max"):
        ms.set_parameters(1.0, 0.5, 1.0)
    ms.set_parameters(0.002, 80.0, 0.5)
    assert ms.sigma_data == 0.5 and abs(ms.sigma_max.item() - 80.0) < 1e-4


def test_percent_to_sigma_refuses_nan():
    with pytest.raises(ValueError, match="percent"):
        sched_nb.ModelSamplingContinuousEDM().percent_to_sigma(float("nan"))


from hypothesis import given, settings, strategies as st


@settings(max_examples=50, deadline=None)
@given(sigma=st.floats(1e-3, 1e3), cls=st.sampled_from(["ModelSamplingContinuousEDM", "ModelSamplingContinuousV"]))
def test_sigma_inverts_timestep(sigma, cls):
    ms = getattr(sched_nb, cls)()
    s = torch.tensor([sigma], dtype=torch.float64)
    torch.testing.assert_close(ms.sigma(ms.timestep(s)), s, rtol=1e-9, atol=0)


@settings(max_examples=50, deadline=None)
@given(lo=st.floats(1e-4, 1.0), ratio=st.floats(1.01, 1e5), p=st.floats(1e-6, 1 - 1e-6))
def test_percent_to_sigma_stays_in_range(lo, ratio, p):
    ms = sched_nb.ModelSamplingContinuousEDM({"sigma_min": lo, "sigma_max": lo * ratio})
    s = ms.percent_to_sigma(p)
    assert ms.sigma_min.item() * (1 - 1e-9) <= s <= ms.sigma_max.item() * (1 + 1e-9)
    assert s >= ms.percent_to_sigma(min(p + 1e-3, 1 - 1e-9)) * (1 - 1e-12)
