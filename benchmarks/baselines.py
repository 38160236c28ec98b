"""What sched_nb is measured against, written plainly.

- the rules as the seed documentation describes them: `timestep(sigma)` as the argmin over the full
  [T, N] matrix of log-sigma distances, `sigma(t)` as its clamp / floor / ceil interpolation, the
  parameterizations' formulas as one expression each, and Stable Cascade's table built by a scalar loop
  over its 10000 times (that loop lives in `benchmarks/cascade_construction.py`);
- diffusers' `EulerDiscreteScheduler`, the library a user would otherwise pick: construction,
  `set_timesteps`, and the Euler loop `scale_model_input` + `step`;
- the memory-bound floor of an elementwise pass: bytes read and written divided by the bandwidth that a
  plain `x.clone()` of the same tensor reaches.
"""
from __future__ import annotations

import math

import torch

# Stable Diffusion's discrete schedule, as diffusers spells it (sched_nb's "linear" is diffusers' "scaled_linear")
DIFFUSERS_SD_CONFIG = {"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
                       "beta_schedule": "scaled_linear", "prediction_type": "epsilon"}


# --- the seed's rules ---------------------------------------------------------------------------------------
def argmin_timestep(log_sigmas: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    "The seed's timestep(sigma): argmin over the [T, N] matrix of |log sigma - log sigma_i|."
    dists = sigma.log().to(log_sigmas.device) - log_sigmas[:, None]
    return dists.abs().argmin(dim=0).view(sigma.shape).to(sigma.device)


def interp_sigma(log_sigmas: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
    "The seed's sigma(t): t clamped to the table, log-sigma interpolated between floor(t) and ceil(t)."
    t = torch.clamp(timestep.float().to(log_sigmas.device), min=0, max=len(log_sigmas) - 1)
    low_idx, high_idx = t.floor().long(), t.ceil().long()
    w = t.frac()
    log_sigma = (1 - w) * log_sigmas[low_idx] + w * log_sigmas[high_idx]
    return log_sigma.exp().to(timestep.device)


def seed_denoised(name: str, sigma: torch.Tensor, model_output: torch.Tensor, model_input: torch.Tensor,
                  sigma_data: float = 1.0) -> torch.Tensor:
    "The seed's calculate_denoised for EPS, V_PREDICTION, EDM, X0 and CONST, one expression each."
    sigma = sigma.view(sigma.shape[:1] + (1,) * (model_output.ndim - 1))
    if name in ("EPS", "CONST"): return model_input - model_output * sigma
    if name == "X0": return model_output
    sign = -1.0 if name == "V_PREDICTION" else 1.0
    return (model_input * sigma_data ** 2 / (sigma ** 2 + sigma_data ** 2)
            + sign * model_output * sigma * sigma_data / (sigma ** 2 + sigma_data ** 2) ** 0.5)


def cascade_loop_class():
    "The class that builds Stable Cascade's table by a scalar loop (from benchmarks/cascade_construction.py)."
    from .cascade_construction import LoopStableCascade
    return LoopStableCascade


# --- diffusers ----------------------------------------------------------------------------------------------
def diffusers_scheduler(**overrides):
    "diffusers' EulerDiscreteScheduler with Stable Diffusion's schedule."
    from diffusers import EulerDiscreteScheduler
    return EulerDiscreteScheduler(**{**DIFFUSERS_SD_CONFIG, **overrides})


def restart(scheduler) -> None:
    "Rewind a scheduler to its first step, as its own set_timesteps does, without recomputing its sigmas."
    scheduler._step_index = None
    scheduler._begin_index = None


def diffusers_euler_loop(scheduler, net, x: torch.Tensor) -> torch.Tensor:
    "diffusers' Euler sampling loop over the scheduler's timesteps: scale_model_input, the network, step."
    restart(scheduler)
    for t in scheduler.timesteps:
        out = net(scheduler.scale_model_input(x, t), t)
        x = scheduler.step(out, t, x, return_dict=False)[0]
    return x


def diffusers_one_step(scheduler, net, x: torch.Tensor, index: int) -> torch.Tensor:
    "One diffusers Euler step at `index` of the scheduler's timesteps: scale_model_input, the network, step."
    scheduler._step_index = index
    t = scheduler.timesteps[index]
    out = net(scheduler.scale_model_input(x, t), t)
    return scheduler.step(out, t, x, return_dict=False)[0]


def no_op_net(x: torch.Tensor, t) -> torch.Tensor:
    "A network that costs nothing: it returns its input, so a loop's time is all sampler overhead."
    return x


# --- the memory-bound floor ---------------------------------------------------------------------------------
def fused_pass_seconds(clone_seconds: float, tensors_read: int, tensors_written: int = 1) -> float:
    "Seconds a single fused pass would take at x.clone()'s bandwidth (clone reads one tensor and writes one)."
    return clone_seconds * (tensors_read + tensors_written) / 2


def log_uniform_sigmas(n: int, device="cpu", low: float = 1e-2, high: float = 2e1, seed: int = 0) -> torch.Tensor:
    "`n` noise levels spread log-uniformly over [low, high] (reproducible)."
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low))).float().to(device)
