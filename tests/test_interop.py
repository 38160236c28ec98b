"""diffusers interop against diffusers itself: inference sigmas equal to EulerDiscreteScheduler's within 1e-6 relative
over a sweep of configurations, model samplings with diffusers' betas, configs round-tripping; sched_nb never imports it."""
import itertools
import subprocess
import sys

import pytest
import torch

import sched_nb
from sched_nb.compose import model_sampling
from sched_nb.interop import SCHEDULER_DEFAULTS, diffusers_config, diffusers_sigmas, diffusers_timesteps, from_diffusers, to_diffusers
from sched_nb.parameterizations import EPS, V_PREDICTION, X0

diffusers = pytest.importorskip("diffusers")
from diffusers import EulerDiscreteScheduler  # noqa: E402

RTOL = 1e-6
SCHEDULES = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012), "squaredcos_cap_v2": (1e-4, 0.02)}
RESPACINGS = [None, "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas"]
STEPS = (1, 3, 7, 25, 61)   # 61: NumPy's arange gives trailing spacing one step more


def _config(schedule, spacing, interpolation, respacing, zsnr, **extra):
    start, end = SCHEDULES[schedule]
    cfg = dict(beta_schedule=schedule, beta_start=start, beta_end=end, timestep_spacing=spacing,
               interpolation_type=interpolation, rescale_betas_zero_snr=zsnr,
               steps_offset=1 if spacing == "leading" else 0, **extra)
    if respacing: cfg[respacing] = True
    return cfg


def _assert_same_sigmas(ours, theirs, what):
    theirs = theirs.to(torch.float32)
    assert ours.dtype == torch.float32 and ours.shape == theirs.shape, f"{what}: {ours.shape} != {theirs.shape}"
    zero = theirs == 0
    assert torch.equal(ours[zero], theirs[zero]), what
    rel = ((ours.double() - theirs.double()).abs() / theirs.double().abs())[~zero]
    assert rel.max().item() <= RTOL, f"{what}: max relative difference {rel.max().item():.3g}"


SWEEP = list(itertools.product(SCHEDULES, ("linspace", "leading", "trailing"), ("linear", "log_linear"), RESPACINGS, (False, True)))


@pytest.mark.parametrize("schedule,spacing,interpolation,respacing,zsnr", SWEEP,
                         ids=["-".join(str(v) for v in case) for case in SWEEP])
def test_sigmas_match_euler_discrete_scheduler(schedule, spacing, interpolation, respacing, zsnr):
    cfg = _config(schedule, spacing, interpolation, respacing, zsnr)
    scheduler = EulerDiscreteScheduler(**cfg)
    for n in STEPS:
        scheduler.set_timesteps(n)
        _assert_same_sigmas(diffusers_sigmas(cfg, n), scheduler.sigmas, f"{cfg} n={n}")


@pytest.mark.parametrize("extra", [
    {"final_sigmas_type": "sigma_min"},
    {"final_sigmas_type": "sigma_min", "use_karras_sigmas": True},
    {"use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0},
    {"use_exponential_sigmas": True, "sigma_max": 5.0},
    {"num_train_timesteps": 500, "timestep_spacing": "trailing"},
    {"num_train_timesteps": 1024, "timestep_spacing": "leading", "steps_offset": 3},
    {"timestep_type": "continuous", "prediction_type": "v_prediction"},
    {"prediction_type": "sample", "beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012},
], ids=str)
def test_more_options_match(extra):
    scheduler = EulerDiscreteScheduler(**extra)
    for n in (1, 4, 20, 33):
        scheduler.set_timesteps(n)
        _assert_same_sigmas(diffusers_sigmas(extra, n), scheduler.sigmas, f"{extra} n={n}")


def test_trained_betas_match():
    betas = (torch.linspace(0.0002, 0.015, 800, dtype=torch.float64) ** 1.3).tolist()
    for spacing in ("linspace", "leading", "trailing"):
        cfg = {"trained_betas": betas, "num_train_timesteps": 800, "timestep_spacing": spacing}
        scheduler = EulerDiscreteScheduler(**cfg)
        for n in (5, 30):
            scheduler.set_timesteps(n)
            _assert_same_sigmas(diffusers_sigmas(cfg, n), scheduler.sigmas, f"trained {spacing} n={n}")


def test_config_objects_and_schedulers_are_accepted():
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       timestep_spacing="trailing", use_karras_sigmas=True)
    scheduler.set_timesteps(12)
    for config in (scheduler, scheduler.config, dict(scheduler.config)):
        _assert_same_sigmas(diffusers_sigmas(config, 12), scheduler.sigmas, type(config).__name__)
        assert torch.equal(from_diffusers(config).sigmas, model_sampling("discrete").sigmas)


def test_configs_are_read_as_their_own_class():
    "A DDIM scheduler object (whose .config has no _class_name) gives DDIM's timesteps, its config read as Euler Euler's sigmas."
    ddim = diffusers.DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                   steps_offset=1, clip_sample=False, set_alpha_to_one=False, timestep_spacing="leading")
    ddim.set_timesteps(25)
    assert torch.equal(diffusers_timesteps(ddim, 25), ddim.timesteps)
    with pytest.raises(ValueError, match="DDIMScheduler has no sigmas"):
        diffusers_sigmas(ddim, 25)
    euler = EulerDiscreteScheduler.from_config(ddim.config)
    euler.set_timesteps(25)
    _assert_same_sigmas(diffusers_sigmas({**ddim.config, "_class_name": "EulerDiscreteScheduler"}, 25), euler.sigmas, "as Euler")


def _reference_sigmas(scheduler):
    "sigma_t from the scheduler's own (float32) betas, the product taken in float64."
    ac = torch.cumprod(1 - scheduler.betas.double(), 0)
    return ((1 - ac) / ac).sqrt()


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("prediction,cls", [("epsilon", EPS), ("v_prediction", V_PREDICTION), ("sample", X0)])
def test_from_diffusers_builds_the_models_schedule(schedule, prediction, cls):
    start, end = SCHEDULES[schedule]
    cfg = dict(beta_schedule=schedule, beta_start=start, beta_end=end, prediction_type=prediction)
    ms = from_diffusers(cfg)
    assert isinstance(ms, cls) and type(ms).__mro__[1] is sched_nb.ModelSamplingDiscrete
    expected = _reference_sigmas(EulerDiscreteScheduler(**cfg))
    # diffusers keeps its betas in float32: 1 - beta for the capped beta 0.999 moves by 1e-5 in the rounding
    torch.testing.assert_close(ms.sigmas.double(), expected, rtol=1e-5, atol=0)


def test_from_diffusers_zero_snr_uses_the_reference_terminal_value():
    cfg = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, rescale_betas_zero_snr=True,
               prediction_type="v_prediction")
    ms = from_diffusers(cfg)
    scheduler = EulerDiscreteScheduler(**cfg)
    # below the top the rescaled schedules agree (diffusers rescales in float32, hence the looser tolerance)
    torch.testing.assert_close(ms.sigmas[:-1].double(), _reference_sigmas(scheduler)[:-1], rtol=2e-4, atol=0)
    # at the top diffusers puts alphas_cumprod = 2^-24 (sigma 4096), the reference 4.897e-8 (sigma 4518.8)
    assert scheduler.sigmas.max().item() == pytest.approx(4096.0)
    assert ms.sigma_max.item() == pytest.approx((1 / 4.8973451890853435e-08 - 1) ** 0.5, rel=1e-6)


def test_continuous_timesteps_give_edm_time():
    cfg = {"timestep_type": "continuous", "prediction_type": "v_prediction"}
    ms = from_diffusers(cfg)
    scheduler = EulerDiscreteScheduler(**cfg)
    scheduler.set_timesteps(8)
    torch.testing.assert_close(ms.timestep(scheduler.sigmas[:-1]), scheduler.timesteps, rtol=1e-6, atol=1e-6)


def test_discrete_timesteps_match_diffusers_at_its_sigmas():
    "At diffusers' own (integer) timesteps, our timestep(sigma) lands on the same index."
    cfg = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing")
    ms = from_diffusers(cfg)
    scheduler = EulerDiscreteScheduler(**cfg)
    scheduler.set_timesteps(20)
    assert torch.equal(ms.timestep(scheduler.sigmas[:-1]).float(), scheduler.timesteps)


@pytest.mark.parametrize("make", [
    lambda: model_sampling("discrete"), lambda: model_sampling("discrete", "v_prediction", zsnr=True),
    lambda: model_sampling("discrete", beta_schedule="cosine"), lambda: model_sampling("discrete", "x0", beta_schedule="sqrt"),
    lambda: model_sampling("discrete", beta_schedule="squaredcos_cap_v2"),
    lambda: model_sampling("discrete_edm", "v_prediction"),
])
def test_to_diffusers_round_trips_through_diffusers(make):
    ms = make()
    config = to_diffusers(ms)
    scheduler = EulerDiscreteScheduler.from_config(config)     # diffusers accepts it
    back = from_diffusers(scheduler.config)
    torch.testing.assert_close(back.sigmas, ms.sigmas, rtol=1e-5, atol=0)
    assert to_diffusers(back)["prediction_type"] == config["prediction_type"]
    assert type(back).__mro__[1] is type(ms).__mro__[1]


def test_bad_configs_name_the_setting():
    with pytest.raises(ValueError, match="beta_schedule must be one of"):
        from_diffusers({"beta_schedule": "sqrt_linear"})
    with pytest.raises(ValueError, match="prediction_type must be one of"):
        diffusers_sigmas({"prediction_type": "flow_prediction"}, 10)
    with pytest.raises(ValueError, match="interpolation_type must be one of"):
        diffusers_sigmas({"interpolation_type": "cubic"}, 10)
    with pytest.raises(ValueError, match="final_sigmas_type must be one of"):
        diffusers_sigmas({"final_sigmas_type": "one"}, 10)
    with pytest.raises(ValueError, match="only one of"):
        diffusers_sigmas({"use_karras_sigmas": True, "use_exponential_sigmas": True}, 10)
    with pytest.raises(ValueError, match="num_train_timesteps"):
        from_diffusers({"num_train_timesteps": 1})
    with pytest.raises(TypeError, match="config must be"):
        from_diffusers("scaled_linear")
    with pytest.raises(TypeError, match="num_inference_steps"):
        diffusers_sigmas({}, 2.5)
    with pytest.raises(ValueError, match="prediction_type for EPS, V_PREDICTION and X0, and LCM on the distilled schedule, not LCM"):
        to_diffusers(model_sampling("discrete", "lcm"))
    assert set(diffusers_config({})) == set(SCHEDULER_DEFAULTS["EulerDiscreteScheduler"]) | {"_class_name"}


def test_sched_nb_never_imports_diffusers():
    code = ("import sys, torch, sched_nb; from sched_nb.interop import from_diffusers, diffusers_sigmas, to_diffusers; "
            "ms = from_diffusers({'beta_schedule': 'scaled_linear'}); diffusers_sigmas({}, 5); to_diffusers(ms); "
            "import sched_nb.samplers, sched_nb.schedulers, sched_nb.toy; "
            "assert 'diffusers' not in sys.modules, sorted(m for m in sys.modules if 'diffusers' in m)")
    subprocess.run([sys.executable, "-c", code], check=True)


def _takes_quantize(fn):
    import inspect
    return "quantize" in inspect.signature(fn).parameters


def _karras_euler():
    cfg = dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, use_karras_sigmas=True)
    scheduler = EulerDiscreteScheduler(**cfg)
    scheduler.set_timesteps(20)
    assert not torch.equal(scheduler.timesteps, scheduler.timesteps.round())          # fractional indeed
    return from_diffusers(cfg), scheduler


def test_fractional_timesteps_match_diffusers():
    "Between table entries timestep(sigma, quantize=False) is the interpolated timestep diffusers' Karras Euler gives."
    from sched_nb.discrete import ModelSamplingDiscrete
    if not _takes_quantize(ModelSamplingDiscrete.timestep): pytest.skip("timestep(..., quantize=False) is not defined yet")
    ms, scheduler = _karras_euler()
    sigmas = scheduler.sigmas[:-1]
    # diffusers interpolates in its float32 log-sigma table, sched_nb in its float64-built one
    torch.testing.assert_close(ms.timestep(sigmas, quantize=False).double(), scheduler.timesteps.double(), rtol=0, atol=2e-3)
    assert torch.equal(ms.timestep(sigmas), ms.timestep(sigmas, quantize=True))         # the reference's nearest index by default


def test_denoiser_feeds_the_fractional_timestep():
    "Denoiser(..., quantize=False) gives the network diffusers' fractional timesteps."
    from sched_nb.samplers import Denoiser
    if not _takes_quantize(Denoiser.__init__): pytest.skip("Denoiser(..., quantize=False) is not defined yet")
    ms, scheduler = _karras_euler()
    sigmas = scheduler.sigmas[:-1]
    seen = []
    net = lambda x, t: (seen.append(t), torch.zeros_like(x))[1]
    Denoiser(net, ms, quantize=False)(torch.zeros(len(sigmas), 4), sigmas)
    torch.testing.assert_close(seen[0].double(), scheduler.timesteps.double(), rtol=0, atol=2e-3)
