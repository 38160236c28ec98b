"""Property tests of the samplers: a random sampler of SAMPLERS with random valid settings, on the exact Gaussian-mixture
denoiser (variance exploding or flow), a random step schedule of a real model sampling (repeated levels and schedules
that stop above 0 included) and a random latent: the result is finite, and has the latent's shape, dtype and device."""
import math
from functools import lru_cache

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import DEVICES
from sched_nb.compose import model_sampling
from sched_nb.guidance import CFGDenoiser, ClassMixtureDenoiser
from sched_nb.samplers import SAMPLERS
from sched_nb.schedulers import calculate_sigmas

pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")
NAMES = list(SAMPLERS)
CHURN = {"s_churn": st.floats(0, 5), "s_tmin": st.floats(0, 1), "s_tmax": st.sampled_from([math.inf, 5.0, 20.0]),
         "s_noise": st.floats(0, 1.5)}
NOISE = {"eta": st.floats(0, 1), "s_noise": st.floats(0, 1.5)}
OPTIONS = {   # valid settings of every option, per sampler (the others keep their defaults)
    **{n: CHURN for n in ("euler", "heun", "heunpp2", "dpm_2")},
    **{n: NOISE for n in ("euler_ancestral", "euler_ancestral_cfg_pp", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpm_fast", "ddim",
                          "res_multistep_ancestral", "res_multistep_ancestral_cfg_pp", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu")},
    "dpmpp_2s_ancestral_cfg_pp": {**NOISE, "consistent_uncond": st.booleans()},
    **{n: {**NOISE, "r": st.floats(0.1, 1.0)} for n in ("dpmpp_sde", "dpmpp_sde_gpu")},
    **{n: {**NOISE, "solver_type": st.sampled_from(["midpoint", "heun"])} for n in ("dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu")},
    "lms": {"order": st.integers(1, 6)}, "dpmpp_2m": {"flow_log_snr": st.booleans()},
    "dpm_adaptive": {"order": st.integers(2, 3), "rtol": st.floats(0.01, 0.1), "atol": st.floats(0.001, 0.05), "eta": st.floats(0, 1)},
    "ipndm": {"max_order": st.integers(1, 4)}, "ipndm_v": {"max_order": st.integers(1, 4)},
    "deis": {"max_order": st.integers(1, 4), "deis_mode": st.sampled_from(["tab", "rhoab"])},
    "uni_pc": {"order": st.integers(1, 3), "corrector": st.booleans(), "variant": st.sampled_from(["bh1", "bh2"])},
    "uni_pc_bh2": {"order": st.integers(1, 3), "corrector": st.booleans()},
    "res_multistep": {"s_noise": st.floats(0, 1.5)}, "res_multistep_cfg_pp": {"s_noise": st.floats(0, 1.5)},
    "gradient_estimation": {"ge_gamma": st.floats(0, 3)}, "gradient_estimation_cfg_pp": {"ge_gamma": st.floats(0, 3)},
    "er_sde": {"s_noise": st.floats(0, 1.5), "max_stage": st.integers(1, 3)},
    "seeds_2": {**NOISE, "r": st.floats(0.1, 1.0)}, "seeds_3": {**NOISE, "r_1": st.floats(0.1, 0.45), "r_2": st.floats(0.5, 1.0)},
    **{n: {"s_noise": st.floats(0, 1.5), "predictor_order": st.integers(1, 4), "corrector_order": st.integers(0, 4),
           "simple_order_2": st.booleans(), "tau_func": st.sampled_from([None, lambda sigma: 0.0, lambda sigma: 0.7])}
       for n in ("sa_solver", "sa_solver_pece")},
}
MODEL_SAMPLINGS = {False: [model_sampling("discrete", "eps"), model_sampling("continuous_edm", "edm"),
                           type(model_sampling("discrete", "eps"))({"timesteps": 20})],    # 20 timesteps: 30 steps repeat levels
                   True: [model_sampling("discrete_flow", "const"), model_sampling("flux", "const")]}
SCHEDULERS = ["karras", "simple", "exponential", "normal", "sgm_uniform", "beta"]
BROWNIAN = {n for n in NAMES if n.startswith(("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"))}   # a tree query costs ~1 ms an image


@lru_cache(maxsize=None)
def schedule(flow:bool, k:int, scheduler:str, steps:int) -> torch.Tensor:
    return calculate_sigmas(MODEL_SAMPLINGS[flow][k], scheduler, steps).double()


@st.composite
def runs(draw):
    "A sampler, its settings, a schedule, a denoiser and a latent."
    name = draw(st.sampled_from(NAMES))
    flow = draw(st.booleans())
    k = draw(st.integers(0, len(MODEL_SAMPLINGS[flow]) - 1))
    sigmas = schedule(flow, k, draw(st.sampled_from(SCHEDULERS)), draw(st.integers(1, 30)))
    if draw(st.booleans()) and len(sigmas) > 2: sigmas = sigmas[:-1]          # a schedule that stops above 0
    if flow: sigmas = sigmas.clamp_max(1.0)
    b, p, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    k = draw(st.integers(1, 3))
    means = torch.tensor(draw(st.lists(st.lists(st.floats(-2, 2), min_size=d, max_size=d), min_size=2 * k, max_size=2 * k)), dtype=torch.float64)
    mix = ClassMixtureDenoiser(means, draw(st.floats(0.05, 1.0)), [0] * k + [1] * k, flow=flow)
    model = CFGDenoiser(mix, torch.tensor([0]), torch.tensor([-1]), cfg=draw(st.floats(1, 4))) if name.endswith("_cfg_pp") else mix
    dtype = draw(st.sampled_from([torch.float32, torch.float64, torch.float16, torch.bfloat16]))
    z = torch.randn(b, p, d, generator=torch.Generator().manual_seed(draw(st.integers(0, 1000))), dtype=torch.float64)
    x = (z if flow else z * float(sigmas[0])).to(dtype)
    options = {k: draw(v) for k, v in OPTIONS.get(name, {}).items() if draw(st.booleans())}
    if name in BROWNIAN and draw(st.integers(0, 3)):             # mostly a cheap noise source; the tree now and then
        g = torch.Generator().manual_seed(draw(st.integers(0, 100)))
        options["noise_sampler"] = lambda sigma, sigma_next: torch.randn(x.shape, generator=g, dtype=torch.float64).to(x)
    device = torch.device(draw(st.sampled_from(DEVICES)))
    extra = {"seed": draw(st.integers(0, 2 ** 32))} if draw(st.booleans()) else None
    return name, model.to(device), x.to(device), sigmas, options, extra


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(run=runs())
def test_every_sampler_with_valid_settings_returns_a_finite_latent_like_its_input(run):
    name, model, x, sigmas, options, extra = run
    out = SAMPLERS[name](model, x, sigmas, extra_args=extra, disable=True, **options)
    if isinstance(out, tuple): out = out[0]
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device, (name, options)
    assert bool(torch.isfinite(out).all()), (name, options, sigmas.tolist(), x.dtype)
