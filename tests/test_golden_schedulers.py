"""Step schedules against the reference implementation's golden values (relative 2e-5 discrete, 1e-4 continuous),
the inverse Beta CDF against SciPy, and the properties every schedule must have."""
import math

import pytest
import torch

import sched_nb
from sched_nb.compose import model_sampling
from sched_nb.schedulers import SCHEDULER_NAMES, beta_ppf, betainc, calculate_sigmas
from helpers import assert_rel_close, load_golden

CASES = load_golden()["schedulers"]
REFERENCE_NAMES = ("simple", "ddim_uniform", "normal", "sgm_uniform", "beta", "linear_quadratic", "karras",
                   "exponential", "kl_optimal")
RTOL = {"discrete_linear": 2e-5, "continuous_edm": 1e-4}


def _model(name):
    if name == "discrete_linear": return model_sampling("discrete")
    if name == "continuous_edm": return model_sampling("continuous_edm", sigma_min=0.002, sigma_max=120.0)
    raise KeyError(name)


PAIRS = [(c, n) for c in CASES for n in REFERENCE_NAMES if n in c]


@pytest.mark.parametrize("case,name", PAIRS, ids=[f"{c['model_sampling']}-{c['steps']}-{n}" for c, n in PAIRS])
def test_scheduler_matches_reference(case, name):
    ms = _model(case["model_sampling"])
    got = calculate_sigmas(ms, name, case["steps"])
    assert got.dtype == torch.float32 and got[-1].item() == 0.0
    expected = case[name]
    if expected is None:
        # the reference fails (kl_optimal with one step divides 0 by 0); one step is [sigma_max, 0], as karras gives
        assert name == "kl_optimal" and case["steps"] == 1
        expected = calculate_sigmas(ms, "karras", 1).tolist()
    assert_rel_close(got, torch.tensor(expected), RTOL[case["model_sampling"]], f"{case['model_sampling']} {name} {case['steps']}")


def test_every_golden_case_is_covered():
    assert len(CASES) == 10
    names = {n for c in CASES for n in c if n not in ("model_sampling", "steps")}
    assert names == set(REFERENCE_NAMES)
    assert len(PAIRS) == 85


def test_public_names():
    assert sched_nb.calculate_sigmas is calculate_sigmas
    assert set(sched_nb.SCHEDULER_NAMES) == set(REFERENCE_NAMES) | {"polyexponential", "vp"}


@pytest.mark.parametrize("a,b", [(0.6, 0.6), (0.5, 0.5), (2.0, 1.0), (3.0, 7.0), (0.3, 5.0), (20.0, 30.0), (0.1, 0.1)])
def test_beta_cdf_and_quantiles_match_scipy(a, b):
    stats = pytest.importorskip("scipy.stats")
    x = torch.linspace(0, 1, 1001, dtype=torch.float64)
    torch.testing.assert_close(betainc(a, b, x), torch.from_numpy(stats.beta.cdf(x.numpy(), a, b)), rtol=0, atol=1e-13)
    p = torch.cat([torch.tensor([1e-9, 1e-6]), torch.linspace(0, 1, 1001)[1:-1].double(), torch.tensor([1 - 1e-6])]).double()
    torch.testing.assert_close(beta_ppf(p, a, b), torch.from_numpy(stats.beta.ppf(p.numpy(), a, b)), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 33, 100, 500, 999, 1000])
def test_beta_indices_match_scipy_rounding(steps):
    "The table indices beta picks: rint(ppf(1 - i/n) * 999), as the reference computes them with SciPy and NumPy."
    np = pytest.importorskip("numpy")
    stats = pytest.importorskip("scipy.stats")
    ms = model_sampling("discrete")
    ts = np.rint(stats.beta.ppf(1 - np.linspace(0, 1, steps, endpoint=False), 0.6, 0.6) * 999).astype(int)
    keep = np.concatenate([[True], ts[1:] != ts[:-1]])
    expected = torch.cat([ms.sigmas[torch.from_numpy(ts[keep])], torch.zeros(1)])
    assert torch.equal(calculate_sigmas(ms, "beta", steps), expected)


MODELS = {"discrete": ("discrete", {}), "discrete_zsnr": ("discrete", {"zsnr": True}),
          "continuous_edm": ("continuous_edm", {}), "discrete_flow": ("discrete_flow", {"shift": 3.0}),
          "flux": ("flux", {}), "stable_cascade": ("stable_cascade", {})}


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("name", SCHEDULER_NAMES)
def test_every_schedule_is_a_valid_step_schedule(name, model):
    schedule, settings = MODELS[model]
    ms = model_sampling(schedule, **settings)
    for steps in (1, 2, 5, 40):
        s = calculate_sigmas(ms, name, steps)
        assert s.dtype == torch.float32 and s.ndim == 1 and s[-1].item() == 0.0
        assert torch.isfinite(s).all() and (s[:-1] > 0).all() and (s.diff() <= 0).all(), (name, steps, s)
        assert len(s) >= 2
        if name not in ("ddim_uniform", "beta"):
            assert len(s) == steps + 1
        if name != "vp":   # vp is the VP SDE's own range
            top = float(ms.sigma_max)
            assert s[0].item() <= top * (1 + 1e-5)


def test_schedules_follow_the_model_samplings_device(device):
    ms = model_sampling("discrete").to(device)
    for name in SCHEDULER_NAMES:
        assert calculate_sigmas(ms, name, 4).device.type == device.type


def test_bad_arguments_name_the_parameter():
    ms = model_sampling("discrete")
    with pytest.raises(ValueError, match="name must be one of"):
        calculate_sigmas(ms, "Karras", 10)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        calculate_sigmas(ms, "karras", 0)
    with pytest.raises(TypeError, match="steps"):
        calculate_sigmas(ms, "karras", "ten")
    with pytest.raises(ValueError, match="rho must be > 0"):
        calculate_sigmas(ms, "karras", 10, rho=-1.0)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        calculate_sigmas(ms, "beta", 10, alpha=0.0)
    with pytest.raises(ValueError, match="linear_steps must be < steps"):
        calculate_sigmas(ms, "linear_quadratic", 4, linear_steps=4)
    with pytest.raises(TypeError, match="model_sampling must have"):
        calculate_sigmas(object(), "simple", 4)
    with pytest.raises(TypeError, match="unexpected keyword"):
        calculate_sigmas(ms, "simple", 4, rho=2.0)


def test_options_change_the_schedule():
    ms = model_sampling("continuous_edm", sigma_min=0.002, sigma_max=120.0)
    k3 = calculate_sigmas(ms, "karras", 6, rho=3.0)[:-1].double()
    assert_rel_close(k3 ** (1 / 3), torch.linspace(120 ** (1 / 3), 0.002 ** (1 / 3), 6, dtype=torch.float64), 1e-5)
    p2 = calculate_sigmas(ms, "polyexponential", 6, rho=2.0)[:-1].double()
    ramp = torch.linspace(1, 0, 6, dtype=torch.float64) ** 2
    assert_rel_close(p2.log(), math.log(0.002) + ramp * (math.log(120) - math.log(0.002)), 1e-5)
    b = calculate_sigmas(ms, "beta", 10, alpha=1.0, beta=1.0)   # Beta(1, 1): evenly spaced table entries
    idx = torch.round((1 - torch.arange(10) / 10) * 999).long()
    assert torch.equal(b[:-1], ms.sigmas[idx])
