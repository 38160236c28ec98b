"""Discrete model sampling against the reference implementation's golden values.

Tolerance: relative 2e-5 for sigmas and conversions; timesteps are indices and must match exactly.
Where the golden `percent_to_sigma` is null (timesteps != 1000) the reference was wrong; the expected value
is sigma((1 - p) * (num_timesteps - 1)) (golden/README.md).
"""
import pytest
import torch

import sched_nb
from sched_nb import LCM, ModelSamplingDiscrete, ModelSamplingDiscreteDistilled
from helpers import as_tensor, assert_rel_close, load_golden

GOLDEN = load_golden()
CASES = GOLDEN["discrete"]
RTOL = 2e-5


def _id(case): return "-".join(f"{k}={v}" for k, v in case["settings"].items())


def _check_conversions(ms, case, device):
    assert_rel_close(ms.sigmas, case["sigmas"], RTOL, "sigmas")
    assert_rel_close(float(ms.sigma_min), case["sigma_min"], RTOL, "sigma_min")
    assert_rel_close(float(ms.sigma_max), case["sigma_max"], RTOL, "sigma_max")
    sig_in = torch.tensor(case["timestep"]["in"], device=device)
    t = ms.timestep(sig_in)
    assert t.device.type == device.type and t.shape == sig_in.shape
    assert t.cpu().tolist() == [int(v) for v in case["timestep"]["out"]], "timestep indices differ"
    t_in = torch.tensor(case["sigma"]["in"], device=device)
    s = ms.sigma(t_in)
    assert s.device.type == device.type
    assert_rel_close(s, case["sigma"]["out"], RTOL, "sigma")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_discrete_matches_reference(case, device):
    settings = dict(case["settings"])
    ms = ModelSamplingDiscrete({"sampling_settings": settings}).to(device)
    _check_conversions(ms, case, device)
    assert_rel_close(ms.alphas_cumprod, case["alphas_cumprod"], RTOL, "alphas_cumprod")
    pct = case["percent_to_sigma"]
    expected = pct["out"]
    if expected is None:  # the reference scaled by 999 whatever the number of timesteps
        n = ms.num_timesteps
        assert n != 1000
        expected = [999999999.9 if p <= 0 else 0.0 if p >= 1 else
                    float(ms.sigma(torch.tensor((1 - p) * (n - 1), dtype=torch.float64))) for p in pct["in"]]
        # and that reaches the top of the table, unlike the reference
        assert ms.percent_to_sigma(1e-9) == pytest.approx(float(ms.sigma_max), rel=1e-4)
    got = [ms.percent_to_sigma(p) for p in pct["in"]]
    assert all(type(v) is float for v in got)
    assert_rel_close(got, expected, RTOL, "percent_to_sigma")


def test_golden_covers_every_beta_schedule():
    names = {c["settings"].get("beta_schedule") for c in CASES}
    assert names == {"linear", "cosine", "squaredcos_cap_v2", "sqrt_linear", "sqrt"}
    assert any(c["settings"].get("zsnr") for c in CASES)


@pytest.mark.parametrize("case", GOLDEN["distilled_lcm"])
def test_distilled_lcm_matches_reference(case, device):
    cls = type("LCMSampling", (ModelSamplingDiscreteDistilled, LCM), {})
    ms = cls({"sampling_settings": dict(case["settings"])}).to(device)
    _check_conversions(ms, case, device)
    got = [ms.percent_to_sigma(p) for p in case["percent_to_sigma"]["in"]]
    assert_rel_close(got, case["percent_to_sigma"]["out"], RTOL, "percent_to_sigma")
    denoised = ms.calculate_denoised(torch.tensor(case["denoise_sigma"], device=device),
                                     as_tensor(case["model_output"], device), as_tensor(case["model_input"], device))
    assert_rel_close(denoised, as_tensor(case["calculate_denoised"]), RTOL, "calculate_denoised")


def test_public_names_importable():
    for name in ("ModelSamplingDiscrete", "ModelSamplingDiscreteDistilled", "ModelSamplingDiscreteEDM",
                 "make_beta_schedule", "rescale_zero_terminal_snr_sigmas"):
        assert getattr(sched_nb, name) is not None
