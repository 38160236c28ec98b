"""diffusers_sigmas and diffusers_timesteps against diffusers itself: every scheduler class sched_nb reads, every
option that changes its steps, 1 to 50 steps, diffusers' shipped configs among them. Sigmas within 1e-6 relative
(zeros exact), integer timesteps exact, fractional ones within 1e-6 relative (1e-4 absolute)."""
import itertools
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

if os.environ.get("SCHED_NB_INTEROP"):   # a module to test in place of sched_nb.interop (development)
    import importlib
    I = importlib.import_module(os.environ["SCHED_NB_INTEROP"])
else:
    import sched_nb.interop as I

DATA = Path(__file__).parent / "data" / "scheduler_configs"
STEPS = (1, 2, 4, 10, 25, 50)
SD = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}
SCHEDULES = [SD, {"beta_schedule": "linear", "beta_start": 1e-4, "beta_end": 0.02}, {"beta_schedule": "squaredcos_cap_v2"}]
SPACINGS = [{"timestep_spacing": "linspace"}, {"timestep_spacing": "leading", "steps_offset": 1}, {"timestep_spacing": "trailing"}]
RESPACE = ["use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]


def _has(name, key): return key in I.SCHEDULER_DEFAULTS[name]


def _ddpm_cases(name):
    "Configs for a DDPM-beta class: every spacing with every respacing, each beta schedule, zsnr, final sigma."
    cases = []
    respace = [None] + [k for k in RESPACE if _has(name, k)]
    spacings = SPACINGS if _has(name, "timestep_spacing") else [{}]
    full = name in ("EulerDiscreteScheduler", "DPMSolverMultistepScheduler", "UniPCMultistepScheduler", "DEISMultistepScheduler")
    for sp, rs in itertools.product(spacings, respace):   # every pair for four classes, spacings x {none, karras} for the rest
        if full or rs in (None, "use_karras_sigmas") or sp is spacings[0]:
            cases.append({**SD, **sp, **({rs: True} if rs else {})})
    for sched in SCHEDULES[1:]:
        cases.append({**sched, **({"use_karras_sigmas": True} if _has(name, "use_karras_sigmas") else {})})
        cases.append(dict(sched))
    if _has(name, "rescale_betas_zero_snr"):
        cases.append({**SD, "rescale_betas_zero_snr": True, "timestep_spacing": "trailing", "prediction_type": "v_prediction"})
    if _has(name, "final_sigmas_type"):
        cases += [{**SD, "final_sigmas_type": "sigma_min"}, {**SD, "final_sigmas_type": "sigma_min", "use_karras_sigmas": True},
                  {**SD, "final_sigmas_type": "sigma_min", "use_exponential_sigmas": True}]
    if _has(name, "sigma_min"):
        cases += [{**SD, "use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0},
                  {**SD, "use_exponential_sigmas": True, "sigma_max": 5.0}]
    if name == "EulerDiscreteScheduler":
        cases += [{**SD, "interpolation_type": "log_linear"}, {**SD, "timestep_type": "continuous", "prediction_type": "v_prediction"},
                  {"num_train_timesteps": 500, "timestep_spacing": "trailing"}]
    if name == "DPMSolverMultistepScheduler":
        cases += [{**SD, "use_lu_lambdas": True}, {**SD, "lambda_min_clipped": -5.1}, {**SD, "lambda_min_clipped": -3.0, "timestep_spacing": "leading"},
                  {"beta_schedule": "squaredcos_cap_v2", "use_lu_lambdas": True}, {**SD, "algorithm_type": "sde-dpmsolver++"}]
    if name == "DPMSolverSinglestepScheduler": cases.append({**SD, "lambda_min_clipped": -5.1})
    if name == "PNDMScheduler":
        cases = [{**SD, **sp, "skip_prk_steps": skip} for sp in SPACINGS for skip in (False, True)]
        cases.append({"skip_prk_steps": True, "num_train_timesteps": 800})
    return [{"_class_name": name, **c} for c in cases]


def _other_cases():
    cases = []
    for name in ("LCMScheduler", "TCDScheduler"):
        cases += [{"_class_name": name}, {"_class_name": name, "original_inference_steps": 50, "num_train_timesteps": 1000},
                  {"_class_name": name, "original_inference_steps": 100}]
    flow = "FlowMatchEulerDiscreteScheduler"
    for shift in (1.0, 3.0):
        cases += [{"_class_name": flow, "shift": shift}] + [{"_class_name": flow, "shift": shift, k: True} for k in RESPACE]
    cases += [{"_class_name": flow, "shift": 3.0, "invert_sigmas": True}, {"_class_name": flow, "shift": 3.0, "shift_terminal": 0.1},
              {"_class_name": flow, "use_dynamic_shifting": True, "mu": 0.8},
              {"_class_name": flow, "use_dynamic_shifting": True, "mu": 1.15, "shift_terminal": 0.02},
              {"_class_name": flow, "use_dynamic_shifting": True, "time_shift_type": "linear", "mu": 2.0},
              {"_class_name": flow, "use_dynamic_shifting": True, "mu": 0.5, "use_karras_sigmas": True},
              {"_class_name": "FlowMatchHeunDiscreteScheduler", "shift": 1.0},
              {"_class_name": "FlowMatchHeunDiscreteScheduler", "shift": 3.0}]
    for name in ("EDMEulerScheduler", "EDMDPMSolverMultistepScheduler"):
        cases += [{"_class_name": name}, {"_class_name": name, "sigma_schedule": "exponential"},
                  {"_class_name": name, "final_sigmas_type": "sigma_min", "rho": 5.0, "sigma_max": 700.0}]
    return cases


def _shipped():
    return [json.loads(p.read_text()) for p in sorted(DATA.glob("*.json"))]


CASES = [c for name, family in I.FAMILIES.items() if family == "ddpm" for c in _ddpm_cases(name)] + _other_cases()


def _diffusers_steps(config, n):
    "diffusers' own sigmas (None where the class has none) and timesteps for `config` after set_timesteps(n)."
    config = {k: v for k, v in config.items() if k != "mu"}
    cls = getattr(diffusers, config.get("_class_name", "EulerDiscreteScheduler"))
    return cls.from_config(config)


def _compare(config, n, scheduler):
    mu = config.get("mu")
    kwargs = {"mu": mu} if mu is not None else {}
    what = f"{config} n={n}"
    try:
        scheduler.set_timesteps(n, **kwargs)
        nan = scheduler.timesteps.isnan().any() or getattr(scheduler, "sigmas", torch.zeros(1)).isnan().any()
        broken = "NaN" if nan else None
    except (ValueError, IndexError) as e: broken = str(e)
    if broken:   # diffusers fails or returns NaN: sched_nb refuses with a ValueError that says why
        with pytest.raises(ValueError, match="num_inference_steps|steps"):
            I.diffusers_timesteps(config, n, mu=mu)
        return
    want_t = scheduler.timesteps
    got_t = I.diffusers_timesteps(config, n, mu=mu)
    assert got_t.shape == want_t.shape, f"{what}: timesteps {tuple(got_t.shape)} != {tuple(want_t.shape)}: {got_t} {want_t}"
    if not want_t.is_floating_point():
        assert torch.equal(got_t.long(), want_t), f"{what}: timesteps {got_t} != {want_t}"
    else:
        torch.testing.assert_close(got_t.double(), want_t.double(), rtol=1e-6, atol=1e-4, msg=lambda m: f"{what}: {m}")
    want = getattr(scheduler, "sigmas", None)
    if want is None or I.INFERENCE[scheduler.__class__.__name__] in (I._ddim, I._pndm, I._lcm): return
    got = I.diffusers_sigmas(config, n, mu=mu)
    want = want.float()
    assert got.dtype == torch.float32 and got.shape == want.shape, f"{what}: sigmas {tuple(got.shape)} != {tuple(want.shape)}"
    zero = want == 0
    assert torch.equal(got[zero], want[zero]), f"{what}: zeros {got} {want}"
    rel = ((got.double() - want.double()).abs() / want.double().abs())[~zero]
    assert rel.numel() == 0 or rel.max().item() <= 1e-6, f"{what}: max relative difference {rel.max().item():.3g}\n{got}\n{want}"


@pytest.mark.parametrize("config", CASES, ids=[f"{i}-{c['_class_name'][:-9]}" for i, c in enumerate(CASES)])
def test_sweep_against_diffusers(config):
    scheduler = _diffusers_steps(config, None)
    for n in STEPS:
        if config["_class_name"] in ("LCMScheduler", "TCDScheduler") and n > config.get("original_inference_steps", 50): continue
        _compare(config, n, scheduler)


@pytest.mark.parametrize("path", sorted(DATA.glob("*.json")), ids=lambda p: p.stem)
def test_shipped_configs(path):
    config = json.loads(path.read_text())
    scheduler = _diffusers_steps(config, None)
    for n in STEPS:
        _compare({**config, **({"mu": 1.15} if config.get("use_dynamic_shifting") else {})}, n, scheduler)


def test_every_class_is_swept():
    swept = {c["_class_name"] for c in CASES}
    assert swept == set(I.SCHEDULER_DEFAULTS) and len(swept) == 20
    assert len(list(DATA.glob("*.json"))) == 9
