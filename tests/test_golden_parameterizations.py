"""The parameterizations against the reference implementation's golden values (relative 2e-5)."""
import pytest
import torch

import sched_nb
from helpers import as_tensor, assert_rel_close, load_golden

CASES = load_golden()["parameterizations"]
RTOL = 2e-5


def _ids(case): return f"{case['class']}-sd{case['sigma_data']}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_parameterization_matches_reference(case, device):
    p = getattr(sched_nb, case["class"])(sigma_data=case["sigma_data"])
    t = {k: as_tensor(case[k], device) for k in ("noise", "model_output", "model_input", "latent_image")}
    sigma = torch.tensor(case["sigma"], device=device)
    sigma_b = sigma.view(-1, *([1] * (t["noise"].ndim - 1)))
    checks = {
        "calculate_input": p.calculate_input(sigma, t["noise"]),
        "calculate_denoised": p.calculate_denoised(sigma, t["model_output"], t["model_input"]),
        "noise_scaling": p.noise_scaling(sigma_b, t["noise"], t["latent_image"], max_denoise=False),
        "noise_scaling_max_denoise": p.noise_scaling(sigma_b, t["noise"], t["latent_image"], max_denoise=True),
        "inverse_noise_scaling": p.inverse_noise_scaling(sigma_b, t["latent_image"]),
    }
    for name, got in checks.items():
        assert got.device.type == device.type
        assert got.dtype == torch.float32
        assert_rel_close(got, as_tensor(case[name]), RTOL, f"{case['class']}.{name}")


def test_every_golden_class_is_covered():
    assert {c["class"] for c in CASES} == {"EPS", "V_PREDICTION", "EDM", "X0", "CONST"}


def test_cosmos_rflow_case_is_the_parameterization_too():
    "The cosmos_rflow section's four outputs, through the COSMOS_RFLOW parameterization alone."
    case = load_golden()["cosmos_rflow"][0]
    p = sched_nb.COSMOS_RFLOW()
    t = {k: as_tensor(case[k]) for k in ("noise", "model_output", "model_input", "latent_image")}
    sigma = torch.tensor(case["denoise_sigma"])
    sigma_b = sigma.view(-1, 1, 1, 1)
    assert_rel_close(p.calculate_input(sigma, t["noise"]), as_tensor(case["calculate_input"]), RTOL, "calculate_input")
    assert_rel_close(p.calculate_denoised(sigma, t["model_output"], t["model_input"]), as_tensor(case["calculate_denoised"]), RTOL, "calculate_denoised")
    assert_rel_close(p.noise_scaling(sigma_b, t["noise"], t["latent_image"]), as_tensor(case["noise_scaling"]), RTOL, "noise_scaling")
    assert torch.equal(p.inverse_noise_scaling(sigma_b, t["latent_image"]), as_tensor(case["inverse_noise_scaling"]))
