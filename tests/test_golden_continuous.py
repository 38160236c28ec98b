"""The continuous EDM, V and Cosmos rectified-flow schedules against the reference implementation's golden values.

The tables and the EDM conversions go through float32 `exp` and `log`: bit for bit the reference's operations
replayed on this machine, and within one float32 ulp of the golden values (tests/helpers.py). `percent_to_sigma`
(Python floats) and the Cosmos conversions (plain arithmetic) equal the golden values exactly. The V conversions
compute in float64 on purpose and are held to 1e-4.
"""
import math

import pytest
import torch

import sched_nb
from sched_nb.compose import model_sampling
from helpers import as_tensor, assert_rel_close, check_conversion, check_exact_or_one_ulp, check_percent_to_sigma, load_golden

GOLDEN = load_golden()
CASES = GOLDEN["continuous_edm"]
RTOL = 1e-4


def _reference_table(settings):
    "The reference's table: a float32 linspace of the logarithms of the ends, then exp."
    return torch.linspace(math.log(settings.get("sigma_min", 0.002)), math.log(settings.get("sigma_max", 120.0)), 1000).exp()


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
    table = _reference_table(case["settings"])
    check_exact_or_one_ulp(ms.sigmas, case["sigmas"], table, "sigmas")
    assert torch.equal(ms.log_sigmas.cpu(), table.log())
    assert float(ms.sigma_min) == case["sigma_min"] and float(ms.sigma_max) == case["sigma_max"]


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
@pytest.mark.parametrize("method", ["timestep", "sigma"])
def test_conversion_matches_reference(case, method, device):
    ms = _build(case, device)
    check_conversion(ms, case, method, RTOL, device, case["class"])
    if case["class"] == "ModelSamplingContinuousEDM":   # the reference's float32 expressions, bit for bit
        x = torch.tensor(case[method]["in"], device=device)
        here = 0.25 * x.log() if method == "timestep" else (x / 0.25).exp()
        check_exact_or_one_ulp(getattr(ms, method)(x), case[method]["out"], here, method)


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_percent_to_sigma_matches_reference(case, device):
    check_percent_to_sigma(_build(case, device), case, 0.0)


def test_v_round_trip_is_at_least_as_close_as_the_reference():
    "At sigma = 500 the reference's float32 atan and tan give back 499.987; float64 rounded once does better."
    ms = sched_nb.ModelSamplingContinuousV()
    s = torch.tensor([500.0])
    reference = ((s.atan() / math.pi * 2) * math.pi / 2).tan().item()
    assert abs(reference - 499.987) < 1e-3
    assert abs(ms.sigma(ms.timestep(s)).item() - 500.0) <= abs(reference - 500.0)
    s32 = torch.tensor([0.5, 14.6, 500.0])   # the time is the float64 one, rounded once
    assert torch.equal(ms.timestep(s32), torch.tensor([math.atan(v) / math.pi * 2 for v in s32.double().tolist()]))


COSMOS = GOLDEN["cosmos_rflow"]


@pytest.mark.parametrize("case", COSMOS)
def test_cosmos_rflow_matches_reference(case, device):
    ms = model_sampling("cosmos_rflow", **case["settings"]).to(device)
    assert type(ms).__mro__[1:3] == (sched_nb.ModelSamplingCosmosRFlow, sched_nb.ModelSamplingContinuousEDM)
    assert ms.sigma_data == case["sigma_data"]
    check_exact_or_one_ulp(ms.sigmas, case["sigmas"], _reference_table(case["settings"]), "sigmas")
    assert float(ms.sigma_min) == case["sigma_min"] and float(ms.sigma_max) == case["sigma_max"]
    x = torch.tensor(case["timestep"]["in"], device=device)
    assert ms.timestep(x).cpu().tolist() == torch.tensor(case["timestep"]["out"]).tolist()   # sigma / (sigma + 1), exactly
    # the reference takes one time at a time; sched_nb takes them one at a time or all at once, with the same floats
    times = torch.tensor(case["sigma"]["in"], device=device)
    one_by_one = [ms.sigma(times[i]).item() for i in range(len(times))]
    assert one_by_one == torch.tensor(case["sigma"]["out"]).tolist() == ms.sigma(times).cpu().tolist()
    check_percent_to_sigma(ms, case, 0.0)
    t = {k: as_tensor(case[k], device) for k in ("noise", "model_output", "model_input", "latent_image")}
    sigma = torch.tensor(case["denoise_sigma"], device=device)
    sigma_b = sigma.view(-1, 1, 1, 1)
    for name, got in (("calculate_input", ms.calculate_input(sigma, t["noise"])),
                      ("calculate_denoised", ms.calculate_denoised(sigma, t["model_output"], t["model_input"])),
                      ("noise_scaling", ms.noise_scaling(sigma_b, t["noise"], t["latent_image"])),
                      ("inverse_noise_scaling", ms.inverse_noise_scaling(sigma_b, t["latent_image"]))):
        assert got.dtype == torch.float32 and got.device.type == device.type
        assert_rel_close(got, as_tensor(case[name]), 2e-5, f"COSMOS_RFLOW.{name}")


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
