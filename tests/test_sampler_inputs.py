"""What every sampler is given, checked before its first step, for all of SAMPLERS: the model's answer, extra_args,
the generator, the noise source, the latent, the callback, the options; sample() and the wrappers; zero-length steps;
increasing schedules (inversion); and an adversarial search that throws arbitrary objects at every argument."""
import inspect
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from sched_nb.checks import INVERTING_SAMPLERS, drop_repeats
from sched_nb.compose import model_sampling
from sched_nb.guidance import CFGDenoiser, ClassMixtureDenoiser, InpaintDenoiser, flip_sigmas, sample
from sched_nb.samplers import SAMPLERS, Denoiser, GaussianMixtureDenoiser
from sched_nb.schedulers import calculate_sigmas

NAMES = list(SAMPLERS)
MIX = ClassMixtureDenoiser([[-1.0, 0.5], [1.0, -0.5]], [0.4, 0.3], [0, 1])
SIG = torch.tensor([14.6, 4.0, 1.0, 0.3, 0.0])
COMMON = ("model", "x", "sigmas", "extra_args", "callback", "disable")
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")


def latent(b=2, dtype=torch.float32): return 5 * torch.randn(b, 3, 2, generator=torch.Generator().manual_seed(0), dtype=dtype)
def guided(inner): return CFGDenoiser(inner, torch.tensor([0]), torch.tensor([-1]), cfg=2.0)
def model_for(name): return guided(MIX) if name.endswith("_cfg_pp") else MIX
def options(name): return list(inspect.signature(SAMPLERS[name]).parameters)[len(COMMON):]


def noisy(name):
    "Options under which `name` draws noise (so that a noise source is used)."
    opts = options(name)
    if "s_churn" in opts: return {"s_churn": 1.0}
    if name in ("dpm_fast", "dpm_adaptive", "ddim", "res_multistep", "res_multistep_cfg_pp"): return {"eta": 0.5} if "eta" in opts else None
    return {}


class Counting:
    "A model that answers `answer(x, sigma, **extra)` and counts its calls."
    def __init__(self, answer): self.answer, self.calls = answer, 0
    def __call__(self, x, sigma, **extra):
        self.calls += 1
        return self.answer(x, sigma, **extra)


BAD_ANSWERS = {
    "another shape": (lambda x, s, **k: torch.zeros(x.shape[0], 6), ValueError, "shape"),
    "batch of 1": (lambda x, s, **k: torch.zeros(1, *x.shape[1:]), ValueError, "shape"),
    "float64": (lambda x, s, **k: torch.zeros(x.shape, dtype=torch.float64), TypeError, "dtype"),
    "integers": (lambda x, s, **k: torch.zeros(x.shape, dtype=torch.int64), TypeError, "dtype"),
    "None": (lambda x, s, **k: None, TypeError, "NoneType"),
    "a numpy array": (lambda x, s, **k: np.zeros(x.shape, np.float32), TypeError, "ndarray"),
    "a list": (lambda x, s, **k: torch.zeros(x.shape).tolist(), TypeError, "list"),
    "a 0-d tensor": (lambda x, s, **k: torch.tensor(0.0), ValueError, "shape"),
}


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_model_answer_is_refused_at_the_first_call(name):
    for kind, (answer, exc, part) in BAD_ANSWERS.items():
        model = Counting(answer)
        with pytest.raises(exc, match=part) as info:
            SAMPLERS[name](guided(model) if name.endswith("_cfg_pp") else model, latent(), SIG, disable=True)
        assert ("model" in str(info.value) or "denoiser" in str(info.value)) and model.calls == 1, (kind, str(info.value), model.calls)


@pytest.mark.parametrize("name", NAMES)
def test_what_the_model_is_called_with_is_checked_before_it_is_called(name):
    model = Counting(lambda x, s, **k: torch.zeros_like(x))
    run = lambda **kw: SAMPLERS[name](kw.pop("model", model), kw.pop("x", latent()), kw.pop("sigmas", SIG), disable=True, **kw)
    for bad in ([1, 2], "cond", 3, torch.ones(2)):
        with pytest.raises(TypeError, match="extra_args must be a dict"): run(extra_args=bad)
    with pytest.raises(TypeError, match="must take .x, sigma, .*extra_args. with extra_args \\['cond'\\]"):
        run(model=lambda x, sigma: x, extra_args={"cond": 1})
    for bad in (None, 5, "model"):
        with pytest.raises(TypeError, match="model must be a denoiser"): run(model=bad)
    with pytest.raises(TypeError, match="callback must be None or a function of one argument"): run(callback=5)
    with pytest.raises(TypeError, match="callback"): run(callback=lambda: None)
    with pytest.raises(TypeError, match="disable must be True or False"): SAMPLERS[name](model, latent(), SIG, disable=torch.ones(2))
    for x, exc, part in ((torch.tensor(1.0), ValueError, "x must have a batch dimension"), (torch.ones(2, 3, dtype=torch.long), TypeError, "x must be a floating-point"),
                         (torch.ones(2, 3, dtype=torch.complex64), TypeError, "x must be a floating-point"), (np.ones((2, 3)), TypeError, "x must be a latent"),
                         ([[1.0]], TypeError, "x must be a latent"), (None, TypeError, "x must be a latent")):
        with pytest.raises(exc, match=part): run(x=x)
    assert model.calls == 0
    if "generator" in options(name):
        for bad in (3, "g", np.random.default_rng(0), True):
            with pytest.raises(TypeError, match="generator must be a torch.Generator"): run(generator=bad)
    if "noise_sampler" in options(name):
        with pytest.raises(TypeError, match="noise_sampler must be None or a function"): run(noise_sampler=3)
        with pytest.raises(TypeError, match="noise_sampler must take .sigma, sigma_next."): run(noise_sampler=lambda: None)
    assert model.calls == 0


@pytest.mark.parametrize("name", [n for n in NAMES if "noise_sampler" in options(n) and noisy(n) is not None])
def test_noise_of_another_shape_is_refused_at_the_first_draw(name):
    draws = []
    for bad in (torch.zeros(5), torch.zeros(1, 3, 2), None, np.zeros((2, 3, 2)), torch.zeros(2, 3, 2, dtype=torch.long)):
        draws.clear()
        with pytest.raises(ValueError, match="noise_sampler must return real noise shaped like the latent"):
            SAMPLERS[name](model_for(name), latent(), SIG, noise_sampler=lambda s, sn, bad=bad: draws.append(1) or bad,
                           disable=True, **noisy(name))
        assert len(draws) == 1
    # noise of another float dtype is cast to the latent's (the latent keeps its dtype)
    out = SAMPLERS[name](model_for(name), latent(), SIG, noise_sampler=lambda s, sn: torch.zeros(2, 3, 2, dtype=torch.float64),
                         disable=True, **noisy(name))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


# options of the wrong kind or range: (sampler, option, value, exception, parts of the message)
BAD_OPTIONS = [
    ("euler_ancestral", "eta", -0.1, ValueError, ("eta", ">= 0")), ("euler", "s_noise", math.nan, ValueError, ("s_noise", "finite")),
    ("heun", "s_churn", "much", TypeError, ("s_churn",)), ("lms", "order", 0, ValueError, ("order",)),
    ("lms", "order", 1e30, ValueError, ("order", "100")), ("ipndm", "max_order", 5, ValueError, ("max_order", "1 to 4")),
    ("deis", "deis_mode", "ab", ValueError, ("deis_mode", "'tab'")), ("uni_pc", "variant", "bh9", ValueError, ("variant",)),
    ("uni_pc", "corrector", "yes", TypeError, ("corrector", "True or False")), ("uni_pc_bh2", "corrector", torch.ones(2), TypeError, ("corrector",)),
    ("dpmpp_2m", "flow_log_snr", "no", TypeError, ("flow_log_snr",)), ("dpm_adaptive", "order", 4, ValueError, ("order",)),
    ("dpm_adaptive", "pcoeff", -1.0, ValueError, ("pcoeff", ">= 0")), ("dpm_adaptive", "icoeff", 1e30, ValueError, ("icoeff", "<= 100")),
    ("dpm_adaptive", "icoeff", 0.0, ValueError, ("icoeff", "> 0")), ("dpm_adaptive", "accept_safety", 3.0, ValueError, ("accept_safety", "<= 2.5")),
    ("dpm_adaptive", "eta", 2.0, ValueError, ("eta", "<= 1")), ("dpm_adaptive", "return_info", "yes", TypeError, ("return_info",)),
    ("dpm_adaptive", "h_init", 0.0, ValueError, ("h_init",)), ("dpm_fast", "eta", -1.0, ValueError, ("eta",)),
    ("dpmpp_2m_sde", "solver_type", "rk4", ValueError, ("solver_type", "'midpoint'")), ("dpmpp_sde", "r", 0.0, ValueError, ("r must be >= 0.01",)),
    ("seeds_2", "r", 2.0, ValueError, ("r must be <= 1",)), ("seeds_3", "r_2", 1e30, ValueError, ("r_2",)),
    ("er_sde", "max_stage", 4, ValueError, ("max_stage",)), ("er_sde", "noise_scaler", 3, TypeError, ("noise_scaler", "function")),
    ("sa_solver", "tau_func", 1.0, TypeError, ("tau_func", "function")), ("sa_solver", "tau_func", lambda s: -1.0, ValueError, ("tau_func(sigma)", ">= 0")),
    ("sa_solver", "predictor_order", 7, ValueError, ("predictor_order", "6")), ("sa_solver_pece", "corrector_order", -1, ValueError, ("corrector_order",)),
    ("sa_solver", "use_pece", "no", TypeError, ("use_pece",)), ("sa_solver_pece", "end_on_prediction", 2, TypeError, ("end_on_prediction",)),
    ("gradient_estimation", "ge_gamma", 1e30, ValueError, ("ge_gamma", "<= 10")), ("gradient_estimation_cfg_pp", "ge_gamma", -1.0, ValueError, ("ge_gamma",)),
    ("ddim", "eta", math.inf, ValueError, ("eta", "finite")), ("dpmpp_2s_ancestral_cfg_pp", "consistent_uncond", "x", TypeError, ("consistent_uncond",)),
    ("res_multistep_ancestral", "s_noise", -1.0, ValueError, ("s_noise",)), ("lcm", "generator", 1, TypeError, ("generator",)),
]


@pytest.mark.parametrize("name,option,value,exc,parts", BAD_OPTIONS, ids=lambda v: v if isinstance(v, str) else None)
def test_options_of_the_wrong_kind_or_range_are_refused_by_name(name, option, value, exc, parts):
    model = Counting(model_for(name))
    with pytest.raises(exc) as info:
        SAMPLERS[name](guided(model) if name.endswith("_cfg_pp") else model, latent(), SIG, disable=True, **{option: value})
    assert all(p in str(info.value) for p in parts), str(info.value)
    assert model.calls == 0 or option == "tau_func"   # tau_func(sigma) is known only from its answers, read before the loop


def test_the_edges_of_the_option_ranges_run():
    for name, kw in (("gradient_estimation", {"ge_gamma": 10.0}), ("seeds_2", {"r": 1.0}), ("lms", {"order": 100}),
                     ("dpm_adaptive", {"accept_safety": 0.0, "eta": 1.0}), ("sa_solver", {"predictor_order": 6, "corrector_order": 6})):
        out = SAMPLERS[name](MIX, latent(), calculate_sigmas(model_sampling("discrete"), "karras", 30), disable=True, **kw)
        assert torch.isfinite(out).all(), (name, kw)


def test_dpm_adaptive_ends_or_says_why(monkeypatch):
    "A run that cannot meet its tolerance, or whose controller hardly lets the step grow, stops with a message; it does not hang."
    with pytest.raises(ValueError, match="dpm_adaptive's error estimate is not finite at sigma = 14.6: x, or the model's answers"):
        SAMPLERS["dpm_adaptive"](lambda x, sigma: torch.full_like(x, math.nan), latent(), SIG, disable=True)
    import sched_nb.samplers
    monkeypatch.setattr(sched_nb.samplers, "MAX_TRIES", 30)
    with pytest.raises(ValueError, match="dpm_adaptive did not reach sigma_min in 30 tries"):
        SAMPLERS["dpm_adaptive"](MIX, latent(), SIG, h_init=1e-4, icoeff=1e-3, disable=True)


def test_noise_levels_the_latent_cannot_hold_are_refused():
    for x, sig, part in ((latent(), torch.tensor([1e39, 1.0, 0.0], dtype=torch.float64), "does not fit a torch.float32 latent"),
                         (latent(dtype=torch.float16), torch.tensor([1e5, 1.0, 0.0]), "does not fit a torch.float16 latent"),
                         (latent(), torch.tensor([1e-50, 1.0, 5.0], dtype=torch.float64), "none may round to 0")):
        with pytest.raises(ValueError, match=part): SAMPLERS["euler"](MIX, x, sig, disable=True)
    out = SAMPLERS["euler"](MIX, latent(dtype=torch.float64), torch.tensor([1e39, 1.0, 0.0], dtype=torch.float64), disable=True)
    assert torch.isfinite(out).all()
    flow = GaussianMixtureDenoiser([[0.0] * 6], [1.0], flow=True)
    with pytest.raises(ValueError, match="sigmas of a flow model must be at most 1"): SAMPLERS["euler"](flow, latent(), SIG, disable=True)
    with pytest.raises(ValueError, match="sigmas reach 1e\\+30, beyond what a torch.float32 Brownian tree spans"):
        SAMPLERS["dpmpp_2m_sde"](MIX, latent(), torch.tensor([1e30, 1e10, 1.0, 0.0]), disable=True)
    with pytest.raises(ValueError, match="er_sde's weights"):
        SAMPLERS["er_sde"](MIX, latent(), torch.tensor([1e30, 1e10, 1.0, 0.0]), disable=True)


# --- zero-length steps -----------------------------------------------------------------------------------------------
KEEPS = {"lcm", "dpm_fast"}                        # a zero-length step is a move (a renoise) or counted as a call
CHURNS = {"euler", "heun", "heunpp2", "dpm_2"}     # ... and for these, when they churn


def _fixed_noise(shape, n=200):
    "A noise_sampler handing out the same sequence of normal tensors on every run."
    draws = [torch.randn(shape, generator=torch.Generator().manual_seed(100 + k)) for k in range(n)]
    def make():
        it = iter(draws)
        return lambda s, sn: next(it)
    return make


REPEATS = {"leading": [14.6, 14.6, 14.6, 4.0, 1.0, 0.3, 0.0], "middle": [14.6, 4.0, 4.0, 1.0, 1.0, 0.3, 0.0],
           "before the end": [14.6, 4.0, 1.0, 0.3, 0.3, 0.0], "no final 0": [14.6, 4.0, 4.0, 1.0]}


@pytest.mark.parametrize("name", NAMES)
def test_zero_length_steps_never_divide_zero_by_zero(name):
    "sigma_i = sigma_(i+1) > 0: skipped (no network call) where such a step moves nothing, kept where it is a move."
    for where, levels in REPEATS.items():
        sig = torch.tensor(levels)
        x, make = latent(), _fixed_noise((2, 3, 2))
        kw = lambda: {"noise_sampler": make()} if "noise_sampler" in options(name) else {}
        model = Counting(model_for(name))
        out = SAMPLERS[name](model, x, sig, disable=True, **kw())
        assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all(), where
        once = torch.unique_consecutive(sig)
        if name not in KEEPS:                   # the same numbers as the schedule without its repeats, and its calls
            plain = Counting(model_for(name))
            torch.testing.assert_close(out, SAMPLERS[name](plain, x, once, disable=True, **kw()), rtol=0, atol=0)
            assert model.calls == plain.calls, where
        if name in CHURNS:                      # churning, each zero-length step is a churn move: kept, and finite
            churned = SAMPLERS[name](MIX, x, sig, s_churn=2.0, disable=True, **kw())
            alone = SAMPLERS[name](MIX, x, once, s_churn=2.0, disable=True, **kw())
            assert torch.isfinite(churned).all() and not torch.equal(churned, alone), where


@pytest.mark.parametrize("name", NAMES)
def test_more_steps_than_the_table_has_timesteps(name):
    "ComfyUI's simple scheduler on a 10-timestep table with 20 steps repeats every level: every sampler runs it."
    ms = type(model_sampling("discrete", "eps"))({"timesteps": 10})
    sig = calculate_sigmas(ms, "simple", 20)
    assert int((sig[1:] == sig[:-1]).sum()) == 10
    out = SAMPLERS[name](model_for(name), latent() * 0.05, sig, disable=True)
    assert torch.isfinite(out).all()
    if name not in KEEPS:   # a schedule of one level has nothing to do
        torch.testing.assert_close(SAMPLERS[name](model_for(name), latent(), torch.tensor([3.0, 3.0, 3.0]), disable=True), latent())


def test_drop_repeats_compares_levels_as_the_model_sees_them():
    s = torch.tensor([2.0 + 1e-12, 2.0, 1.0, 0.0], dtype=torch.float64)
    assert drop_repeats(s, latent()).tolist() == [2.0, 1.0, 0.0]                     # one float32 level
    assert drop_repeats(s, latent(dtype=torch.float64)).tolist() == s.tolist()       # two float64 levels
    assert drop_repeats([3.0, 1.0, 0.0], latent()).dtype == torch.float64


# --- inversion: the ODE samplers that step up an increasing schedule --------------------------------------------------
def _karras(n, lo=0.02, hi=80.0, rho=7.0):
    r = torch.linspace(0, 1, n, dtype=torch.float64)
    return torch.cat([(hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho, r.new_zeros(1)])


@pytest.mark.parametrize("flow", [False, True], ids=["ve", "flow"])
@pytest.mark.parametrize("name,order", [("euler", 1), ("ddim", 1), ("heun", 2)])
def test_inverting_then_sampling_returns_the_start(name, order, flow):
    "flip_sigmas' schedule up from the data, then back down: the start again, within an error that falls at the solver's order."
    mix = GaussianMixtureDenoiser([[-2.0, 0.0], [1.0, 1.5], [2.0, -1.0]], [0.3, 0.5, 0.4], [0.3, 0.4, 0.3], flow=flow)
    x0 = mix.sample(128, torch.Generator().manual_seed(0))
    errors = []
    for n in (40, 80, 160):
        down = torch.cat([torch.linspace(0.98, 0.02, n, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)]) if flow else _karras(n)
        up = flip_sigmas(down)
        assert up[0] == 1e-4 and bool((up[1:] > up[:-1]).all())
        noise = SAMPLERS[name](mix, x0, up, disable=True)
        assert noise.std() > (0.5 if flow else 40)                      # it reached the noise
        errors.append((SAMPLERS[name](mix, noise, up.flip(0), disable=True) - x0).abs().mean().item())
    assert errors[0] > errors[1] > errors[2] and errors[1] / errors[2] > 2 ** order * 0.8, errors
    assert errors[2] < (0.02 if order == 1 else 2e-4), errors


@pytest.mark.parametrize("name", [n for n in NAMES if n not in INVERTING_SAMPLERS])
def test_the_other_samplers_refuse_an_increasing_schedule(name):
    with pytest.raises(ValueError, match="runs only with euler, heun, ddim"):
        SAMPLERS[name](model_for(name), latent(), flip_sigmas(SIG), disable=True)


def test_inversion_refuses_noise_and_a_start_at_0():
    up = flip_sigmas(SIG)
    with pytest.raises(ValueError, match="runs only with euler, heun, ddim .ddim with eta = 0."): SAMPLERS["ddim"](MIX, latent(), up, eta=0.5, disable=True)
    with pytest.raises(ValueError, match="s_churn must be 0 on an increasing schedule"): SAMPLERS["euler"](MIX, latent(), up, s_churn=1.0, disable=True)
    with pytest.raises(ValueError, match="must start above 0 .`flip_sigmas` puts 1e-4"): SAMPLERS["heun"](MIX, latent(), SIG.flip(0), disable=True)
    with pytest.raises(ValueError, match="non-increasing"): SAMPLERS["euler"](MIX, latent(), torch.tensor([1.0, 5.0, 0.0]), disable=True)


# --- sample() and the wrappers ------------------------------------------------------------------------------------------
def test_sample_refuses_what_cannot_be_sampled():
    ms = model_sampling("discrete", "eps")
    den = Denoiser(lambda x, t: torch.zeros_like(x), ms)
    noise = latent()
    cases = [(dict(sigmas=torch.tensor([])), ValueError, "sigmas is empty"), (dict(sigmas=SIG[None]), ValueError, "1-D"),
             (dict(model=MIX), TypeError, "model must be a denoiser with a model_sampling"),
             (dict(model=GaussianMixtureDenoiser([[0.0] * 6], [1.0])), TypeError, "model_sampling = NoneType"),
             (dict(latent_image=torch.zeros(3, 3, 2)), ValueError, "noise has shape .2, 3, 2. and latent_image .3, 3, 2."),
             (dict(noise=noise.long()), TypeError, "noise must be a floating-point latent"),
             (dict(sampler=lambda model, x: x), TypeError, "sampler must be a sampler function"),
             (dict(denoise=torch.ones(2)), TypeError, "denoise"), (dict(add_noise="yes"), TypeError, "add_noise"),
             (dict(seed=2 ** 64), ValueError, "seed must be an integer from 0 to 2\\*\\*64 - 1"),
             (dict(extra_args=[1]), TypeError, "extra_args must be a dict")]
    for change, exc, part in cases:
        args = {"model": den, "noise": noise, "sigmas": SIG, "disable": True, **change}
        with pytest.raises(exc, match=part): sample(**args)
    assert torch.equal(sample(den, noise, scheduler="karras", steps=4, denoise=0.0, latent_image=noise * 0 + 1), noise * 0 + 1)


def test_the_wrappers_refuse_what_they_cannot_wrap():
    ms = model_sampling("discrete", "eps")
    with pytest.raises(TypeError, match="net must be the network"): Denoiser(None, ms)
    with pytest.raises(TypeError, match="model_sampling must be a model sampling .* no timestep"): Denoiser(lambda x, t: x, None)
    den = Denoiser(lambda x, t: None, ms)
    with pytest.raises(TypeError, match="net must return a tensor"): den(latent(), 1.0)
    with pytest.raises(TypeError, match="sigma must be a noise level"): Denoiser(lambda x, t: x, ms)(latent(), "1")
    with pytest.raises(ValueError, match="sigma must be finite noise levels >= 0"): Denoiser(lambda x, t: x, ms)(latent(), math.inf)
    half = Denoiser(lambda x, t, **k: torch.zeros_like(x), ms)
    assert half(latent(dtype=torch.float16), 1.0).dtype == torch.float32     # the reference's apply_model answers in sigma's float32
    for name in ("euler", "dpmpp_2m", "euler_ancestral"):                    # ... and a sampler steps a half latent in half
        assert SAMPLERS[name](half, latent(dtype=torch.float16), SIG, disable=True).dtype == torch.float16
        assert SAMPLERS[name](guided(half), latent(dtype=torch.float16), SIG, disable=True).dtype == torch.float16
    with pytest.raises(TypeError, match="denoiser must be callable"): CFGDenoiser(3, 0, -1)
    with pytest.raises(TypeError, match="denoiser .function. must take .x, sigma"): CFGDenoiser(lambda x, sigma: x, 0, -1)
    with pytest.raises(TypeError, match="key must be a keyword name"): CFGDenoiser(MIX, 0, -1, key=["c"])
    with pytest.raises(ValueError, match="cfg must be <= 100"): CFGDenoiser(MIX, 0, -1, cfg=1e300)
    with pytest.raises(ValueError, match="uncond must hold labels of the mixture"): CFGDenoiser(MIX, 0, 3)
    with pytest.raises(TypeError, match="cond must be one class"): CFGDenoiser(MIX, 0.5, -1)
    with pytest.raises(ValueError, match="cond and uncond must have the same shape"): CFGDenoiser(MIX, torch.zeros(1, 2), torch.zeros(1, 3))
    with pytest.raises(TypeError, match="latent_image must be a latent"): InpaintDenoiser(MIX, None, latent(), 1.0)
    with pytest.raises(ValueError, match="noise must be standard normal noise shaped like latent_image"): InpaintDenoiser(MIX, latent(), torch.zeros(3), 1.0)
    with pytest.raises(TypeError, match="model must be a denoiser"): InpaintDenoiser(None, latent(), latent(), 1.0)
    with pytest.raises(TypeError, match="the model .function. must return the denoised latent"):
        InpaintDenoiser(lambda x, s: None, latent(), latent(), 1.0)(latent(), torch.ones(2))


# --- the adversarial search ---------------------------------------------------------------------------------------------
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.bool, torch.complex64]
MAGNITUDES = st.sampled_from([0.0, 1e-30, 1e-3, 1.0, 14.6, 1e4, 1e30, -1.0, math.inf, -math.inf, math.nan])


@st.composite
def tensors(draw):
    "A tensor of any small shape (0-d and empty too), any dtype, any magnitude, maybe requiring grad."
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    dtype, value = draw(st.sampled_from(DTYPES)), draw(MAGNITUDES)
    t = torch.full(shape, value if math.isfinite(value) or dtype.is_floating_point or dtype.is_complex else 1.0, dtype=torch.float64)
    t = t.to(dtype) if dtype != torch.bool else t != 0
    return t.requires_grad_() if dtype.is_floating_point and draw(st.booleans()) else t


ANYTHING = st.one_of(st.none(), st.booleans(), st.integers(-3, 2 ** 70), st.floats(allow_nan=True, allow_infinity=True),
                     st.complex_numbers(max_magnitude=10), st.text(max_size=4), st.lists(st.floats(-5, 5), max_size=4),
                     st.dictionaries(st.text(max_size=2), st.integers(), max_size=2), tensors(),
                     st.builds(lambda s: np.full(s, 1.5), st.lists(st.integers(0, 3), max_size=2).map(tuple)),
                     st.just(object()), st.just(lambda *a, **k: None), st.just(torch.Generator()), st.just(math.pi / 10))


def _named(err, arg):
    "Whether an error's message names the argument (an option's name, or what the argument is)."
    msg = str(err)
    names = {"x": ("x ", "x must", "x's"), "model": ("model",), "sigmas": ("sigmas",)}.get(arg, (arg,))
    return any(n in msg for n in names)


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(NAMES), data=st.data())
def test_arbitrary_objects_are_refused_by_name_or_sampled(name, data):
    "One argument of a sampler (any of them) replaced by an arbitrary object: a finite latent like x, or a TypeError/ValueError naming it."
    arg = data.draw(st.sampled_from(("model", "x", "sigmas", "extra_args", "callback", "disable") + tuple(options(name))))
    value = data.draw(ANYTHING)
    args = {"model": model_for(name), "x": latent(), "sigmas": SIG, "extra_args": None, "callback": None, "disable": True}
    args[arg] = value
    try:
        with torch.no_grad(): out = SAMPLERS[name](**args)
    except (TypeError, ValueError) as e:
        assert _named(e, arg), f"{name}({arg}={value!r}): {type(e).__name__}: {e}"
        return
    if isinstance(out, tuple): out = out[0]                              # dpm_adaptive's return_info
    x = args["x"]
    finite_in = bool(torch.isfinite(x).all())                           # a latent holding NaN or inf is not read (no host read)
    assert out.shape == x.shape and out.dtype == x.dtype and (torch.isfinite(out).all() or not finite_in), f"{name}({arg}={value!r})"


WRAPPER_ARGS = {
    "sample": (lambda **a: sample(**a), {"model": Denoiser(lambda x, t: torch.zeros_like(x), model_sampling("discrete", "eps")),
                                        "noise": latent(), "sigmas": SIG, "sampler": "euler", "latent_image": None, "seed": None,
                                        "denoise_mask": None, "add_noise": True, "start_at_step": None, "end_at_step": None,
                                        "return_with_leftover_noise": False, "max_denoise": None, "disable": True}),
    "CFGDenoiser": (lambda **a: CFGDenoiser(**a)(latent(), torch.ones(2)), {"denoiser": MIX, "cond": torch.tensor([0]),
                                                                        "uncond": torch.tensor([-1]), "cfg": 2.0, "rescale": 0.0, "key": "cond"}),
    "InpaintDenoiser": (lambda **a: InpaintDenoiser(**a)(latent(), torch.ones(2)), {"model": MIX, "latent_image": latent(),
                                                                                 "noise": latent(), "denoise_mask": torch.ones(2, 3, 2)}),
}


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(which=st.sampled_from(list(WRAPPER_ARGS)), data=st.data())
def test_arbitrary_objects_given_to_sample_and_the_wrappers(which, data):
    fn, good = WRAPPER_ARGS[which]
    arg = data.draw(st.sampled_from([k for k in good if k != "disable"]))
    args = {**good, arg: data.draw(ANYTHING)}
    try:
        with torch.no_grad(): out = fn(**args)
    except (TypeError, ValueError) as e:
        assert _named(e, arg) or (arg == "noise" and "latent_image" in str(e)), f"{which}({arg}={args[arg]!r}): {type(e).__name__}: {e}"
        return
    assert isinstance(out, torch.Tensor) and torch.isfinite(out).all(), f"{which}({arg}={args[arg]!r})"
