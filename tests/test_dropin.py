"""sched_nb as a drop-in for the reference `model_sampling` module, asked the questions host code asks.

- the class hierarchy: every isinstance/issubclass answer among the public classes is the reference's;
- constructors read only the settings the reference reads (a Playground v2.5 config patched onto a discrete
  schedule keeps sigma_data 1.0), and set the attributes the reference sets;
- result dtypes follow PyTorch's promotion of the reference's expressions (written out here from its formulas);
- zero terminal SNR of a schedule noisier than its terminal sigma: the reference's table, a warning, argmin;
- state dicts load into and from a stand-in with the reference's buffer names, strict;
- fractional timesteps as diffusers' `_sigma_to_t` gives them.
"""
import math
import warnings

import pytest
import torch

import sched_nb
from sched_nb import (COSMOS_RFLOW, CONST, EDM, EPS, IMG_TO_IMG, LCM, V_PREDICTION, X0, ModelSamplingContinuousEDM,
                      ModelSamplingContinuousV, ModelSamplingCosmosRFlow, ModelSamplingDiscrete, ModelSamplingDiscreteDistilled,
                      ModelSamplingDiscreteEDM, ModelSamplingDiscreteFlow, ModelSamplingFlux, StableCascadeSampling, reshape_sigma)
from sched_nb.compose import model_sampling
from sched_nb.core import check_sigma_table
from helpers import reference_discrete_sigmas

# --- 1. the hierarchy, as the reference has it (comfy/model_sampling.py and the LCM node's classes) ----------------

PARENT = {EPS: None, V_PREDICTION: EPS, EDM: V_PREDICTION, X0: EPS, IMG_TO_IMG: X0, LCM: EPS, CONST: None, COSMOS_RFLOW: None,
          ModelSamplingDiscrete: None, ModelSamplingDiscreteDistilled: ModelSamplingDiscrete,
          ModelSamplingDiscreteEDM: ModelSamplingDiscrete, StableCascadeSampling: ModelSamplingDiscrete,
          ModelSamplingContinuousEDM: None, ModelSamplingContinuousV: ModelSamplingContinuousEDM,
          ModelSamplingCosmosRFlow: ModelSamplingContinuousEDM, ModelSamplingDiscreteFlow: None, ModelSamplingFlux: None}
PARAMETERIZATIONS = [c for c in PARENT if not issubclass(c, torch.nn.Module)]
SCHEDULES = [c for c in PARENT if issubclass(c, torch.nn.Module)]


def lineage(cls):
    return {cls} | (lineage(PARENT[cls]) if PARENT[cls] is not None else set())


def test_every_public_class_is_in_the_table():
    "Every public schedule (a ScheduleBase) and every public parameterization (it has calculate_denoised) is in PARENT."
    from sched_nb.core import ScheduleBase
    classes = {n: getattr(sched_nb, n) for n in sched_nb.__all__ if isinstance(getattr(sched_nb, n), type)}
    names = {n for n, c in classes.items()
             if issubclass(c, ScheduleBase) or (hasattr(c, "calculate_denoised") and not issubclass(c, torch.nn.Module))}
    assert names == {c.__name__ for c in PARENT}
    assert len(PARAMETERIZATIONS) == 8 and len(SCHEDULES) == 9


@pytest.mark.parametrize("a", list(PARENT), ids=lambda c: c.__name__)
def test_issubclass_answers_are_the_references(a):
    for b in PARENT:
        assert issubclass(a, b) == (b in lineage(a)), f"issubclass({a.__name__}, {b.__name__})"


def test_isinstance_answers_are_the_references():
    instances = {c: c() for c in PARAMETERIZATIONS}
    instances.update({c: c() for c in SCHEDULES})
    for a, obj in instances.items():
        for b in PARENT:
            assert isinstance(obj, b) == (b in lineage(a)), f"isinstance({a.__name__}(), {b.__name__})"


@pytest.mark.parametrize("schedule, param, flow", [(ModelSamplingDiscreteFlow, CONST, True), (ModelSamplingFlux, CONST, True),
                                                   (ModelSamplingDiscrete, EPS, False), (ModelSamplingCosmosRFlow, COSMOS_RFLOW, False),
                                                   (ModelSamplingDiscreteDistilled, LCM, False), (ModelSamplingContinuousEDM, EDM, False)])
def test_hosts_route_by_isinstance(schedule, param, flow):
    "A host's node builds `class ModelSamplingAdvanced(schedule, param)`: flow models answer CONST and only CONST."
    class ModelSamplingAdvanced(schedule, param):
        pass
    ms = ModelSamplingAdvanced(None)
    assert isinstance(ms, CONST) is flow
    assert isinstance(ms, EPS) is (param in (EPS, LCM, EDM))
    assert isinstance(ms, torch.nn.Module) and isinstance(ms, schedule)


# --- 2. constructors read what the reference reads, and set what it sets -----------------------------------------

class Config:
    "A model config as a loader makes it: an object with a `sampling_settings` dict."
    def __init__(self, **settings): self.sampling_settings = settings


PLAYGROUND = Config(beta_schedule="linear", linear_start=0.00085, linear_end=0.012, sigma_data=0.5, sigma_max=80.0, sigma_min=0.002)


@pytest.mark.parametrize("schedule", [ModelSamplingDiscrete, ModelSamplingDiscreteEDM, ModelSamplingDiscreteDistilled])
def test_a_playground_config_leaves_a_discrete_schedule_alone(schedule):
    "The discrete node patch on a Playground v2.5 model: its config's sigma_data must not change the input scaling."
    plain = type("M", (schedule, EPS), {})(None)
    for ms in (schedule(PLAYGROUND), type("M", (schedule, EPS), {})(PLAYGROUND)):
        assert ms.sigma_data == 1.0
        assert torch.equal(ms.sigmas, plain.sigmas)
    patched = type("M", (schedule, EPS), {})(PLAYGROUND)
    sigma, x = torch.tensor([0.5, 3.0]), torch.randn(2, 4, 3, 3)
    assert torch.equal(patched.calculate_input(sigma, x), plain.calculate_input(sigma, x))
    torch.testing.assert_close(patched.calculate_input(sigma, x), x / (sigma.view(2, 1, 1, 1) ** 2 + 1.0) ** 0.5)   # sigma_data 1


def test_settings_outside_the_references_are_not_read_by_constructors():
    assert torch.equal(ModelSamplingDiscrete({"given_betas": [0.1] * 10}).sigmas, ModelSamplingDiscrete().sigmas)
    assert ModelSamplingDiscreteDistilled({"original_timesteps": 10}).sigmas.shape == (50,)
    assert StableCascadeSampling(PLAYGROUND).shift == 1.0                         # reads `shift` only
    edm = type("M", (ModelSamplingContinuousEDM, EDM), {})(PLAYGROUND)            # reads sigma_min, sigma_max, sigma_data
    assert edm.sigma_data == 0.5 and float(edm.sigma_max) == pytest.approx(80.0)
    sd15 = Config(beta_schedule="linear", linear_start=0.00085, linear_end=0.012)   # the continuous node on an SD model
    assert float(ModelSamplingContinuousEDM(sd15).sigma_max) == pytest.approx(120.0)


# the attributes the reference sets on each class, with their values for the default settings
ATTRIBUTES = {
    ModelSamplingDiscrete: {"num_timesteps": 1000, "linear_start": 0.00085, "linear_end": 0.012, "zsnr": False, "sigma_data": 1.0},
    ModelSamplingDiscreteEDM: {"num_timesteps": 1000, "linear_start": 0.00085, "linear_end": 0.012, "zsnr": False, "sigma_data": 1.0},
    ModelSamplingDiscreteDistilled: {"num_timesteps": 1000, "linear_start": 0.00085, "linear_end": 0.012, "zsnr": False,
                                     "sigma_data": 1.0, "original_timesteps": 50, "skip_steps": 20},
    StableCascadeSampling: {"num_timesteps": 10000, "linear_start": 0.00085, "linear_end": 0.012, "zsnr": False, "sigma_data": 1.0,
                            "shift": 1.0},
    ModelSamplingContinuousEDM: {"sigma_data": 1.0}, ModelSamplingContinuousV: {"sigma_data": 1.0},
    ModelSamplingCosmosRFlow: {"sigma_data": 1.0},
    ModelSamplingDiscreteFlow: {"shift": 1.0, "multiplier": 1000}, ModelSamplingFlux: {"shift": 1.15},
}


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda c: c.__name__)
def test_the_references_attributes_are_set(schedule):
    ms = schedule()
    for name, value in ATTRIBUTES[schedule].items():
        assert getattr(ms, name) == value and type(getattr(ms, name)) is type(value), name
    assert torch.equal(ms.sigma_min, ms.sigmas[0]) and torch.equal(ms.sigma_max, ms.sigmas[-1])
    if schedule is StableCascadeSampling:
        assert float(ms.cosine_s) == pytest.approx(8e-3) and float(ms._init_alpha_cumprod) == pytest.approx(math.cos(8e-3 / 1.008 * math.pi / 2) ** 2)


def test_set_parameters_keeps_what_the_host_passes():
    sd3 = ModelSamplingDiscreteFlow()
    sd3.set_parameters(shift=3.0, multiplier=1000)   # ComfyUI's SD3 node
    assert (sd3.shift, sd3.multiplier, type(sd3.multiplier)) == (3.0, 1000, int)
    sd3.set_parameters(shift=1.73, multiplier=1.0)   # its AuraFlow node
    assert type(sd3.multiplier) is float


# --- 4. dtypes: the reference's expressions, evaluated by PyTorch, give the dtype and the values ----------------

def ref_outputs(name, sigma, noise, out, x, latent):
    "The reference's four methods for parameterization `name` (sigma_data 1), written out from its formulas."
    r = lambda s, like: reshape_sigma(s, like.ndim)
    if name == "COSMOS_RFLOW":
        t = sigma / (sigma + 1)
        return {"calculate_input": noise * (1.0 - r(t, noise)), "calculate_denoised": x * (1.0 - r(t, out)) - out * r(t, out),
                "noise_scaling": noise * r(sigma, noise) + latent, "inverse_noise_scaling": latent}
    if name == "CONST":
        s = r(sigma, noise)
        return {"calculate_input": noise, "calculate_denoised": x - out * s,
                "noise_scaling": s * noise + (1.0 - s) * latent, "inverse_noise_scaling": latent / (1.0 - s)}
    s = r(sigma, noise)
    denoised = {"EPS": x - out * s, "V_PREDICTION": x / (s ** 2 + 1) - out * s / (s ** 2 + 1) ** 0.5,
                "EDM": x / (s ** 2 + 1) + out * s / (s ** 2 + 1) ** 0.5, "X0": out, "IMG_TO_IMG": out}[name]
    return {"calculate_input": noise if name == "IMG_TO_IMG" else noise / (s ** 2 + 1) ** 0.5, "calculate_denoised": denoised,
            "noise_scaling": noise * s + latent, "inverse_noise_scaling": latent}


@pytest.mark.parametrize("name", ["EPS", "V_PREDICTION", "EDM", "X0", "IMG_TO_IMG", "CONST", "COSMOS_RFLOW"])
@pytest.mark.parametrize("latent_dtype, sigma_dtype", [(torch.float16, torch.float32), (torch.bfloat16, torch.float32),
                                                       (torch.float32, torch.float32), (torch.float32, torch.float64),
                                                       (torch.float16, torch.float16)])
@pytest.mark.parametrize("batch", [3, 1])
def test_dtypes_follow_the_references_promotion(name, latent_dtype, sigma_dtype, batch):
    "A float32 [B] sigma with a float16 latent gives float32; a one-element sigma is 0-d in the reference and does not promote."
    g = torch.Generator().manual_seed(batch)
    sigma = torch.tensor([0.3, 0.9, 0.6][:batch] if name == "CONST" else [0.05, 2.0, 14.6][:batch], dtype=sigma_dtype)
    noise, out, x, latent = (torch.randn(batch, 4, 3, 3, generator=g).to(latent_dtype) for _ in range(4))
    p = getattr(sched_nb, name)()
    want = ref_outputs(name, sigma, noise, out, x, latent)
    got = {"calculate_input": p.calculate_input(sigma, noise), "calculate_denoised": p.calculate_denoised(sigma, out, x),
           "noise_scaling": p.noise_scaling(sigma, noise, latent), "inverse_noise_scaling": p.inverse_noise_scaling(sigma, latent)}
    for method, value in got.items():
        assert value.dtype == want[method].dtype, f"{name}.{method}: {value.dtype}, the reference's {want[method].dtype}"
        exact = ref_outputs(name, sigma.double(), noise.double(), out.double(), x.double(), latent.double())[method]
        tol = {torch.float16: 2e-3, torch.bfloat16: 1.6e-2}.get(value.dtype, 1e-5)
        torch.testing.assert_close(value.double(), exact, rtol=tol, atol=tol * exact.abs().max().item())
    if batch > 1 and latent_dtype in (torch.float16, torch.bfloat16) and sigma_dtype == torch.float32:
        assert got["calculate_input"].dtype == torch.float32 or name in ("CONST", "IMG_TO_IMG")
    if batch == 1 and sigma_dtype == torch.float32:
        assert got["calculate_denoised"].dtype == latent_dtype


def test_lcm_answers_at_least_float32_as_the_reference():
    "The reference's LCM views sigma as [B, 1, ...] (never 0-d) and its weights are float32: half latents come back float32."
    ms = model_sampling("discrete_distilled", "lcm")
    for batch in (1, 3):
        s = ms.sigmas[[5, 20, 45][:batch]]
        x = torch.randn(batch, 4, 2, 2).half()
        assert ms.calculate_denoised(s, x, x).dtype == torch.float32


def test_reshape_sigma_is_the_references():
    assert reshape_sigma(torch.tensor([2.0]), 4).shape == ()
    assert reshape_sigma(torch.ones(1, 1, 1, 1), 4).shape == ()
    assert reshape_sigma(torch.ones(5), 3).shape == (5, 1, 1)
    s = torch.ones(5)
    assert reshape_sigma(s, 3).data_ptr() == s.data_ptr()   # a view


# --- 6. zero terminal SNR of a noisier schedule ----------------------------------------------------------------------

NOISY = [{"beta_schedule": "sqrt_linear", "linear_start": 1e-4, "linear_end": 0.02},   # DDPM's own schedule
         {"beta_schedule": "sqrt", "linear_start": 1e-4, "linear_end": 0.02}]


def build_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ModelSamplingDiscrete(*args, **kwargs)


@pytest.mark.parametrize("settings", NOISY, ids=lambda s: s["beta_schedule"])
def test_zsnr_of_a_noisier_schedule_is_the_references_table(settings, device):
    with pytest.warns(UserWarning, match=r"zsnr=True with beta_schedule='%s'.*not monotone at its end" % settings["beta_schedule"]) as w:
        ms = ModelSamplingDiscrete(settings, zsnr=True)
    assert "linear_start=0.0001" in str(w[0].message) and "linear_end=0.02" in str(w[0].message)
    ref = reference_discrete_sigmas(settings, zsnr=True)
    assert torch.equal(ms.sigmas, ref.float()) and torch.equal(ms.log_sigmas, ref.log().float())
    assert ms.sigmas[-1] < ms.sigmas[-2]
    check_sigma_table(ms.sigmas, "the table", last_may_drop=True)   # accepted
    ms = ms.to(device)
    probe = torch.cat([ms.sigmas, ms.sigmas * 0.9, ms.sigmas * 1.1, torch.logspace(-2, 23, 4000, device=device),
                       ms.sigmas[-1:] * torch.tensor([0.999, 1.001, 2.0, 3.4, 3.5], device=device)])
    brute = (probe.log()[None] - ms.log_sigmas[:, None]).abs().argmin(0)   # the reference's argmin over the whole table
    for part in (slice(None), slice(0, 7), slice(-5, None)):                # the search path and the small-batch path
        assert torch.equal(ms.timestep(probe[part]), brute[part])


def test_a_reference_state_dict_of_a_noisy_zsnr_table_loads_anywhere():
    noisy = build_quietly(NOISY[0], zsnr=True)
    fresh = ModelSamplingDiscrete()   # a plain SD table, then the reference's noisy one loaded into it
    fresh.load_state_dict({"sigmas": noisy.sigmas.clone(), "log_sigmas": noisy.log_sigmas.clone()}, strict=True)
    sig = torch.cat([noisy.sigmas, noisy.sigmas * 1.05])
    assert torch.equal(fresh.timestep(sig), (sig.log()[None] - noisy.log_sigmas[:, None]).abs().argmin(0))
    torch.testing.assert_close(fresh.alphas_cumprod, 1 / (noisy.sigmas.double() ** 2 + 1).float())


def test_a_distilled_noisy_zsnr_table_keeps_the_argmin():
    with pytest.warns(UserWarning, match="not monotone at its end"):
        lcm = model_sampling("discrete_distilled", "lcm", zsnr=True, **NOISY[0])
    sig = torch.logspace(-2, 5, 3000)
    brute = (sig.log()[None] - lcm.log_sigmas[:, None]).abs().argmin(0) * lcm.skip_steps + lcm.skip_steps - 1
    assert torch.equal(lcm.timestep(sig), brute)


# --- 7. state dicts: the reference's buffer names, strict, both ways -----------------------------------------------

class ReferenceStandIn(torch.nn.Module):
    "A module with the reference's buffers for a schedule class (comfy's register_buffer calls), and nothing else."
    NAMES = {ModelSamplingDiscrete: ("sigmas", "log_sigmas"), ModelSamplingDiscreteDistilled: ("sigmas", "log_sigmas"),
             ModelSamplingDiscreteEDM: ("sigmas", "log_sigmas"), StableCascadeSampling: ("sigmas", "log_sigmas"),
             ModelSamplingContinuousEDM: ("sigmas", "log_sigmas"), ModelSamplingContinuousV: ("sigmas", "log_sigmas"),
             ModelSamplingCosmosRFlow: ("sigmas", "log_sigmas"), ModelSamplingDiscreteFlow: ("sigmas",), ModelSamplingFlux: ("sigmas",)}

    def __init__(self, schedule, sigmas):
        super().__init__()
        self.register_buffer("sigmas", sigmas.clone())
        if "log_sigmas" in self.NAMES[schedule]: self.register_buffer("log_sigmas", sigmas.log())


def reference_table(schedule):
    "The reference's own default table where it is replayed here (discrete, continuous), else sched_nb's."
    if schedule in (ModelSamplingDiscrete, ModelSamplingDiscreteEDM): return reference_discrete_sigmas({}).float()
    if issubclass(schedule, ModelSamplingContinuousEDM): return torch.linspace(math.log(0.002), math.log(120.0), 1000).exp()
    return schedule().sigmas


@pytest.mark.parametrize("schedule", SCHEDULES, ids=lambda c: c.__name__)
def test_state_dict_keys_are_the_references_both_ways(schedule):
    ours = type("M", (schedule, PARENT_PARAM.get(schedule, EPS)), {})()
    assert list(ours.state_dict()) == list(ReferenceStandIn.NAMES[schedule])
    theirs = ReferenceStandIn(schedule, reference_table(schedule))
    theirs.load_state_dict(ours.state_dict(), strict=True)      # ours into the reference's
    fresh = type("M", (schedule, PARENT_PARAM.get(schedule, EPS)), {})()
    fresh.load_state_dict(ReferenceStandIn(schedule, reference_table(schedule)).state_dict(), strict=True)   # and back
    assert torch.equal(fresh.sigmas, reference_table(schedule))
    assert torch.equal(fresh.timestep(fresh.sigmas[:5]), ours.timestep(ours.sigmas[:5]))


PARENT_PARAM = {ModelSamplingDiscreteFlow: CONST, ModelSamplingFlux: CONST, ModelSamplingCosmosRFlow: COSMOS_RFLOW,
                ModelSamplingDiscreteDistilled: LCM, ModelSamplingContinuousEDM: EDM, ModelSamplingContinuousV: V_PREDICTION}


def test_cached_constants_are_not_saved_but_move():
    sc = StableCascadeSampling({"shift": 2.0})
    assert {"cosine_s", "_init_alpha_cumprod", "alphas_cumprod"} <= {n for n, _ in sc.named_buffers()}
    assert set(sc.state_dict()) == {"sigmas", "log_sigmas"}
    assert set(ModelSamplingDiscrete().state_dict()) == {"sigmas", "log_sigmas"}   # no alphas_cumprod, as the reference


# --- fractional timesteps -----------------------------------------------------------------------------------------

def test_fractional_timestep_is_diffusers_sigma_to_t():
    diffusers = pytest.importorskip("diffusers")
    np = pytest.importorskip("numpy")
    ms = ModelSamplingDiscrete()
    sig = torch.cat([ms.sigmas[::37], torch.logspace(-2.2, 1.3, 500), torch.tensor([0.01, 30.0])])
    got = ms.timestep(sig, quantize=False)
    assert got.dtype == torch.float32 and got.shape == sig.shape
    theirs = diffusers.EulerDiscreteScheduler._sigma_to_t(None, sig.numpy(), ms.log_sigmas.numpy())
    np.testing.assert_allclose(got.numpy(), theirs, rtol=0, atol=1e-4)
    # and k-diffusion's sigma_to_t (the same rule), written out in torch
    ls = ms.log_sigmas
    low = (sig.log() - ls[:, None]).ge(0).cumsum(0).argmax(0).clamp(max=len(ls) - 2)
    w = ((ls[low] - sig.log()) / (ls[low] - ls[low + 1])).clamp(0, 1)
    assert torch.equal(got, (1 - w) * low + w * (low + 1))
    assert torch.equal(ms.timestep(sig), ms.timestep(sig, quantize=True))


def test_later_methods_are_patched_onto_their_class():
    for name in ("timestep", "sigma", "percent_to_sigma"):
        fn = ModelSamplingDiscrete.__dict__[name]
        assert fn.__name__ == name and fn.__qualname__ == f"ModelSamplingDiscrete.{name}"
