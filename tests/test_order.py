"""Measured order of convergence of every deterministic sampler, against an independent high-precision solution
of the probability-flow ODE (torchdiffeq's dopri8) of an exact Gaussian-mixture denoiser.

The error at the end of the ODE, max |x - exact|, against the number of network calls, at two step counts in the
asymptotic range: the log-log slope is within 0.3 of the order the sampler's run has in theory (the convergence
chapter explains each, e.g. iPNDM's equal-step weights on unequal steps and UniPC's first-order last step).
"""
import pytest
import torch

from sched_nb.convergence import SAMPLER_ORDERS, error_curve, measured_order, ode_reference
from sched_nb.samplers import SAMPLERS, GaussianMixtureDenoiser

STEPS = {"dpm_fast": (191, 383)}          # N = 2 mod 3 calls: its last step is second order
TOLERANCES = (3e-5, 1e-5)                 # dpm_adaptive: rtol = atol


@pytest.fixture(scope="module")
def problem():
    torch.set_num_threads(1)
    mix = GaussianMixtureDenoiser([[-2.0, 0.0], [1.0, 1.5], [2.0, -1.0]], [0.3, 0.5, 0.4], [0.3, 0.4, 0.3])
    x0 = 80.0 * torch.randn(64, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return mix, x0, ode_reference(mix, x0, 80.0, 0.02)


def test_every_deterministic_sampler_has_an_order():
    names = {"euler", "heun", "heunpp2", "dpm_2", "ddim", "dpm_fast", "dpm_adaptive", "lms", "dpmpp_2m", "ipndm",
             "ipndm_v", "deis", "uni_pc", "uni_pc_bh2", "res_multistep", "gradient_estimation"}
    assert set(SAMPLER_ORDERS) == names and names <= set(SAMPLERS)


@pytest.mark.parametrize("name", list(SAMPLER_ORDERS))
def test_measured_order(problem, name):
    mix, x0, ref = problem
    if name == "dpm_adaptive":
        points = [error_curve(name, mix, x0, ref, (8,), rtol=t, atol=t)[0] for t in TOLERANCES]
    else:
        points = error_curve(name, mix, x0, ref, STEPS.get(name, (256, 512)))
    order = SAMPLER_ORDERS[name][1]
    slope = measured_order(points)
    assert points[1][1] < points[0][1] and abs(slope - order) <= 0.3, f"{name}: slope {slope:.2f}, order {order}, {points}"


def test_reference_is_exact_for_one_gaussian():
    "The ODE of one Gaussian keeps the z-score: the reference solver must find that end point."
    g = GaussianMixtureDenoiser([[0.5, -1.0]], [0.3])
    x0 = 80.0 * torch.randn(16, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = g.means + (x0 - g.means) * (0.09 + 0.02 ** 2) ** 0.5 / (0.09 + 80.0 ** 2) ** 0.5
    torch.testing.assert_close(ode_reference(g, x0, 80.0, 0.02), exact, rtol=0, atol=3e-9)
