"""The gating identity: a conditioning percent that falls on a step's time gives exactly that step's sigma.

ComfyUI gates a conditioning (ControlNet, area, timestep range) at each step by comparing the step's sigma with
`percent_to_sigma(start)` and `percent_to_sigma(end)`: a step whose sigma is above the start's, or below the
end's, is skipped. A percent that maps to a step's time must therefore give that step's sigma to the last bit.

For every step schedule in SCHEDULER_NAMES, at 6, 11 and 21 steps, on the discrete (SD 1.5), v-prediction
zero-terminal-SNR and discrete-EDM schedules, each step with sigma > 0 gets its time on the table t (float32):
the reference's `normal` / `sgm_uniform` times (a float32 linspace from timestep(sigma_max) to
timestep(sigma_min)) on the discrete tables, the integer index otherwise (exact for the table-based schedules,
the nearest for the others, and for every schedule of the discrete-EDM table, whose own time is not an index).
The percent p = 1 - t / (T - 1), nudged until float32((1 - p)(T - 1)) == t, must give sigma(t) bit for bit: the
reference's arithmetic replayed here, and `sched_nb`'s own `sigma`. The ends are the two times a percent in
(0, 1) reaches only in the limit: t = T - 1 is p = 2**-40, and t = 0 is p = 1 - 2**-52, whose time rounds to
2e-13 and gives sigma(0) all the same.
"""
import math

import pytest
import torch

from sched_nb.compose import model_sampling
from sched_nb.discrete import ModelSamplingDiscrete
from sched_nb.schedulers import SCHEDULER_NAMES, calculate_sigmas
from helpers import (check_exact_or_one_ulp, load_golden, reference_discrete_percent, reference_discrete_sigma,
                     reference_discrete_sigmas)

MODELS = {"sd15": ("discrete", "eps", {}), "zsnr_v": ("discrete", "v_prediction", {"zsnr": True}),
          "discrete_edm": ("discrete_edm", "edm", {})}
STEPS = [6, 11, 21]


@pytest.fixture(scope="module")
def models():
    return {name: model_sampling(schedule, param, **settings) for name, (schedule, param, settings) in MODELS.items()}


def reference_normal_times(ms, steps, sgm=False):
    "The float32 times of the reference's `normal` scheduler (sgm: its `sgm_uniform`), from the model's own timestep."
    start, end = ms.timestep(ms.sigma_max), ms.timestep(ms.sigma_min)
    if sgm: return torch.linspace(start, end, steps + 1)[:-1]
    if math.isclose(float(ms.sigma(end)), 0, abs_tol=0.00001): steps += 1   # a table that ends at 0 (none of these)
    return torch.linspace(start, end, steps)


def reference_normal_sigmas(ms, steps, sgm=False):
    "The reference's `normal` / `sgm_uniform` schedule replayed with `ms`: sigma of each float32 time, one at a time."
    return [float(ms.sigma(t)) for t in reference_normal_times(ms, steps, sgm)] + [0.0]


def percent_at(t:float, T:int) -> float:
    "A percent in (0, 1) whose float32 time (1 - p)(T - 1) is `t` (at t = 0, the percent just below 1)."
    if t == 0: return 1 - 2 ** -52
    if t == T - 1: return 2 ** -40
    p = 1 - t / (T - 1)
    for _ in range(64):
        got = torch.tensor((1 - p) * (T - 1)).item()
        if got == t: return p
        p = math.nextafter(p, 1.0 if got > t else 0.0)
    raise AssertionError(f"no percent reaches the float32 time {t}")


def table_times(ms, name, steps, sigmas, table_is_time):
    "The time on the table of each step with sigma > 0 (float32 values)."
    live = [s for s in sigmas.tolist() if s > 0]
    if table_is_time and name in ("normal", "sgm_uniform"):
        return reference_normal_times(ms, steps, sgm=name == "sgm_uniform").tolist()[:len(live)]
    return ModelSamplingDiscrete.timestep(ms, torch.tensor(live)).float().tolist()   # the index, exact or nearest


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("name", SCHEDULER_NAMES)
@pytest.mark.parametrize("model", list(MODELS))
def test_a_percent_at_a_steps_time_gives_that_steps_sigma(models, model, name, steps):
    ms = models[model]
    T, table_is_time = ms.num_timesteps, model != "discrete_edm"
    if name == "sd_turbo" and not table_is_time:   # SD-Turbo's DDPM timesteps 999, 899, ... mean nothing in EDM's time
        with pytest.raises(ValueError, match="sd_turbo needs a model sampling timed in DDPM steps"):
            calculate_sigmas(ms, name, steps)
        return
    if table_is_time and name in ("normal", "sgm_uniform"):
        sigmas = torch.tensor(reference_normal_sigmas(ms, steps, sgm=name == "sgm_uniform"))
    else:
        sigmas = calculate_sigmas(ms, name, steps)
    times = table_times(ms, name, steps, sigmas, table_is_time)
    assert times, "no step with sigma > 0"
    table_sigma = (lambda t: ms.sigma(t)) if table_is_time else (lambda t: ModelSamplingDiscrete.sigma(ms, t))
    for i, t in enumerate(times):
        p = percent_at(t, T)
        assert 0 < p < 1
        got = ms.percent_to_sigma(p)
        here = reference_discrete_sigma(ms.log_sigmas, torch.tensor((1 - p) * (T - 1))).item()
        assert got == here == table_sigma(torch.tensor(t)).item(), (i, t, p, got, here)
        if table_is_time and name in ("normal", "sgm_uniform"):
            assert got == sigmas[i].item(), f"step {i}: percent {p} gives {got}, the step's sigma is {sigmas[i].item()}"


def applied_steps(sigmas, start, end):
    "The steps ComfyUI conditions: a float32 sigma above `start` or below `end` (Python floats) is skipped."
    out = []
    for i, s in enumerate(sigmas[:-1]):   # the final 0 is never evaluated
        x = torch.tensor([s], dtype=torch.float32)
        if not (bool(x[0] > start) or bool(x[0] < end)): out.append(i)
    return out


def reference_sd15():
    "The reference's SD 1.5 log table, its argmin timestep, and its `sigma`, replayed from its algorithm."
    log_sigmas = reference_discrete_sigmas({}).log().float()
    sigmas = reference_discrete_sigmas({}).float()
    timestep = lambda s: (s.log() - log_sigmas[:, None]).abs().argmin(dim=0).view(s.shape)
    return log_sigmas, sigmas, timestep


def test_reference_replay_matches_the_golden_normal_schedules():
    "The replayed reference `normal` scheduler against its golden schedules (within the platform's exp rounding)."
    log_sigmas, sigmas, timestep = reference_sd15()
    cases = [c for c in load_golden()["schedulers"] if c["model_sampling"] == "discrete_linear" and c["steps"] > 1]
    assert cases
    for case in cases:
        ts = torch.linspace(timestep(sigmas[-1]), timestep(sigmas[0]), case["steps"])
        replay = [reference_discrete_sigma(log_sigmas, t).item() for t in ts] + [0.0]
        ours = reference_normal_sigmas(model_sampling("discrete"), case["steps"])
        check_exact_or_one_ulp(ours, case["normal"], replay, f"normal, {case['steps']} steps")


@pytest.mark.parametrize("start, end, expected", [(0.4, 1.0, [2, 3, 4, 5]), (0.4, 0.8, [2, 3, 4]), (0.0, 0.8, [0, 1, 2, 3, 4])])
def test_comfyui_gating_on_sd15_normal_6_steps(start, end, expected):
    "SD 1.5, 6 normal steps (times 999, 799.2, 599.4, 399.6, 199.8, 0): the steps the reference conditions."
    log_sigmas, sigmas, timestep = reference_sd15()
    ts = torch.linspace(timestep(sigmas[-1]), timestep(sigmas[0]), 6)
    reference_steps = [reference_discrete_sigma(log_sigmas, t).item() for t in ts] + [0.0]
    want = applied_steps(reference_steps, reference_discrete_percent(log_sigmas, start), reference_discrete_percent(log_sigmas, end))
    assert want == expected
    ms = model_sampling("discrete")
    ours = reference_normal_sigmas(ms, 6)
    assert ours == reference_steps
    assert applied_steps(ours, ms.percent_to_sigma(start), ms.percent_to_sigma(end)) == want
    assert applied_steps(reference_steps, ms.percent_to_sigma(start), ms.percent_to_sigma(end)) == want


def test_a_float64_percent_would_skip_a_step_the_reference_conditions():
    "Why the arithmetic matters: the float64 interpolation at 0.6 * 999 is one float32 ulp below the step's sigma."
    ms = model_sampling("discrete")
    t = torch.tensor(0.6 * 999.0, dtype=torch.float64)
    lo = int(t.floor())
    float64_start = torch.lerp(ms.log_sigmas[lo].double(), ms.log_sigmas[lo + 1].double(), t - lo).exp().item()
    steps = reference_normal_sigmas(ms, 6)
    assert float64_start < steps[2] and float64_start != ms.percent_to_sigma(0.4)
    assert applied_steps(steps, float64_start, 0.0) == [3, 4, 5]          # step 2 lost
    assert applied_steps(steps, ms.percent_to_sigma(0.4), 0.0) == [2, 3, 4, 5]
