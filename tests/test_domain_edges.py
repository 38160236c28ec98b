"""Domain edges that are not errors have documented answers (see each family's notebook).

- timestep(0) and timestep(inf): the ends of each family's time;
- percent exactly 0 and 1: the sentinels (999999999.9 or 1.0 before the start, 0.0 at the end);
- timesteps beyond either end of a bounded time: clamped to the end;
- empty tensors: shape [0] in, shape [0] out;
- a batch of one;
- NaN: a floating-point answer to NaN (or to a negative sigma, which is no noise level) is NaN; a discrete
  timestep, an integer that cannot hold NaN, refuses it on the CPU and answers T - 1 where checking would
  cost a device synchronisation (CUDA, torch.compile).
"""
import math

import pytest
import torch

from sched_nb.compose import PARAMETERIZATIONS, model_sampling

NAN, INF = math.nan, math.inf
FAMILIES = ["discrete", "discrete_distilled", "discrete_edm", "continuous_edm", "continuous_v",
            "stable_cascade", "discrete_flow", "flux"]
FLOAT_TIME = ["discrete_edm", "continuous_edm", "continuous_v", "stable_cascade", "discrete_flow", "flux"]
INDEX_TIME = ["discrete", "discrete_distilled"]

# timestep(0), timestep(inf)
TIMESTEP_ENDS = {
    "discrete": (0, 999), "discrete_distilled": (19, 999), "discrete_edm": (-INF, INF), "continuous_edm": (-INF, INF),
    "continuous_v": (0.0, 1.0), "stable_cascade": (0.0, 1.0), "discrete_flow": (0.0, INF), "flux": (0.0, INF),
}


def ms_on(family, device, **settings):
    return model_sampling(family, **settings).to(device)


@pytest.mark.parametrize("family", FAMILIES)
def test_timestep_of_sigma_0_and_inf(family, device):
    ms = ms_on(family, device)
    t = ms.timestep(torch.tensor([0.0, INF], device=device))
    assert t.tolist() == list(TIMESTEP_ENDS[family])
    assert t.device.type == device.type


@pytest.mark.parametrize("settings, last", [({"timesteps": 500}, 499), ({"beta_schedule": "cosine"}, 999), ({"zsnr": True}, 999)])
def test_discrete_timestep_ends_follow_the_table(settings, last, device):
    ms = ms_on("discrete", device, **settings)
    assert ms.timestep(torch.tensor([0.0, INF, 1e30], device=device)).tolist() == [0, last, last]


@pytest.mark.parametrize("family", FAMILIES)
def test_percent_exactly_0_and_1(family):
    ms = model_sampling(family)
    start = 1.0 if family in ("discrete_flow", "flux") else 999999999.9
    assert ms.percent_to_sigma(0.0) == start and ms.percent_to_sigma(0) == start
    assert ms.percent_to_sigma(1.0) == 0.0 and ms.percent_to_sigma(1) == 0.0
    assert type(ms.percent_to_sigma(0.0)) is float and type(ms.percent_to_sigma(1.0)) is float
    # just inside the ends: the ends of the table (within the table's interpolation)
    top, bottom = ms.percent_to_sigma(1e-12), ms.percent_to_sigma(1 - 1e-12)
    hi, lo = ms.sigmas[-1].item(), ms.sigmas[0].item()
    if family in ("discrete_flow", "flux"):
        lo = 0.0   # the flow time runs all the way down to 0, below the table's first entry 1/T
    assert top == pytest.approx(hi, rel=1e-4)
    assert bottom == pytest.approx(lo, rel=1e-3, abs=1e-6)


# sigma(timestep) for timesteps beyond either end
@pytest.mark.parametrize("family, below, above", [
    ("discrete", [-5.0, -INF], [1000.0, 1e9, INF]),
    ("discrete_distilled", [-100.0, 0.0], [1000.0, 5000.0, INF]),
    ("continuous_v", [-0.5, -INF], [1.0, 1.5, INF]),
    ("stable_cascade", [-1.0, -INF], [1.0, 2.0, INF]),
    ("discrete_flow", [-100.0, -INF], [1000.0, 5000.0, INF]),
    ("flux", [-1.0, -INF], [1.0, 2.0, INF]),
])
def test_timesteps_beyond_either_end_are_clamped(family, below, above, device):
    ms = ms_on(family, device)
    low = ms.sigma(torch.tensor(below, device=device))
    high = ms.sigma(torch.tensor(above, device=device))
    expected_low = {"continuous_v": 0.0, "discrete_flow": 0.0, "flux": 0.0}.get(family, ms.sigmas[0].item())
    expected_high = {"continuous_v": INF, "discrete_flow": 1.0, "flux": 1.0}.get(family, ms.sigmas[-1].item())
    assert low.tolist() == pytest.approx([expected_low] * len(below), rel=1e-6)
    assert high.tolist() == pytest.approx([expected_high] * len(above), rel=1e-6)
    assert not low.isnan().any() and not high.isnan().any()


@pytest.mark.parametrize("family", ["discrete_edm", "continuous_edm"])
def test_edm_time_has_no_ends(family, device):
    "EDM time ln(sigma)/4 is unbounded: every real time is a noise level, nothing is clamped."
    ms = ms_on(family, device)
    t = torch.tensor([-INF, -10.0, 10.0, INF], device=device)
    assert ms.sigma(t).tolist() == pytest.approx([0.0, math.exp(-40), math.exp(40), INF], rel=1e-6)
    assert ms.sigma(ms.timestep(torch.tensor([1e-6, 1e6], device=device))).tolist() == pytest.approx([1e-6, 1e6], rel=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_empty_tensors(family, device):
    ms = ms_on(family, device)
    empty = torch.empty(0, device=device)
    t = ms.timestep(empty)
    assert t.shape == (0,) and t.device.type == device.type
    s = ms.sigma(empty)
    assert s.shape == (0,) and s.dtype == torch.float32 and s.device.type == device.type
    assert ms.timestep(torch.empty(0, 3, device=device)).shape == (0, 3)
    x = torch.empty(0, 4, 2, 2, device=device)
    for out in (ms.calculate_input(empty, x), ms.calculate_denoised(empty, x, x), ms.noise_scaling(empty, x, x),
                ms.inverse_noise_scaling(empty, x)):
        assert out.shape == (0, 4, 2, 2) and out.device.type == device.type


@pytest.mark.parametrize("param", sorted(PARAMETERIZATIONS))
def test_empty_batch_for_every_parameterization(param, device):
    ms = model_sampling("discrete_distilled" if param == "lcm" else "discrete", param).to(device)
    x = torch.empty(0, 3, device=device)
    sigma = torch.empty(0, device=device)
    assert ms.calculate_denoised(sigma, x, x).shape == (0, 3)
    assert ms.calculate_input(sigma, x).shape == (0, 3)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("param", ["eps", "v_prediction", "edm", "x0", "const"])
def test_batch_of_one(family, param, device):
    ms = model_sampling(family, param).to(device)
    sigma = ms.sigmas[len(ms.sigmas) // 2].reshape(1)
    x = torch.randn(1, 4, 3, 3, device=device)
    assert ms.calculate_denoised(sigma, x, x).shape == (1, 4, 3, 3)
    assert ms.calculate_input(sigma, x).shape == (1, 4, 3, 3)
    assert ms.noise_scaling(sigma, x, x).shape == (1, 4, 3, 3)
    assert ms.timestep(sigma).shape == (1,)
    # one sigma for a whole batch broadcasts; a 0-d sigma and a Python number too
    xb = torch.randn(5, 4, 3, 3, device=device)
    one = ms.calculate_denoised(sigma, xb, xb)
    torch.testing.assert_close(one, ms.calculate_denoised(sigma.expand(5), xb, xb))
    torch.testing.assert_close(ms.calculate_denoised(sigma[0], xb, xb), one)
    assert ms.timestep(sigma[0]).shape == ()
    assert ms.sigma(0.5).shape == ()


# --- NaN and negative sigmas ---

@pytest.mark.parametrize("family", FAMILIES)
def test_sigma_of_nan_is_nan(family, device):
    ms = ms_on(family, device)
    out = ms.sigma(torch.tensor([NAN, 0.5], device=device))
    assert out[0].isnan() and not out[1].isnan()


@pytest.mark.parametrize("family", FLOAT_TIME)
def test_float_timestep_of_nan_or_negative_is_nan(family, device):
    ms = ms_on(family, device)
    out = ms.timestep(torch.tensor([NAN, -1.0, -1e-30, 0.5], device=device))
    assert out[:3].isnan().all() and not out[3].isnan()


@pytest.mark.parametrize("family", INDEX_TIME)
@pytest.mark.parametrize("bad", [NAN, -1.0])
def test_index_timestep_refuses_nan_and_negative_on_the_cpu(family, bad):
    ms = model_sampling(family)
    with pytest.raises(ValueError, match=r"sigma must be a noise level >= 0, got (nan|-1\.0)"):
        ms.timestep(torch.tensor([0.5, bad]))


@pytest.mark.parametrize("family", INDEX_TIME)
def test_index_timestep_of_nan_where_it_is_not_checked(family, device):
    "Where a check would cost a device sync (CUDA) or a graph break (torch.compile), NaN answers T - 1."
    ms = ms_on(family, device)
    x = torch.tensor([NAN, 0.5], device=device)
    compiled = torch.compile(ms.timestep, backend="eager", fullgraph=True)
    assert compiled(x)[0].item() == 999
    if device.type != "cpu":
        assert ms.timestep(x)[0].item() == 999


@pytest.mark.parametrize("param", ["eps", "v_prediction", "edm", "x0", "const"])
def test_nan_stays_in_its_own_sample(param, device):
    "A NaN sigma or NaN network output spoils its own sample, and only that one."
    ms = model_sampling("continuous_edm", param).to(device)
    x = torch.randn(2, 3, device=device)
    d = ms.calculate_denoised(torch.tensor([NAN, 1.0], device=device), x, x)
    assert not d[1].isnan().any()
    if param != "x0":   # X0 returns the network's output whatever sigma is
        assert d[0].isnan().all()
    out = x.clone()
    out[0, 0] = NAN
    d = ms.calculate_denoised(torch.tensor([1.0, 1.0], device=device), out, x)
    assert d[0, 0].isnan() and not d[1].isnan().any()


def test_parameterizations_at_sigma_0(device):
    "At sigma = 0 the latent is clean: every parameterization but X0 returns the input unchanged."
    x = torch.randn(2, 3, device=device, dtype=torch.float64)
    out = torch.randn(2, 3, device=device, dtype=torch.float64)
    zero = torch.zeros(2, device=device)
    for param in ("eps", "v_prediction", "edm", "const"):
        ms = model_sampling("continuous_edm", param)
        torch.testing.assert_close(ms.calculate_denoised(zero, out, x), x, rtol=0, atol=0)
    torch.testing.assert_close(model_sampling("discrete_flow").inverse_noise_scaling(zero, x), x, rtol=0, atol=0)


@pytest.mark.parametrize("original", [50, 3, 7, 1000])
def test_distilled_table_is_the_teachers_at_its_timesteps(original):
    "Entry i of the distilled table is the teacher's sigma at the timestep the distilled model is told for it."
    teacher = model_sampling("discrete")
    ms = model_sampling("discrete_distilled", original_timesteps=original)
    t = ms.timestep(ms.sigmas)
    torch.testing.assert_close(ms.sigmas, teacher.sigmas[t], rtol=0, atol=0)
    torch.testing.assert_close(ms.sigma(t.double()).float(), ms.sigmas, rtol=1e-6, atol=0)


def test_sampling_an_empty_batch(device):
    from sched_nb.samplers import GaussianMixtureDenoiser, sample_euler
    den = GaussianMixtureDenoiser([[0.0], [2.0]], [0.5, 0.5]).to(device)
    out = sample_euler(den, torch.empty(0, 1, device=device), torch.tensor([10.0, 1.0, 0.0]), disable=True)
    assert out.shape == (0, 1)


def test_sampling_a_batch_of_one(device):
    from sched_nb.samplers import GaussianMixtureDenoiser, sample_euler
    den = GaussianMixtureDenoiser([[0.0], [2.0]], [0.5, 0.5]).to(device)
    out = sample_euler(den, torch.randn(1, 1, device=device) * 10, torch.tensor([10.0, 1.0, 0.0]), disable=True)
    assert out.shape == (1, 1) and torch.isfinite(out).all()
