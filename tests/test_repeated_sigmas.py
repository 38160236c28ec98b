"""Repeated sigmas: where the step schedules give them (kept, as the reference gives them), and that every sampler takes a
repeated sigma as a step of length 0 (h = 0), without dividing 0 by 0, on the exact Gaussian-mixture denoiser."""
import inspect
import warnings

import pytest
import torch

import reference_rules
from sched_nb.compose import model_sampling
from sched_nb.samplers import SAMPLERS, GaussianMixtureDenoiser
from sched_nb.schedulers import calculate_sigmas


def test_more_steps_than_the_table_repeats_sigmas_as_the_reference_does():
    ms = model_sampling("discrete", timesteps=10)
    got = calculate_sigmas(ms, "simple", 25)
    assert torch.equal(got, reference_rules.simple(ms, 25))
    assert got[0] == got[1] and len(got) == 26                      # a repeated leading sigma


def test_laplace_clamps_repeat_sigma_max_and_sigma_min():
    ms = model_sampling("discrete")
    s = calculate_sigmas(ms, "laplace", 20, beta=2.0)   # e^(+-2 * 11.5) lies far beyond the table's range at both ends
    assert s[0] == s[1] == ms.sigma_max and s[-2] == s[-3] == ms.sigma_min


def _dedup(s):
    keep = torch.cat([torch.ones(1, dtype=torch.bool), s[1:] != s[:-1]])
    return s[keep]


VE = {"leading": [10.0, 10.0, 10.0, 5.0, 1.0, 0.0], "middle": [10.0, 5.0, 5.0, 5.0, 1.0, 0.0],
      "tail": [10.0, 5.0, 1.0, 0.1, 0.1, 0.0], "all": [3.0, 3.0, 3.0, 0.0]}
FLOW = {"leading": [0.9, 0.9, 0.9, 0.5, 0.2, 0.0], "middle": [0.9, 0.5, 0.5, 0.5, 0.2, 0.0],
        "tail": [0.9, 0.5, 0.2, 0.05, 0.05, 0.0], "all": [0.7, 0.7, 0.7, 0.0]}
# deterministic samplers: a step of length 0 changes nothing, so the run equals the run on the schedule without repeats
# (dpm_fast is not among them: it reads only the ends of the schedule and its length, the number of steps it takes)
ODE = ("euler", "heun", "heunpp2", "dpm_2", "lms", "dpm_adaptive", "dpmpp_2m", "ipndm", "ipndm_v", "deis",
       "uni_pc", "uni_pc_bh2", "res_multistep", "gradient_estimation", "ddim")


def _cases():
    for name in sorted(SAMPLERS):
        if "cfg_pp" in name: continue   # these need a guided denoiser's unconditional prediction
        yield pytest.param(name, id=name)


@pytest.mark.parametrize("name", list(_cases()))
def test_every_sampler_takes_a_repeated_sigma_as_a_step_of_length_zero(name):
    fn = SAMPLERS[name]
    for flow, table in ((False, VE), (True, FLOW)):
        model = GaussianMixtureDenoiser([[0.0], [2.0]], [0.5, 0.3], flow=flow)
        for kind, sigmas in table.items():
            s = torch.tensor(sigmas)
            x = torch.randn(4, 1, generator=torch.Generator().manual_seed(0)) * s[0]
            kwargs = {"generator": torch.Generator().manual_seed(1)} if "generator" in inspect.signature(fn).parameters else {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = fn(model, x, s, disable=True, **kwargs)
            assert out.shape == x.shape and torch.isfinite(out).all(), f"{name} on the {'flow' if flow else 'VE'} schedule {sigmas}"
            if name in ODE:
                assert torch.equal(out, fn(model, x, _dedup(s), disable=True)), (name, kind)
