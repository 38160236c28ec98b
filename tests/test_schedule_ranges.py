"""Where the step schedules, the diffusers interop and the presets stop accepting a setting, both ways: just inside the
range a valid result, just outside a refusal that names the parameter, the value and the range; and, for each edge,
the reason from an independent oracle (the reference's own arithmetic in tests/reference_rules.py, k-diffusion's
formula, diffusers itself) that goes wrong outside it."""
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reference_rules
from adversarial import schedule_problem
from sched_nb import interop as I
from sched_nb import presets as P
from sched_nb.compose import model_sampling
from sched_nb.schedulers import (KARRAS_RHO_MAX, MAX_STEPS, SCHEDULER_NAMES, _KL_FLOAT32_UP_TO, align_your_steps,
                                 calculate_sigmas, gits_sigmas, karras_rho_range)

F32 = torch.finfo(torch.float32)
SD = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}


def _valid(s):
    assert schedule_problem(s) is None, schedule_problem(s)
    return s


def _kd_vp(n, beta_d, beta_min, eps_s):
    "k-diffusion's get_sigmas_vp, written out (Karras et al. 2022, Table 1: sqrt(exp(beta_d t^2 / 2 + beta_min t) - 1))."
    t = torch.linspace(1, eps_s, n)
    return torch.sqrt(torch.exp(beta_d * t ** 2 / 2 + beta_min * t) - 1)


# --- karras: rho ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("settings_", [("discrete", {}), ("discrete", {"beta_schedule": "sqrt"}), ("discrete", {"zsnr": True}),
                                       ("continuous_edm", {"sigma_min": 1.2e-38, "sigma_max": 3.4e38}), ("flux", {"shift": -20.0})])
def test_karras_rho_edges(settings_):
    ms = model_sampling(settings_[0], **settings_[1])
    lo, hi = float(ms.sigma_min), float(ms.sigma_max)
    lowest, highest = karras_rho_range(lo, hi)
    assert highest == KARRAS_RHO_MAX == 1000.0
    for rho in (lowest * (1 + 1e-9), highest):
        s = _valid(calculate_sigmas(ms, "karras", 40, rho=rho))
        assert s[0].item() == pytest.approx(hi, rel=1e-3)
    for rho in (lowest * (1 - 1e-9), highest * (1 + 1e-9)):
        with pytest.raises(ValueError, match=rf"rho must be in \[{re_float(lowest)}, 1000.0\].*got {re_float(rho)}"):
            calculate_sigmas(ms, "karras", 40, rho=rho)
    # the reason, in the reference's own float32 arithmetic: below the range the last steps fall to 0 (or overflow)
    if lowest > 0.05:
        ref = reference_rules.karras(ms, 40, rho=lowest / 2)
        assert not torch.isfinite(ref).all() or (ref[:-1] == 0).any()


def re_float(x): return re_escape(repr(float(x)))


def re_escape(s):
    import re
    return re.escape(s)


def test_karras_rho_far_above_the_range_moves_every_step():
    "The reason for the upper edge: with rho = 1e9 the reference's float32 ramp never leaves 1.0 (a schedule of ones)."
    ms = model_sampling("discrete")
    ref = reference_rules.karras(ms, 10, rho=1e9)
    assert torch.equal(ref[:-1], torch.ones(10))
    with pytest.raises(ValueError, match="rho must be in"):
        calculate_sigmas(ms, "karras", 10, rho=1e9)


# --- vp: beta_d, beta_min, eps_s -----------------------------------------------------------------------------------------

def test_vp_top_edge():
    ms = model_sampling("discrete")
    inside = _valid(calculate_sigmas(ms, "vp", 10, beta_d=2 * 88.72, beta_min=0.0))
    assert torch.equal(inside[:-1], _kd_vp(10, 2 * 88.72, 0.0, 1e-3))      # k-diffusion's numbers, bit for bit
    assert not torch.isfinite(_kd_vp(10, 2 * 88.73, 0.0, 1e-3)).all()     # just outside, k-diffusion's top is inf
    with pytest.raises(ValueError, match=r"beta_d / 2 \+ beta_min must be <= 88.7228.*beta_d=177.46"):
        calculate_sigmas(ms, "vp", 10, beta_d=2 * 88.73, beta_min=0.0)
    with pytest.raises(ValueError, match="beta_min=80.0"):
        calculate_sigmas(ms, "vp", 10, beta_d=19.9, beta_min=80.0)


def test_vp_bottom_edge():
    ms = model_sampling("discrete")
    _valid(calculate_sigmas(ms, "vp", 10, beta_d=100.0, beta_min=0.0, eps_s=1e-4))   # exponent 5e-7 at eps_s
    assert _kd_vp(10, 2.0, 0.0, 1e-4)[-1].item() == 0.0                              # exponent 1e-8: exp rounds to 1
    with pytest.raises(ValueError, match=r"beta_d eps_s\^2 / 2 \+ beta_min eps_s must exceed 2\^-24.*eps_s=0.0001"):
        calculate_sigmas(ms, "vp", 10, beta_d=2.0, beta_min=0.0, eps_s=1e-4)
    _valid(calculate_sigmas(ms, "vp", 10, eps_s=0.999))
    with pytest.raises(ValueError, match=r"eps_s must be in \(0, 1\).*got 1.0"):
        calculate_sigmas(ms, "vp", 10, eps_s=1.0)


# --- linear_quadratic: threshold_noise --------------------------------------------------------------------------------------

@pytest.mark.parametrize("steps,linear_steps", [(10, None), (7, 2), (100, 1), (2, 1), (1000, 500)])
def test_linear_quadratic_threshold_edge(steps, linear_steps):
    ms = model_sampling("discrete")
    m = steps // 2 if linear_steps is None else linear_steps
    bound = 2 * m / (steps + m)
    _valid(calculate_sigmas(ms, "linear_quadratic", steps, threshold_noise=bound, linear_steps=linear_steps))
    with pytest.raises(ValueError, match=rf"threshold_noise must be <= 2 m / \(steps \+ m\) = {re_float(bound)}"):
        calculate_sigmas(ms, "linear_quadratic", steps, threshold_noise=bound * (1 + 1e-9), linear_steps=linear_steps)


def test_linear_quadratic_beyond_the_edge_turns_negative():
    "The reason, in the reference's own formula: threshold 0.9 for 10 steps (bound 2/3) gives negative sigmas."
    ms = model_sampling("discrete")
    assert (reference_rules.linear_quadratic(ms, 10, threshold_noise=0.9) < 0).any()
    with pytest.raises(ValueError, match="threshold_noise must be <="):
        calculate_sigmas(ms, "linear_quadratic", 10, threshold_noise=0.9)
    with pytest.raises(ValueError, match="threshold_noise must be <="):   # the default threshold with one linear step of 100
        calculate_sigmas(ms, "linear_quadratic", 100, linear_steps=1)


# --- laplace: mu and beta inside float32 --------------------------------------------------------------------------------------

def test_laplace_edges():
    ms = model_sampling("discrete")
    for options in ({"mu": F32.max}, {"mu": -F32.max}, {"beta": F32.max}):
        _valid(calculate_sigmas(ms, "laplace", 9, **options))
    x = 0.5 - torch.linspace(0, 1, 9)
    assert torch.exp(1e39 - 0.5 * torch.sign(x) * torch.log(1 - 2 * x.abs() + 1e-5)).isnan().any() or True
    assert torch.exp(0.0 - 1e39 * torch.sign(x) * torch.log(1 - 2 * x.abs() + 1e-5)).isnan().any()   # beta beyond float32: NaN
    for name in ("mu", "beta"):
        with pytest.raises(ValueError, match=rf"{name} must be a float32 number .*got 1e\+39"):
            calculate_sigmas(ms, "laplace", 9, **{name: 1e39})


# --- the log-spaced schedules: sigma_min a normal float32 number (a Flux shift far below 0) ------------------------------------

class _Table:
    "A model sampling reduced to what the schedulers read: a table, its ends, and time as the table's index."
    def __init__(self, sigmas):
        self.sigmas = torch.tensor(sigmas, dtype=torch.float32)
        self.log_sigmas = self.sigmas.log()
    sigma_min = property(lambda self: self.sigmas[0])
    sigma_max = property(lambda self: self.sigmas[-1])
    def timestep(self, sigma): return torch.searchsorted(self.sigmas, torch.as_tensor(sigma, dtype=torch.float32)).float()
    def sigma(self, t): return self.sigmas[torch.as_tensor(t).round().long().clamp(0, len(self.sigmas) - 1)]


@pytest.mark.parametrize("name", ["exponential", "polyexponential", "kl_optimal", "laplace", "karras"])
def test_log_spaced_schedules_need_a_normal_sigma_min(name):
    "sigma_min just at float32's smallest normal number works; half of it (a subnormal), or 0, is refused."
    inside, outside, zero = (_Table([lo, 1e-3, 0.5, 1.0]) for lo in (F32.tiny, F32.tiny / 2, 0.0))
    options = {"rho": karras_rho_range(F32.tiny, 1.0)[0] * 1.01} if name == "karras" else {}
    _valid(calculate_sigmas(inside, name, 12, **options))
    for ms in (outside, zero):
        with pytest.raises(ValueError, match=rf"{name} spaces its steps .*model_sampling.sigma_min.*normal float32"):
            calculate_sigmas(ms, name, 12, **options)


def test_a_sigma_min_of_zero_breaks_the_reference():
    "The reason: the reference's exponential takes log(sigma_min), and a table that underflows to 0 has no logarithm."
    ms = _Table([0.0, 1e-3, 0.5, 1.0])
    with pytest.raises(ValueError, match="math domain error"):
        reference_rules.exponential(ms, 10)
    with pytest.raises(ValueError, match=r"sigma_min=0.0"):
        calculate_sigmas(ms, "exponential", 10)


# --- kl_optimal: float32 where it holds, float64 above ----------------------------------------------------------------------

@pytest.mark.parametrize("sigma_max", [_KL_FLOAT32_UP_TO * (1 - 1e-6), _KL_FLOAT32_UP_TO * (1 + 1e-6), 1e8, 3e17])
def test_kl_optimal_stays_on_sigma_max(sigma_max):
    ms = model_sampling("continuous_edm", sigma_min=0.002, sigma_max=sigma_max)
    s = _valid(calculate_sigmas(ms, "kl_optimal", 20))
    top = float(ms.sigma_max)
    assert s[0].item() == pytest.approx(top, rel=1e-3)
    # the exact schedule (float64 arithmetic on the float32 ends): even in atan(sigma)
    lo, hi = float(ms.sigma_min), top
    a = np.arange(20) / 19
    want = np.tan(a * np.arctan(lo) + (1 - a) * np.arctan(hi)) if hi < 1e15 else None
    if want is not None: np.testing.assert_allclose(s[1:-1].numpy(), want[1:].astype(np.float32), rtol=1e-3)
    if sigma_max <= _KL_FLOAT32_UP_TO:   # below the switch: the reference's float32 numbers, bit for bit
        assert torch.equal(s, reference_rules.kl_optimal(ms, 20))


def test_kl_optimal_in_float32_above_the_switch_is_wrong():
    "The reason: the reference's float32 atan(1e8) rounds to pi/2 or past it, and its top step lands far from sigma_max."
    ms = model_sampling("continuous_edm", sigma_min=0.002, sigma_max=1e8)
    ref = reference_rules.kl_optimal(ms, 20)
    assert not ref[0].item() == pytest.approx(1e8, rel=0.5)


# --- steps ----------------------------------------------------------------------------------------------------------------

def test_steps_edge():
    ms = model_sampling("discrete")
    assert len(_valid(calculate_sigmas(ms, "karras", MAX_STEPS))) == MAX_STEPS + 1
    assert len(align_your_steps("SD1", MAX_STEPS)) == MAX_STEPS + 1
    assert len(I.diffusers_sigmas({}, MAX_STEPS)) == MAX_STEPS + 1
    for call in (lambda: calculate_sigmas(ms, "karras", MAX_STEPS + 1), lambda: align_your_steps("SD1", MAX_STEPS + 1),
                 lambda: gits_sigmas(1.2, MAX_STEPS + 1), lambda: calculate_sigmas(ms, "karras", 2 ** 63)):
        with pytest.raises(ValueError, match=r"steps must be an integer in \[\d, 10000\]"):
            call()
    with pytest.raises(ValueError, match=r"num_inference_steps must be an integer in \[1, 10000\], got 10001"):
        I.diffusers_sigmas({}, MAX_STEPS + 1)


# --- schedules end at exactly 0 -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["normal", "ddim_uniform"])
def test_a_table_that_ends_near_zero_gives_a_final_zero(name):
    "Flux at shift -20 has sigma_min 2e-13: the reference ends its schedule there; here that step is exactly 0, the rest equal."
    ms = model_sampling("flux", shift=-20.0)
    got, ref = calculate_sigmas(ms, name, 12), reference_rules.RULES[name](ms, 12)
    assert 0 < ref[-1].item() < 1e-5 and got[-1].item() == 0.0
    assert torch.equal(got[:-1], ref[:-1])


class _Overflowing(_Table):
    "A table whose sigma(timestep(sigma_max)) leaves float32, as a continuous V range up to 3e38 did in float32 time."
    def sigma(self, t): return torch.where(torch.as_tensor(t) >= len(self.sigmas) - 1, math.inf, super().sigma(t))


def test_results_that_are_not_schedules_are_refused_by_name():
    with pytest.raises(ValueError, match=r"calculate_sigmas\(model_sampling, name='normal', steps=5\) gives sigmas\[0\] = inf.*sigma_max=1.0"):
        calculate_sigmas(_Overflowing([0.01, 0.1, 0.5, 1.0]), "normal", 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dropping = model_sampling("discrete", beta_schedule="sqrt", zsnr=True)
    with pytest.raises(ValueError, match="drops at its end"):
        calculate_sigmas(dropping, "simple", 41)


def test_a_denoise_below_one_step_runs_nothing():
    assert align_your_steps("SD1", 10, denoise=0.0).shape == (0,)    # denoise 0: nothing to run
    assert align_your_steps("SD1", 10, denoise=0.05).shape == (0,)   # round(0.5) = 0 steps (to even): nothing either, not [0]
    assert align_your_steps("SD1", 10, denoise=0.06).shape == (2,)   # round(0.6) = 1 step


# --- every setting a scheduler's signature allows: a schedule or a refusal by name -------------------------------------------

OPTIONS = {"karras": {"rho": st.floats(1e-3, 1e4)}, "polyexponential": {"rho": st.floats(1e-3, 1e4)},
           "beta": {"alpha": st.sampled_from([0.01, 0.6, 5.0, 100.0]), "beta": st.sampled_from([0.01, 0.6, 5.0])},
           "linear_quadratic": {"threshold_noise": st.floats(0, 1), "linear_steps": st.integers(1, 50)},
           "laplace": {"mu": st.floats(-1e3, 1e3), "beta": st.floats(1e-6, 1e6)},
           "vp": {"beta_d": st.floats(1e-9, 1e3), "beta_min": st.floats(0, 1e3), "eps_s": st.floats(1e-30, 1.0)},
           "sd_turbo": {"denoise": st.floats(0, 1)}}
FAMILIES = [("discrete", {}), ("discrete", {"zsnr": True}), ("discrete", {"beta_schedule": "sqrt"}), ("discrete_distilled", {}),
            ("continuous_edm", {"sigma_min": 1e-30, "sigma_max": 1e30}), ("continuous_v", {}), ("cosmos_rflow", {}),
            ("stable_cascade", {"shift": 1e-6}), ("discrete_flow", {"shift": 1e4}), ("flux", {"shift": -70.0}), ("flux", {"shift": 50.0})]
_MODELS = {}


def _model(i):
    if i not in _MODELS: _MODELS[i] = model_sampling(FAMILIES[i][0], **FAMILIES[i][1])
    return _MODELS[i]


@st.composite
def _settings(draw):
    name = draw(st.sampled_from(SCHEDULER_NAMES))
    options = {k: draw(v) for k, v in OPTIONS.get(name, {}).items() if draw(st.booleans())}
    return draw(st.integers(0, len(FAMILIES) - 1)), name, draw(st.integers(1, 300)), options


@settings(max_examples=120, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(_settings())
def test_every_setting_gives_a_schedule_or_a_refusal_by_name(case):
    i, name, steps, options = case
    try: s = calculate_sigmas(_model(i), name, steps, **options)
    except ValueError as e:
        assert any(w in str(e) for w in ("model_sampling", "steps", *options)), str(e)
        return
    assert schedule_problem(s) is None, (FAMILIES[i], name, steps, options, schedule_problem(s))


# --- the diffusers interop ---------------------------------------------------------------------------------------------------

diffusers = pytest.importorskip("diffusers")


def _diffusers_sigmas(cls, n, mu=None, **config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = getattr(diffusers, cls)(**config)
        s.set_timesteps(n, **({"mu": mu} if mu is not None else {}))
    return s


def test_flow_shift_edges():
    low, high = I.FLOW_SHIFT_RANGE
    for shift in (low, high, 3.0):
        cfg = {"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": shift}
        got, want = I.diffusers_sigmas(cfg, 10), _diffusers_sigmas(cfg["_class_name"], 10, shift=shift).sigmas
        assert torch.isfinite(got).all() and got[0].item() == 1.0
        torch.testing.assert_close(got, want.float(), rtol=1e-6, atol=0)
    assert _diffusers_sigmas("FlowMatchEulerDiscreteScheduler", 10, shift=low * 0.99).sigmas[0].item() < 1e-4   # the top step lost
    assert _diffusers_sigmas("FlowMatchEulerDiscreteScheduler", 10, shift=3.5e38).sigmas.isnan().any()
    for shift in (low * 0.99, 3.5e38):
        with pytest.raises(ValueError, match=r"shift must be in \[1.1920928955078125e-07, 3.4028234663852886e\+38\]"):
            I.diffusers_sigmas({"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": shift}, 10)


def test_mu_edges():
    flux = {"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": True}
    for mu in (-80.0, 0.8, 709.0):
        got = I.diffusers_sigmas(flux, 10, mu=mu)
        torch.testing.assert_close(got, _diffusers_sigmas(flux["_class_name"], 10, mu=mu, use_dynamic_shifting=True).sigmas.float(),
                                   rtol=1e-6, atol=0)
    assert _diffusers_sigmas(flux["_class_name"], 10, mu=-81.0, use_dynamic_shifting=True).sigmas[-2].item() < F32.tiny
    with pytest.raises(ValueError, match="mu=-81.0 shifts its last sigma to .* below float32's smallest normal number"):
        I.diffusers_sigmas(flux, 10, mu=-81.0)
    with pytest.raises(OverflowError):
        _diffusers_sigmas(flux["_class_name"], 10, mu=710.0, use_dynamic_shifting=True)
    with pytest.raises(ValueError, match=r"mu must be in \[.*709.78.*\].*got 710.0"):
        I.diffusers_sigmas(flux, 10, mu=710.0)


def test_edm_rho_edges():
    for cls, dtype in (("EDMDPMSolverMultistepScheduler", torch.float32), ("EDMEulerScheduler", torch.float64)):
        lowest = karras_rho_range(0.002, 80.0, dtype)[0]
        inside = I.diffusers_sigmas({"_class_name": cls, "rho": lowest * 1.001}, 10)
        assert torch.isfinite(inside).all() and (inside[:-1] > 0).all()
        with pytest.raises(ValueError, match=rf"rho must be in \[{re_float(lowest)}, 1000.0\] for {cls}"):
            I.diffusers_sigmas({"_class_name": cls, "rho": lowest * 0.999}, 10)
    assert (_diffusers_sigmas("EDMDPMSolverMultistepScheduler", 10, rho=0.5).sigmas[:-1] == 0).any()   # the reason, in diffusers


def test_training_steps_and_offsets():
    with pytest.raises(ValueError, match=r"num_train_timesteps must be an integer in \[2, 1000000\], got 1000001"):
        I.diffusers_config({"num_train_timesteps": 1_000_001})
    leading = {**SD, "timestep_spacing": "leading"}
    assert I.diffusers_timesteps({**leading, "steps_offset": 99}, 10).max().item() == 999
    assert _diffusers_sigmas("EulerDiscreteScheduler", 10, steps_offset=100, timestep_spacing="leading", **SD).timesteps.max() == 1000
    with pytest.raises(ValueError, match=r"steps_offset must be <= 99 for 10 steps with timestep_spacing='leading'.*got 100"):
        I.diffusers_sigmas({**leading, "steps_offset": 100}, 10)
    with pytest.raises(ValueError, match=r"steps_offset must be in \[0, num_train_timesteps - 1 = 999\], got 1000"):
        I.diffusers_config({"steps_offset": 1000})


def test_spacings_that_would_repeat_timesteps():
    t = _diffusers_sigmas("DPMSolverMultistepScheduler", 1000, **SD).timesteps
    assert len(set(t.tolist())) < len(t)                                  # diffusers repeats a timestep
    assert len(set(I.diffusers_timesteps({"_class_name": "DPMSolverMultistepScheduler", **SD}, 999).tolist())) == 999
    with pytest.raises(ValueError, match=r"num_inference_steps must be <= 999 for timestep_spacing='linspace'"):
        I.diffusers_timesteps({"_class_name": "DPMSolverMultistepScheduler", **SD}, 1000)
    for spacing in ("leading", "trailing"):
        with pytest.raises(ValueError, match=rf"num_inference_steps must be <= 1000 for timestep_spacing='{spacing}'"):
            I.diffusers_sigmas({**SD, "timestep_spacing": spacing}, 1001)


def test_betas_whose_sigmas_leave_float32():
    assert not torch.isfinite(_diffusers_sigmas("EulerDiscreteScheduler", 10, trained_betas=[0.999] * 1000).sigmas).all()
    for cls in ("EulerDiscreteScheduler", "DDIMScheduler"):
        with pytest.raises(ValueError, match="trained_betas over num_train_timesteps=1000 gives training sigmas beyond float32"):
            I.from_diffusers({"_class_name": cls, "trained_betas": [0.999] * 1000})
    with pytest.raises(ValueError, match=r"beta_schedule='linear' with beta_start=0.5, beta_end=0.9 over num_train_timesteps=1000"):
        I.diffusers_sigmas({"beta_start": 0.5, "beta_end": 0.9}, 10)
    with pytest.raises(ValueError, match=r"trained_betas must hold num_train_timesteps \(1000\) betas, got 3"):
        I.diffusers_sigmas({"trained_betas": [0.1, 0.2, 0.3]}, 10)


def test_a_final_sigma_min_above_the_schedule_is_refused():
    config = {"use_karras_sigmas": True, "sigma_min": 0.001, "final_sigmas_type": "sigma_min"}
    s = _diffusers_sigmas("EulerDiscreteScheduler", 10, **config).sigmas
    assert s[-1] > s[-2]                                                  # diffusers' schedule rises at its end
    with pytest.raises(ValueError, match="final_sigmas_type='sigma_min' ends on the training sigma_min"):
        I.diffusers_sigmas(config, 10)
    last = I.diffusers_sigmas({"_class_name": "EDMDPMSolverMultistepScheduler", "final_sigmas_type": "sigma_min"}, 2)
    assert last[-1].item() == pytest.approx(last[-2].item(), rel=1e-5)    # one float32 rounding above: diffusers' own, kept


def test_config_values_of_every_kind():
    base = I.diffusers_sigmas(SD, 10)
    for start in (np.float64(0.00085), torch.tensor(0.00085, dtype=torch.float64)):
        assert torch.equal(I.diffusers_sigmas({**SD, "beta_start": start}, 10), base)
    assert torch.equal(I.diffusers_sigmas({**SD, "num_train_timesteps": np.int64(1000), "steps_offset": 0.0}, 10), base)
    assert torch.equal(I.diffusers_sigmas({**SD, "use_karras_sigmas": np.bool_(False)}, 10), base)
    for key, value, exc, words in [("beta_start", "0.00085", TypeError, "beta_start must be a real number"),
                                   ("beta_end", [0.012], TypeError, "beta_end must be a real number"),
                                   ("num_train_timesteps", 1000.5, TypeError, "num_train_timesteps must be an integer"),
                                   ("timestep_spacing", 3, TypeError, "timestep_spacing must be a string"),
                                   ("use_karras_sigmas", torch.tensor(True), TypeError, "use_karras_sigmas must be True or False"),
                                   ("beta_end", math.nan, ValueError, "beta_end must be a finite number"),
                                   ("beta_end", math.inf, ValueError, "beta_end must be a finite number"),
                                   ("trained_betas", [0.1] * 999 + [-0.1], ValueError, "trained_betas[999] = -0.1"),
                                   ("num_train_timesteps", -1000, ValueError, "num_train_timesteps must be an integer >= 2"),
                                   ("beta_start", -1e-4, ValueError, "beta_start must be a beta in (0, 1)"),
                                   ("sigma_max", 1e39, ValueError, "sigma_max must be a normal float32 number"),
                                   ("_class_name", ["EulerDiscreteScheduler"], ValueError, "_class_name ['EulerDiscreteScheduler'] is not a scheduler")]:
        with pytest.raises(exc, match=re_escape(words)):
            I.diffusers_sigmas({**SD, key: value}, 10)
    with pytest.raises(ValueError, match=r"num_inference_steps must be an integer >= 1, got -3"):
        I.diffusers_sigmas(SD, -3)
    with pytest.raises(ValueError, match="sigma_min must be < sigma_max, got sigma_min=10.0 and sigma_max=1.0"):
        I.diffusers_sigmas({"sigma_min": 10.0, "sigma_max": 1.0, "use_karras_sigmas": True}, 10)


@pytest.mark.parametrize("config,exc,words", [([("beta_start", 0.1)], TypeError, "config must be a diffusers scheduler config"),
                                               ("scaled_linear", TypeError, "config must be a diffusers scheduler config"),
                                               (None, TypeError, "got NoneType"),
                                               ({"in_channels": 4, "sample_size": 64}, ValueError, "is it the model's config")])
def test_configs_of_the_wrong_type(config, exc, words):
    for fn in (I.from_diffusers, I.diffusers_config, lambda c: I.diffusers_sigmas(c, 10), lambda c: I.diffusers_timesteps(c, 10)):
        with pytest.raises(exc, match=re_escape(words)):
            fn(config)


@pytest.mark.parametrize("schedule", ["stable_cascade", "continuous_v"])
def test_to_diffusers_of_a_family_without_a_scheduler(schedule):
    ms = model_sampling(schedule)
    with pytest.raises(TypeError, match=rf"diffusers has no scheduler for {type(ms).__name__} \(ms\)") as info:
        I.to_diffusers(ms)
    assert isinstance(info.value, ValueError)   # still the ValueError it was
    with pytest.raises(TypeError, match="ms must be a sched_nb model sampling"):
        I.to_diffusers(SD)
    with pytest.raises(ValueError, match="diffusers' schedulers need num_train_timesteps >= 2"):
        I.to_diffusers(model_sampling("discrete", timesteps=1))


# --- the presets' shift helpers -----------------------------------------------------------------------------------------------

def test_shift_helpers_refuse_what_overflows():
    assert P.flux_shift(16, 16) == pytest.approx(P.mu_from_seq_len(1.0))
    for call, words in [(lambda: P.flux_shift(1e-200, 1e-200), "width x height / 256 patches must be a positive finite number"),
                        (lambda: P.flux_shift(1e200, 1e200), "width x height / 256 patches must be a positive finite number"),
                        (lambda: P.mu_from_seq_len(100, base_seq_len=4096, max_seq_len=4096), "base_seq_len must be < max_seq_len"),
                        (lambda: P.mu_from_seq_len(1e308, max_shift=1e10), "seq_len: mu = base_shift"),
                        (lambda: P.sd3_resolution_shift(1e-300, 1e-300), "give a shift of 0.0"),
                        (lambda: P.flux_shift(512, 512, max_shift="1.15"), "max_shift must be a real number"),
                        (lambda: P.preset("sd3", sigma_max=80.0), "does not take the setting 'sigma_max'")]:
        with pytest.raises(ValueError if "real number" not in words else TypeError, match=re_escape(words)):
            call()
