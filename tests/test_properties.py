"""Properties that hold for every valid setting of every family, checked with hypothesis.

Deterministic (derandomize=True) and small enough to run in seconds; run with
`python -m pytest tests/test_properties.py --hypothesis-show-statistics` to see how many examples each
property ran. "Valid settings" are drawn from wide but sane ranges; settings outside them that the
library refuses (a beta schedule whose sigmas overflow float32) are skipped only when refused with the
documented message. Zero terminal SNR of a schedule already noisier than its terminal sigma is accepted, as the
reference accepts it, with a UserWarning and a table that is not monotone at its end; it is left out here,
where monotone tables are the premise (tests/test_dropin.py covers it).
"""
import math
import warnings

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sched_nb.compose import model_sampling
from sched_nb.flow import flux_time_shift, time_snr_shift
from sched_nb.parameterizations import CONST, EDM, EPS, IMG_TO_IMG, V_PREDICTION, X0

FAST = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
QUICK = settings(FAST, max_examples=80)


def log_uniform(lo, hi):
    return st.floats(math.log(lo), math.log(hi)).map(math.exp)


# --- settings of each family ------------------------------------------------------------------

@st.composite
def discrete_settings(draw):
    schedule = draw(st.sampled_from(["linear", "cosine", "squaredcos_cap_v2", "sqrt_linear", "sqrt"]))
    s = {"beta_schedule": schedule, "timesteps": draw(st.integers(2, 2000)),
         "linear_start": draw(log_uniform(1e-5, 2e-2)), "linear_end": draw(log_uniform(1e-4, 5e-2))}
    if schedule == "sqrt":   # its noise explodes, past 1e9 and 1.8e19 (the reference's own reaches 5.6e21); float32's end is refused
        s["timesteps"] = draw(st.integers(2, 1000))
        s["linear_end"] = draw(log_uniform(1e-4, 3e-2))
    s["zsnr"] = draw(st.booleans())
    return s


def build(schedule, settings_):
    "The model sampling, or a skip when the library refuses the settings with one of its documented messages."
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            ms = model_sampling(schedule, **settings_)
    except ValueError as e:
        documented = ("beyond float32", "rounds to 1")   # the v time: float32 cannot tell sigma_max past 1.07e7 from infinity
        assert any(d in str(e) for d in documented), f"undocumented refusal of {settings_}: {e}"
        assume(False)
    dropping = [w for w in caught if "not monotone at its end" in str(w.message)]
    if schedule != "discrete_distilled":   # (a distilled table may leave the teacher's last entry out)
        assert bool(dropping) == bool(len(ms.sigmas) > 1 and ms.sigmas[-1] < ms.sigmas[-2]), "a warning if and only if the table drops"
    assume(not dropping)
    return ms


continuous_settings = st.builds(lambda lo, ratio, sd: {"sigma_min": lo, "sigma_max": lo * ratio, "sigma_data": sd},
                                log_uniform(1e-4, 1.0), st.one_of(log_uniform(1.01, 1e5), log_uniform(1e8, 1e30)), log_uniform(0.1, 2.0))
cascade_settings = st.builds(lambda shift: {"shift": shift}, log_uniform(0.05, 20.0))
flow_settings = st.builds(lambda shift, m: {"shift": shift, "multiplier": m}, log_uniform(0.05, 20.0), log_uniform(1.0, 1e4))
flux_settings = st.builds(lambda mu: {"shift": mu}, st.floats(-6.0, 6.0))

SETTINGS = {"discrete": discrete_settings(), "discrete_distilled": discrete_settings(), "discrete_edm": discrete_settings(),
            "continuous_edm": continuous_settings, "continuous_v": continuous_settings, "stable_cascade": cascade_settings,
            "discrete_flow": flow_settings, "flux": flux_settings, "cosmos_rflow": continuous_settings}
FAMILIES = list(SETTINGS)


def build_family(family, s, data=None):
    if family == "discrete_distilled" and data is not None:
        s = {**s, "original_timesteps": data.draw(st.integers(1, s["timesteps"]), label="original_timesteps")}
    return build(family, s)


# --- the table ----------------------------------------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
@FAST
@given(data=st.data())
def test_sigmas_positive_and_increasing(family, data):
    s = data.draw(SETTINGS[family], label="settings")
    ms = build_family(family, s, data)
    sig = ms.sigmas
    assert torch.isfinite(sig).all() and torch.isfinite(ms.log_sigmas).all()
    assert (sig > 0).all(), f"{family} {s}: sigma_min = {sig[0].item()}"
    d = sig[1:] - sig[:-1]
    if family == "stable_cascade":
        assert (d >= 0).all()        # clamped at both ends: repeats are right there
    else:
        assert (d > 0).all(), f"{family} {s}: not strictly increasing at {int((d <= 0).nonzero()[0])}"
    if hasattr(ms, "alphas_cumprod"):
        assert torch.isfinite(ms.alphas_cumprod).all() and (ms.alphas_cumprod > 0).all()


@pytest.mark.parametrize("family", FAMILIES)
@FAST
@given(data=st.data())
def test_no_nan_or_inf_for_any_valid_setting(family, data):
    s = data.draw(SETTINGS[family], label="settings")
    ms = build_family(family, s, data)
    table = ms.sigmas
    t = ms.timestep(table)
    assert not t.isnan().any() and (not t.is_floating_point() or torch.isfinite(t).all())
    back = ms.sigma(t.double() if t.is_floating_point() else t)
    assert torch.isfinite(back).all()
    for p in (0.0, 1e-6, 0.25, 0.5, 0.999, 1.0):
        assert math.isfinite(ms.percent_to_sigma(p))
    x = torch.randn(len(table), 2, dtype=torch.float64)
    for out in (ms.calculate_input(table, x), ms.calculate_denoised(table, x, x), ms.noise_scaling(table, x, x)):
        assert torch.isfinite(out).all()


@settings(FAST, max_examples=100)
@given(st.floats(-1000.0, 1000.0), st.floats(0.0, 1.0))
def test_flux_never_nan_or_inf(mu, t):
    "Flux accepts every finite shift; far out the table saturates at 0 or 1 but nothing is NaN or infinite."
    value = flux_time_shift(mu, 1.0, t)
    assert 0.0 <= value <= 1.0
    assert 0.0 <= flux_time_shift(mu, 1.0, torch.tensor([t], dtype=torch.float64)).item() <= 1.0


@settings(FAST, max_examples=10)
@given(st.floats(-70.0, 70.0))
def test_flux_table_never_nan_or_inf(mu):
    ms = model_sampling("flux", shift=mu)
    assert torch.isfinite(ms.sigmas).all() and torch.isfinite(ms.log_sigmas).all()
    assert (ms.sigmas[1:] >= ms.sigmas[:-1]).all()


@QUICK
@given(log_uniform(1e-300, 1e300), st.floats(0.0, 1.0))
def test_sd3_shift_never_nan_or_inf(alpha, t):
    assert 0.0 <= time_snr_shift(alpha, t) <= 1.0


# --- conversions ------------------------------------------------------------------------------

def sigmas_in_range(ms, data, n=8):
    lo, hi = ms.sigmas[0].item(), ms.sigmas[-1].item()
    u = data.draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=n), label="positions")
    return torch.tensor([math.exp(math.log(lo) + v * (math.log(hi) - math.log(lo))) for v in u], dtype=torch.float64)


@FAST
@given(st.sampled_from(["discrete", "discrete_distilled"]), discrete_settings(), st.data())
def test_discrete_round_trip_within_one_grid_step(family, s, data):
    "sigma(timestep(s)) is a table entry next to s: within one step of the grid, in log space."
    ms = build_family(family, s, data)
    sig = sigmas_in_range(ms, data)
    back = ms.sigma(ms.timestep(sig).double())
    log_table = ms.sigmas.double().log()
    step = (log_table[1:] - log_table[:-1]).max().item() if len(log_table) > 1 else 0.0
    assert ((back.log() - sig.log()).abs() <= step * 1.0001 + 1e-6).all()
    # and it is the nearest entry in log space
    nearest = (sig.log()[:, None] - log_table[None]).abs().min(1).values
    assert ((back.log() - sig.log()).abs() <= nearest + 1e-6).all()


@FAST
@given(st.integers(2, 2000), st.data())
def test_distilled_table_is_the_teachers_at_the_timesteps_it_reports(timesteps, data):
    original = data.draw(st.integers(1, timesteps), label="original_timesteps")
    teacher = model_sampling("discrete", timesteps=timesteps)
    ms = model_sampling("discrete_distilled", timesteps=timesteps, original_timesteps=original)
    t = ms.timestep(ms.sigmas)
    assert t.tolist() == [ms.skip_steps * i + ms.skip_steps - 1 for i in range(original)]
    assert torch.equal(ms.sigmas, teacher.sigmas[t])


@FAST
@given(st.one_of(st.tuples(st.sampled_from(["continuous_edm", "continuous_v"]), continuous_settings),
                 st.tuples(st.just("discrete_edm"), discrete_settings())), st.data())
def test_continuous_round_trip_exact(family_settings, data):
    family, s = family_settings
    ms = build(family, s)
    sig = sigmas_in_range(ms, data)
    # float64 in, float64 arithmetic; the v time's tan near its pole amplifies rounding by about sigma
    rtol = max(1e-9, 4e-16 * ms.sigmas.max().item()) if family == "continuous_v" else 1e-9
    torch.testing.assert_close(ms.sigma(ms.timestep(sig)), sig, rtol=rtol, atol=0)
    # in float32 the v time's resolution near 1 (an ulp of 6e-8) moves sigma by about (pi/2) sigma^2 6e-8
    rtol32 = max(1e-4, 2e-7 * ms.sigmas.max().item()) if family == "continuous_v" else 1e-4
    torch.testing.assert_close(ms.sigma(ms.timestep(sig.float())), sig.float(), rtol=rtol32, atol=0)


@FAST
@given(cascade_settings, st.data())
def test_cascade_round_trip_on_the_unshifted_schedule(s, data):
    "The network is told where a noise level sits on the unshifted schedule: sigma_unshifted(timestep(s)) = s."
    ms = build("stable_cascade", s)
    unshifted = model_sampling("stable_cascade")
    lo, hi = 0.0101, 99.99   # inside the clamps of the unshifted schedule
    u = data.draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), label="positions")
    sig = torch.tensor([math.exp(math.log(lo) + v * (math.log(hi) - math.log(lo))) for v in u], dtype=torch.float64)
    torch.testing.assert_close(unshifted.sigma(ms.timestep(sig)), sig, rtol=1e-7, atol=0)


@FAST
@given(st.one_of(st.tuples(st.just("discrete_flow"), flow_settings), st.tuples(st.just("flux"), flux_settings)), st.data())
def test_flow_round_trip_is_the_shift(family_settings, data):
    "sigma(timestep(s)) is s shifted (the reference's asymmetry), and s itself for no shift."
    family, s = family_settings
    ms = build(family, s)
    sig = torch.tensor(data.draw(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), label="sigmas"), dtype=torch.float64)
    back = ms.sigma(ms.timestep(sig))
    expected = time_snr_shift(s["shift"], sig) if family == "discrete_flow" else flux_time_shift(s["shift"], 1.0, sig)
    torch.testing.assert_close(back, expected, rtol=1e-9, atol=1e-12)
    none = build(family, {**s, "shift": 1.0 if family == "discrete_flow" else 0.0})
    torch.testing.assert_close(none.sigma(none.timestep(sig)), sig, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES)
@FAST
@given(data=st.data())
def test_percent_to_sigma_is_non_increasing(family, data):
    s = data.draw(SETTINGS[family], label="settings")
    ms = build_family(family, s, data)
    ps = sorted(data.draw(st.lists(st.floats(1e-9, 1.0), min_size=2, max_size=12), label="percents"))
    values = [ms.percent_to_sigma(p) for p in ps]
    assert all(a >= b for a, b in zip(values, values[1:])), list(zip(ps, values))
    assert values[-1] >= 0.0
    start = ms.percent_to_sigma(0.0)
    # the start lies above every sigma, also for tables beyond the reference's 999999999.9 (sqrt betas reach 5e21)
    assert start >= values[0] and start >= ms.sigmas.max().item()


# --- parameterizations: a perfect network recovers the clean latent -------------------------------

def perfect_output(param, x0, noise, sigma, sd):
    "What a perfect network of each parameterization outputs for x = x0 + sigma noise (flow: (1-sigma) x0 + sigma noise)."
    s = sigma[:, None]
    v = (sd * noise - (s / sd) * x0) / (s * s + sd * sd).sqrt()
    return {EPS: noise, V_PREDICTION: v, EDM: -v, X0: x0, IMG_TO_IMG: x0, CONST: noise - x0}[param]


@FAST
@given(st.sampled_from([EPS, V_PREDICTION, EDM, X0, IMG_TO_IMG]), st.sampled_from(["discrete", "discrete_edm", "continuous_edm", "continuous_v", "stable_cascade"]),
       log_uniform(0.1, 2.0), st.integers(0, 2 ** 31 - 1), st.data())
def test_perfect_network_recovers_the_clean_latent(param, family, sd, seed, data):
    ms = model_sampling(family, param, **({"sigma_data": sd} if family.startswith("continuous") else {}))
    ms.sigma_data = sd   # a discrete or cascade schedule's is 1.0, as the reference's; a model trained otherwise sets it
    g = torch.Generator().manual_seed(seed)
    sig = sigmas_in_range(ms, data)
    x0 = torch.randn(len(sig), 6, generator=g, dtype=torch.float64)
    noise = torch.randn(len(sig), 6, generator=g, dtype=torch.float64)
    x = ms.noise_scaling(sig, noise, x0)
    torch.testing.assert_close(x, x0 + sig[:, None] * noise)
    d = ms.calculate_denoised(sig, perfect_output(param, x0, noise, sig, sd), x)
    torch.testing.assert_close(d, x0, rtol=1e-9, atol=1e-9 * (1 + sig.max().item()))


@FAST
@given(st.sampled_from(["discrete_flow", "flux"]), st.floats(0.0, 0.999), st.integers(0, 2 ** 31 - 1), st.data())
def test_perfect_flow_network_recovers_the_clean_latent(family, _, seed, data):
    ms = model_sampling(family, "const")
    g = torch.Generator().manual_seed(seed)
    sig = torch.tensor(data.draw(st.lists(st.floats(0.0, 0.999), min_size=1, max_size=8), label="sigmas"), dtype=torch.float64)
    x0 = torch.randn(len(sig), 6, generator=g, dtype=torch.float64)
    noise = torch.randn(len(sig), 6, generator=g, dtype=torch.float64)
    x = ms.noise_scaling(sig, noise, x0)
    torch.testing.assert_close(ms.calculate_denoised(sig, perfect_output(CONST, x0, noise, sig, 1.0), x), x0, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ms.inverse_noise_scaling(sig, (1 - sig[:, None]) * x0), x0, rtol=1e-9, atol=1e-9)


@FAST
@given(st.integers(0, 2 ** 31 - 1), st.data())
def test_lcm_blends_the_perfect_estimate_by_its_boundary_weights(seed, data):
    "LCM with a perfect noise estimate: D = c_skip(t) x + c_out(t) x0, the consistency-model boundary condition."
    ms = model_sampling("discrete_distilled", "lcm")
    g = torch.Generator().manual_seed(seed)
    sig = sigmas_in_range(ms, data)
    x0 = torch.randn(len(sig), 6, generator=g, dtype=torch.float64)
    noise = torch.randn(len(sig), 6, generator=g, dtype=torch.float64)
    x = x0 + sig[:, None] * noise
    st_ = ms.timestep(sig).double()[:, None] * 10.0
    c_skip, c_out = 0.25 / (st_ ** 2 + 0.25), st_ / (st_ ** 2 + 0.25).sqrt()
    torch.testing.assert_close(ms.calculate_denoised(sig, noise, x), c_skip * x + c_out * x0, rtol=1e-9, atol=1e-9)


# --- dtype and device kept, every output finite, for every family ------------------------------------------------------

from sched_nb.core import default_device   # noqa: E402
from sched_nb.compose import DEFAULT_PARAMETERIZATION, PARAMETERIZATIONS   # noqa: E402

DEVICE = default_device()
INDEX_TIME = ("discrete", "discrete_distilled")
FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


@pytest.mark.parametrize("family", FAMILIES)
@settings(FAST, max_examples=30)
@given(data=st.data())
def test_conversions_keep_dtype_and_device(family, data):
    "timestep and sigma answer on the input's device, in its floating dtype (an index for the discrete tables); finite inside the table."
    ms = build_family(family, data.draw(SETTINGS[family], label="settings"), data).to(DEVICE)
    dtype = data.draw(st.sampled_from(FLOATS), label="dtype")
    top = ms.sigmas.max().item()
    assume(dtype in (torch.float32, torch.float64) or top < 6e4)   # a half-precision sigma cannot hold the table's top
    sig = sigmas_in_range(ms, data).to(device=DEVICE, dtype=dtype)
    assume(bool((sig > 0).all()) or dtype in (torch.float32, torch.float64))
    t = ms.timestep(sig)
    assert t.device == sig.device and t.shape == sig.shape
    assert t.dtype == (torch.int64 if family in INDEX_TIME else dtype)
    if t.is_floating_point(): assert torch.isfinite(t).all(), (sig, t)
    back = ms.sigma(t)
    assert back.device == sig.device and back.shape == sig.shape
    assert back.dtype == (torch.float32 if family in INDEX_TIME else dtype)
    assert (back >= 0).all() and not back.isnan().any()


PAIRS = [(f, p) for f in FAMILIES for p in PARAMETERIZATIONS if not (p == "lcm" and f in ("discrete_edm", "continuous_edm"))]


@settings(FAST, max_examples=150)
@given(st.sampled_from(PAIRS), st.sampled_from([torch.float32, torch.float64]), st.integers(1, 4), st.data())
def test_parameterizations_answer_finite_in_shape_for_every_schedule(pair, dtype, batch, data):
    "Every schedule with every parameterization: finite outputs of the latent's shape for every noise level of the table."
    family, param = pair
    s = data.draw(SETTINGS[family], label="settings")
    if family == "discrete_distilled": s = {**s, "original_timesteps": data.draw(st.integers(1, s["timesteps"]), label="original_timesteps")}
    ms = build(family, s) if param == DEFAULT_PARAMETERIZATION[family] else build_pair(family, param, s)
    u = data.draw(st.lists(st.floats(0.0, 1.0), min_size=batch, max_size=batch), label="positions")
    lo, hi = ms.sigmas[0].double().log(), ms.sigmas.max().double().log()
    sig = torch.tensor(u, dtype=torch.float64).mul(hi - lo).add(lo).exp().float()
    if data.draw(st.booleans(), label="with sigma 0"): sig[0] = 0.0
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2 ** 31 - 1), label="seed"))
    x, out = (torch.randn(batch, 2, 3, generator=g, dtype=dtype) for _ in range(2))
    want = torch.promote_types(torch.float32, dtype)
    for name, y in (("calculate_input", ms.calculate_input(sig, x)), ("calculate_denoised", ms.calculate_denoised(sig, out, x)),
                    ("noise_scaling", ms.noise_scaling(sig, out, x)), ("inverse_noise_scaling", ms.inverse_noise_scaling(sig, x))):
        assert y.shape == x.shape and y.dtype == want and y.device == x.device, name
        assert torch.isfinite(y).all(), (family, param, s, sig, name)


def build_pair(family, param, settings_):
    "`build` for a chosen parameterization."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ms = model_sampling(family, param, **settings_)
    except ValueError as e:
        assert "beyond float32" in str(e) or "rounds to 1" in str(e), f"undocumented refusal of {settings_}: {e}"
        assume(False)
    return ms


# --- arbitrary Python objects at every public call ---------------------------------------------------------------------------

import adversarial_models as adv   # noqa: E402

ACCEPTED = ("ok", "refused", "documented_edge")


@settings(FAST, max_examples=500)
@given(st.sampled_from(adv.CALLS), adv.values())
def test_arbitrary_objects_are_refused_by_name_or_answered_sensibly(call, value):
    """Every public function and method of the model samplings, given anything in any slot: either a sensible answer
    (finite for modest finite input, the input's shape, no complex input made real, no junk accepted), or a
    TypeError/ValueError whose message names the parameter; and a refused call leaves its object as it was."""
    outcome, detail = adv.attempt(call, value)
    assert outcome in ACCEPTED, f"{call!r} <- {adv.describe(value)}: {outcome} {detail}"
