"""Where each model sampling's arithmetic ends, and what a refused call leaves behind.

- every working range is tested at its edge both ways: the last value inside is accepted and gives finite,
  right numbers (checked against float64 or a closed form), the first value outside is refused with the
  parameter, the value and the range;
- a refused `set_parameters`, `set_sigmas`, `_register_schedule` or `load_state_dict` changes nothing;
- `load_state_dict` refuses broken tables by the buffer's name and takes a float16 or bfloat16 round trip;
- combinations that cannot mean what they say are refused or defined, never NaN;
- `percent_to_sigma` never increases with the percent, also for tables above 999999999.9.
"""
import math
import warnings

import numpy as np
import pytest
import torch

from sched_nb import (CONST, EDM, EPS, LCM, V_PREDICTION, ModelSamplingContinuousEDM, ModelSamplingDiscrete, ModelSamplingDiscreteFlow,
                      ModelSamplingFlux, StableCascadeSampling, time_snr_shift)
from sched_nb.cascade import COSINE_S_MAX
from sched_nb.compose import SCHEDULES, combine, model_sampling
from sched_nb.core import MAX_TIMESTEPS, PERCENT_START, SIGMA_DATA_RANGE
from sched_nb.flow import FLOW_SETTING_RANGE, FLUX_SHIFT_MAX

F32 = torch.finfo(torch.float32)
FAMILIES = list(SCHEDULES)
LO_SD, HI_SD = SIGMA_DATA_RANGE


def quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*a, **k)


def state(ms):
    "Everything a refused call must leave as it was: every buffer (saved or not) and the plain attributes."
    bufs = {n: b.detach().clone() for n, b in ms.named_buffers()}
    attrs = {k: v for k, v in vars(ms).items() if isinstance(v, (int, float, str, bool, type(None)))}
    return bufs, attrs


def assert_same(a, b):
    (ba, aa), (bb, ab) = a, b
    assert aa == ab
    assert ba.keys() == bb.keys() and all(torch.equal(ba[k], bb[k]) for k in ba)


# --- sigma_data: a normal float32 number --------------------------------------------------------------------------

@pytest.mark.parametrize("sd", [LO_SD, 1e-19, 0.5, 1e19, HI_SD])
@pytest.mark.parametrize("param", [EPS, V_PREDICTION, EDM])
def test_sigma_data_inside_its_range_gives_finite_right_weights(param, sd):
    p = param(sigma_data=sd)
    s = torch.tensor([0.0, 1e-30, 1.0, 1e19, 1e25, 3e38])
    ws = [p.c_in(s)] + ([] if param is EPS else list(p.c_skip_out(s)))
    for w in ws: assert torch.isfinite(w).all(), (param.__name__, sd, w)
    if param is not EPS:   # against float64 (where float64 itself is finite and not 0/0)
        skip, out = p.c_skip_out(s)
        h = torch.hypot(s.double(), torch.tensor(sd, dtype=torch.float64))
        torch.testing.assert_close(out.double(), p.out_sign * s.double() * sd / h, rtol=2e-6, atol=1e-30)
        torch.testing.assert_close(skip.double(), (sd / h) ** 2, rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize("sd", [LO_SD / 2, 1e-300, 5e-324, HI_SD * 1.0001, 1e39, 1e300])
def test_sigma_data_outside_its_range_is_refused(sd):
    for make in (lambda: EPS(sigma_data=sd), lambda: ModelSamplingContinuousEDM({"sigma_data": sd}),
                 lambda: model_sampling("continuous_v", sigma_data=sd)):
        with pytest.raises(ValueError, match=r"sigma_data must lie in \[1\.17549.*e-38, 1\.84467.*e\+19\].*got " + re_num(sd)):
            make()


def re_num(v):
    return repr(float(v)).replace(".", r"\.").replace("+", r"\+")


# --- sigma_max and the tables whose squares overflow --------------------------------------------------------------

@pytest.mark.parametrize("sigma_max", [1.8e19, 1.9e19, 1e30, 3.4e38])
def test_sigma_max_whose_square_overflows_is_computed_right(sigma_max):
    ms = model_sampling("continuous_edm", "v_prediction", sigma_max=sigma_max)
    s = ms.sigmas[-3:]
    x = torch.randn(3, 2, dtype=torch.float32, generator=torch.Generator().manual_seed(0))
    d = ms.calculate_denoised(s, x, x)
    s64 = s.double()[:, None]
    want = x.double() / (s64 ** 2 + 1) - x.double() * s64 / (s64 ** 2 + 1).sqrt()   # float64 holds these squares
    torch.testing.assert_close(d.double(), want, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(ms.calculate_input(s, x)).all()
    assert torch.isfinite(ms.noise_scaling(s[:1], x[:1], x[:1], max_denoise=True)).all() or sigma_max > 1e38


def test_the_v_time_ends_where_float32_rounds_it_to_one():
    from sched_nb.continuous import ModelSamplingContinuousV
    limit = ModelSamplingContinuousV._sigma_max_limit[0]
    ms = ModelSamplingContinuousV({"sigma_max": limit})          # the edge is in: its top's time is below 1
    assert ms.timestep(ms.sigmas).max().item() < 1.0 and torch.isfinite(ms.sigma(ms.timestep(ms.sigmas))).all()
    with pytest.raises(ValueError, match=r"sigma_max must be <= 1068070\d\.\d+ \(beyond it the float32 time 2 atan\(sigma\) / pi rounds to 1"):
        ModelSamplingContinuousV({"sigma_max": limit * 1.0001})


def test_sigma_max_past_float32_is_refused():
    from sched_nb.continuous import SIGMA_MAX_LIMIT
    for bad in (math.nextafter(SIGMA_MAX_LIMIT, math.inf), F32.max, 3.41e38):
        with pytest.raises(ValueError, match=r"sigma_max must be <= 3\.40\d*e\+38 \(past it the float32 exp"):
            ModelSamplingContinuousEDM({"sigma_max": bad})
    top = ModelSamplingContinuousEDM({"sigma_max": SIGMA_MAX_LIMIT}).sigmas[-1].item()   # the edge is in
    assert math.isfinite(top) and top == pytest.approx(F32.max, rel=1e-5)


def _betas_reaching(sigma_top, n=100):
    "n equal betas whose alphas_cumprod ends where sigma = sigma_top."
    ac = 1.0 / (1.0 + sigma_top ** 2)
    return [1.0 - ac ** (1.0 / n)] * n


@pytest.mark.parametrize("top, ok", [(1.7e19, True), (1.9e19, True), (5.6e21, True), (3.3e38, True), (3.5e38, False), (1e39, False)])
def test_beta_schedule_sigmas_past_the_square_of_float32(top, ok):
    "A table whose sigmas pass 1.8e19 (sigma^2 overflows) is kept, as the reference keeps the sqrt schedule's, and computed right."
    if not ok:
        with pytest.raises(ValueError, match=r"given_betas gives sigmas from .* beyond float32.*\[1\.17549.*e-38, 3\.40282.*e\+38\]"):
            model_sampling("discrete", given_betas=_betas_reaching(top))
        return
    ms = model_sampling("discrete", "v_prediction", given_betas=_betas_reaching(top))
    assert ms.sigmas[-1].item() == pytest.approx(top, rel=1e-5)
    x = torch.ones(2, 3)
    out = ms.calculate_denoised(ms.sigmas[-2:], x, x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, -torch.ones(2, 3), rtol=0, atol=1e-6)   # sd^2/(s^2+sd^2) ~ 0 and c_out ~ -sd
    assert ms.percent_to_sigma(0.0) >= ms.percent_to_sigma(1e-9)


def test_the_references_sqrt_schedule_is_kept_and_its_weights_are_right():
    ms = model_sampling("discrete", "eps", beta_schedule="sqrt", linear_start=1e-4, linear_end=0.02)
    top = ms.sigmas[-1]
    assert top.item() == pytest.approx(5.5699e21, rel=1e-4)
    c_in = ms.c_in(top)
    assert c_in.item() == pytest.approx(1 / top.item(), rel=1e-6)   # the reference's form answers 0 here


# --- counts -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda n: ModelSamplingDiscrete({"timesteps": n, "linear_start": 1e-6, "linear_end": 2e-5}),
                                  lambda n: ModelSamplingDiscreteFlow().set_parameters(timesteps=n),
                                  lambda n: ModelSamplingFlux().set_parameters(timesteps=n)],
                         ids=["discrete", "discrete_flow", "flux"])
def test_timesteps_up_to_a_million(make):
    make(MAX_TIMESTEPS)   # the edge is in (a 4 MB table)
    for n in (MAX_TIMESTEPS + 1, 10 ** 12, 10 ** 400):
        with pytest.raises(ValueError, match=r"timesteps must be an integer <= 1000000"):
            make(n)


# --- the flow settings ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["shift", "multiplier"])
def test_sd3_settings_edges_both_ways(name):
    lo, hi = FLOW_SETTING_RANGE
    for v in (lo, hi):
        ms = ModelSamplingDiscreteFlow({name: v})
        assert torch.isfinite(ms.sigmas).all() and ms.sigmas[0] >= F32.tiny and ms.sigmas[-1] == 1.0
        t = ms.timestep(ms.sigmas)
        assert torch.isfinite(t).all() and torch.isfinite(ms.sigma(t)).all()
        assert 0.0 <= ms.percent_to_sigma(0.3) <= 1.0
    for v in (lo * 0.999, hi * 1.001, 1e-300, 1e39):
        with pytest.raises(ValueError, match=rf"{name} must lie in \[1e-30, 1e\+30\].*got"):
            ModelSamplingDiscreteFlow({name: v})


def test_sd3_smallest_table_at_a_million_entries_is_normal():
    ms = ModelSamplingDiscreteFlow()
    ms.set_parameters(shift=FLOW_SETTING_RANGE[0], timesteps=MAX_TIMESTEPS, multiplier=FLOW_SETTING_RANGE[0])
    assert ms.sigmas[0] >= F32.tiny and torch.isfinite(ms.sigmas).all()


def test_flux_shift_edges_both_ways():
    for mu in (-FLUX_SHIFT_MAX, FLUX_SHIFT_MAX):
        ms = ModelSamplingFlux({"shift": mu})
        assert ms.sigmas[0] >= F32.tiny and torch.isfinite(ms.log_sigmas).all()
    big = ModelSamplingFlux()
    big.set_parameters(shift=-FLUX_SHIFT_MAX, timesteps=MAX_TIMESTEPS)   # the smallest first sigma the range allows
    assert big.sigmas[0] >= F32.tiny
    for mu in (-FLUX_SHIFT_MAX - 0.01, FLUX_SHIFT_MAX + 0.01):
        with pytest.raises(ValueError, match=r"shift must lie in \[-70, 70\]"):
            ModelSamplingFlux({"shift": mu})


@pytest.mark.parametrize("alpha", [1e-300, 1e-45, 1e-30, 1e30, 1e39, 1e300])
def test_time_snr_shift_of_a_float32_time_with_an_extreme_shift(alpha):
    t = torch.tensor([0.0, 1e-3, 0.5, 1.0])
    got = time_snr_shift(alpha, t)
    assert got.dtype == torch.float32 and torch.isfinite(got).all()
    want = time_snr_shift(alpha, t.double())
    torch.testing.assert_close(got.double(), want, rtol=1e-6, atol=1e-38)
    assert got[0] == 0.0 and got[-1] == 1.0


def test_cascade_settings():
    assert torch.isfinite(StableCascadeSampling({"shift": 1e39}).sigmas).all()        # float64: finite
    assert torch.isfinite(StableCascadeSampling({"shift": 1e-300}).sigmas).all()
    sc = StableCascadeSampling()
    sc.set_parameters(cosine_s=COSINE_S_MAX)                                         # the edge is in
    assert torch.isfinite(sc.sigmas).all() and (sc.sigmas[1:] >= sc.sigmas[:-1]).all()
    with pytest.raises(ValueError, match=r"cosine_s must be <= 1\.0, got 1\.001"):
        sc.set_parameters(cosine_s=1.001)


# --- a refused call changes nothing -----------------------------------------------------------------------------------

OTHER = {"discrete": {"linear_end": 0.013}, "discrete_distilled": {"original_timesteps": 40}, "discrete_edm": {"linear_start": 0.0009},
         "continuous_edm": {"sigma_max": 80.0, "sigma_data": 0.5}, "continuous_v": {"sigma_data": 0.5},
         "cosmos_rflow": {"sigma_max": 80.0, "sigma_data": 0.5}, "stable_cascade": {"shift": 2.0},
         "discrete_flow": {"shift": 3.0, "multiplier": 500}, "flux": {"shift": 0.7}}
BAD_PARAMETERS = {
    "continuous_edm": [dict(sigma_min=0.01, sigma_max=90.0, sigma_data="x"), dict(sigma_min=0.01, sigma_max=90.0, sigma_data=1e-300),
                       dict(sigma_min=0.01, sigma_max=float("nan"), sigma_data=0.3)],
    "stable_cascade": [dict(shift=3.0, cosine_s=-1.0), dict(shift=3.0, cosine_s=2.0), dict(shift="3", cosine_s=0.01)],
    "discrete_flow": [dict(shift=2.0, multiplier="1000"), dict(shift=2.0, timesteps=0), dict(shift=2.0, multiplier=1e39),
                      dict(shift=2.0, timesteps=10 ** 7)],
    "flux": [dict(shift=0.5, timesteps=0), dict(shift=100.0), dict(shift=0.5, timesteps="many")],
}
BAD_PARAMETERS["continuous_v"] = BAD_PARAMETERS["cosmos_rflow"] = BAD_PARAMETERS["continuous_edm"]


@pytest.mark.parametrize("family, kwargs", [(f, k) for f, ks in BAD_PARAMETERS.items() for k in ks])
def test_refused_set_parameters_changes_nothing(family, kwargs):
    ms = model_sampling(family, **OTHER[family])
    before = state(ms)
    with pytest.raises((TypeError, ValueError)):
        ms.set_parameters(**kwargs)
    assert_same(before, state(ms))


BAD_TABLES = [torch.tensor([1.0, float("nan"), 3.0]), torch.tensor([3.0, 2.0, 1.0]), torch.tensor([1.0, 3.0, 2.0, 4.0]),
              torch.ones(2, 2), torch.tensor([]), "1, 2", torch.tensor([1j, 2j]), torch.tensor([-1.0, 1.0]),
              torch.tensor([1.0, float("inf")]), [True, False]]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("table", BAD_TABLES, ids=lambda t: repr(t)[:30])
def test_refused_set_sigmas_changes_nothing(family, table):
    ms = quiet(model_sampling, family, **OTHER[family])
    before = state(ms)
    with pytest.raises((TypeError, ValueError), match="sigmas"):
        ms.set_sigmas(table)
    assert_same(before, state(ms))


@pytest.mark.parametrize("kwargs", [dict(given_betas=[0.5, 1.0]), dict(beta_schedule="nope"), dict(timesteps=0), dict(zsnr="yes"),
                                    dict(beta_schedule="sqrt", linear_start=0.5, linear_end=0.9)])
def test_refused_register_schedule_changes_nothing(kwargs):
    ms = ModelSamplingDiscrete({"linear_end": 0.013})
    before = state(ms)
    with pytest.raises((TypeError, ValueError)):
        ms._register_schedule(**kwargs)
    assert_same(before, state(ms))


# --- load_state_dict ------------------------------------------------------------------------------------------------------

def _bad_state_dicts(ms):
    sd = ms.state_dict()
    s = sd["sigmas"]
    yield "nan", {**sd, "sigmas": torch.where(torch.arange(len(s)) == 3, float("nan"), s)}, r"sigmas\[3\] = nan"
    yield "reversed", {**sd, "sigmas": s.flip(0), **({"log_sigmas": sd["log_sigmas"].flip(0)} if "log_sigmas" in sd else {})}, r"decreasing step: sigmas\[\d+\]"
    middle = s.clone(); middle[len(s) // 2], middle[len(s) // 2 + 1] = s[len(s) // 2 + 1].item(), s[len(s) // 2].item()
    yield "unsorted", {**sd, "sigmas": middle}, r"decreasing step"
    yield "shorter", {k: v[:-1] for k, v in sd.items()}, r"its sigmas has shape \(%d,\), this model sampling's sigmas has shape \(%d,\)" % (len(s) - 1, len(s))
    yield "integer", {**sd, "sigmas": s.long()}, r"its sigmas must be a floating-point tensor"
    yield "not a tensor", {**sd, "sigmas": s.tolist()}, r"its sigmas must be a floating-point tensor, got \[.*\(list\)"
    yield "missing", {}, r"lacks the buffer\(s\) 'sigmas'"
    yield "unknown", {**sd, "betas": torch.ones(3)}, r"holds unknown entries 'betas'"
    if "log_sigmas" in sd:
        yield "nan log", {**sd, "log_sigmas": torch.full_like(sd["log_sigmas"], float("nan"))}, r"log_sigmas that are not the logarithms"


@pytest.mark.parametrize("family", FAMILIES)
def test_load_state_dict_refuses_broken_tables_and_changes_nothing(family):
    ms = quiet(model_sampling, family, **OTHER[family])
    before = state(ms)
    for what, sd, message in _bad_state_dicts(ms):
        with pytest.raises((TypeError, ValueError), match=message):
            ms.load_state_dict(sd)
        assert_same(before, state(ms)), what


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("family", FAMILIES)
def test_a_half_precision_round_trip_of_an_accepted_table_loads(family, dtype):
    ms = quiet(model_sampling, family, **OTHER[family])
    saved = {k: v.to(dtype) for k, v in ms.state_dict().items()}
    fresh = quiet(model_sampling, family, **OTHER[family])
    fresh.load_state_dict(saved)
    torch.testing.assert_close(fresh.sigmas, ms.sigmas, rtol=2 * torch.finfo(dtype).eps, atol=0)
    assert fresh.sigmas.dtype == torch.float32
    if ms.table_from_settings:   # the settings' own table is kept: the lossy copy matched it
        assert torch.equal(fresh.sigmas, ms.sigmas)


def test_a_zsnr_table_that_drops_at_its_end_loads_with_its_warning():
    noisy = quiet(ModelSamplingDiscrete, {"beta_schedule": "sqrt_linear", "linear_start": 1e-4, "linear_end": 0.02}, zsnr=True)
    fresh = ModelSamplingDiscrete()
    with pytest.warns(UserWarning, match="not monotone at its end"):
        fresh.load_state_dict(noisy.state_dict())
    assert torch.equal(fresh.sigmas, noisy.sigmas) and fresh.timestep(noisy.sigmas[-1:]).item() == 999
    # a drop anywhere else is refused
    s = noisy.sigmas.clone(); s[500] = s[10]
    with pytest.raises(ValueError, match=r"decreasing step: sigmas\[499\]"):
        fresh.load_state_dict({"sigmas": s, "log_sigmas": s.log()})


# --- combinations that cannot mean what they say --------------------------------------------------------------------------

@pytest.mark.parametrize("carried, asked", [("v_prediction", "eps"), ("edm", "v_prediction"), ("eps", "edm"), ("const", "eps")])
def test_a_combined_class_with_another_parameterization_is_refused(carried, asked):
    cls = type(model_sampling("discrete", carried))
    with pytest.raises(ValueError, match=rf"already carries the parameterization {carried.upper()}"):
        model_sampling(cls, asked)
    assert type(model_sampling(cls, carried)) is cls


def test_lcm_on_edm_time_is_refused_by_the_factory_and_defined_by_hand():
    for family in ("discrete_edm", "continuous_edm"):
        with pytest.raises(ValueError, match="'lcm' needs a schedule whose timestep is >= 0"):
            model_sampling(family, "lcm")
        by_hand = combine(SCHEDULES[family], LCM)()
        x = torch.randn(3, 2)
        d = by_hand.calculate_denoised(torch.tensor([0.0, 1.0, 5.0]), x, x)
        assert torch.isfinite(d).all()


def test_flow_inverse_at_sigma_one_is_the_latent():
    x = torch.randn(4, 3)
    s = torch.tensor([0.0, 0.5, 1.0, 1.5])
    out = CONST().inverse_noise_scaling(s, x)
    torch.testing.assert_close(out[:2], x[:2] / (1 - s[:2, None]))
    assert torch.equal(out[2:], x[2:]) and torch.isfinite(out).all()


# --- percent_to_sigma above the reference's start sentinel ------------------------------------------------------------------

def _discrete_with_top(top):
    ms = ModelSamplingDiscrete()
    ms.set_sigmas(torch.logspace(-2, math.log10(top), 1000, dtype=torch.float64))
    return ms


@pytest.mark.parametrize("top, start", [(999_800_000.0, PERCENT_START), (999_950_000.0, None), (5e12, None), (14.6, PERCENT_START)])
def test_percent_start_edge_both_ways(top, start):
    ms = _discrete_with_top(top)
    got = ms.percent_to_sigma(0.0)
    assert got == (start if start is not None else 10 * ms.sigmas.max().item())
    ps = [1e-12, 1e-9, 1e-4, 0.01, 0.5, 0.99]
    values = [got] + [ms.percent_to_sigma(p) for p in ps]
    assert all(a >= b for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("family", ["discrete", "discrete_distilled", "discrete_edm"])
def test_percent_to_sigma_of_the_sqrt_schedule_never_increases(family):
    ms = model_sampling(family, beta_schedule="sqrt", linear_start=1e-4, linear_end=0.02)
    ps = [-1.0, 0.0, 1e-12, 1e-6, 1e-3, 0.1, 0.5, 0.9, 1.0]
    values = [ms.percent_to_sigma(p) for p in ps]
    assert all(a >= b for a, b in zip(values, values[1:])), list(zip(ps, values))
    assert values[1] > ms.sigmas.max().item() > PERCENT_START


@pytest.mark.parametrize("family", ["continuous_edm", "continuous_v", "cosmos_rflow"])
def test_percent_to_sigma_of_a_huge_continuous_range_never_increases(family):
    ms = model_sampling(family, sigma_max=1e7 if family == "continuous_v" else 1e25)   # (the v time's float32 end, below)
    values = [ms.percent_to_sigma(p) for p in (0.0, 1e-12, 1e-3, 0.5, 1.0)]
    assert all(a >= b for a, b in zip(values, values[1:])), values


# --- numbers, lists and arrays are taken as the tensors they stand for ----------------------------------------------------

@pytest.mark.parametrize("family", FAMILIES)
def test_numpy_lists_and_numbers_are_converted_like_tensors(family):
    ms = model_sampling(family)
    sig = np.array([0.1, 0.5, 0.9])
    want = ms.timestep(torch.from_numpy(sig))
    assert torch.equal(ms.timestep(sig), want)
    assert torch.equal(ms.timestep([0.1, 0.5, 0.9]), ms.timestep(torch.tensor([0.1, 0.5, 0.9])))
    assert torch.equal(ms.timestep(0.5), ms.timestep(torch.tensor(0.5)))
    assert torch.equal(ms.sigma(np.float32(0.5)), ms.sigma(torch.tensor(0.5)))
    for bad in ("0.5", None, True, 1j, {"sigma": 1}, object()):
        with pytest.raises(TypeError, match="sigma must be"):
            ms.timestep(bad)
        with pytest.raises(TypeError, match="timestep must be"):
            ms.sigma(bad)


def test_a_python_number_beyond_float32_is_kept_in_float64():
    ms = model_sampling("continuous_edm")
    assert ms.timestep(1e39).item() == pytest.approx(0.25 * math.log(1e39))     # not 0.25 * log(inf)
    assert ms.timestep(1e-300).item() == pytest.approx(0.25 * math.log(1e-300))  # not 0.25 * log(0)


def test_a_table_built_from_a_tensor_that_requires_grad_is_data():
    x = torch.linspace(0.1, 10.0, 50, requires_grad=True)
    ms = ModelSamplingDiscrete()
    ms.set_sigmas(x * 1.0)
    assert not ms.sigmas.requires_grad and not ms.log_sigmas.requires_grad and not ms.alphas_cumprod.requires_grad
    given = model_sampling("discrete", given_betas=torch.full((20,), 0.01, requires_grad=True) * 1.0)
    assert not given.sigmas.requires_grad
    s = torch.tensor([0.5, 1.0], requires_grad=True)   # a conversion keeps the graph of its input
    model_sampling("continuous_edm").timestep(s).sum().backward()
    torch.testing.assert_close(s.grad, 0.25 / s.detach())


def test_a_flow_table_whose_top_rounds_above_one_starts_at_its_top():
    "SD3's float32 shift of t = 1 is 1.0000001 for some shifts: percent 0 must not lie below the first step."
    from sched_nb.schedulers import calculate_sigmas
    ms = model_sampling("discrete_flow", shift=8.988985549373757)
    first = float(calculate_sigmas(ms, "simple", 6)[0])
    assert first == ms.sigmas[-1].item() > 1.0
    assert not first > ms.percent_to_sigma(0.0)   # the host's gate: the conditioning applies at the first step
    assert model_sampling("discrete_flow", shift=3.0).percent_to_sigma(0.0) == 1.0


def test_a_table_allowed_to_drop_at_its_end_still_refuses_a_negative_last_sigma():
    from sched_nb.core import check_sigma_table
    check_sigma_table(torch.tensor([0.1, 1.0, 0.5]), "this table is", last_may_drop=True)   # the drop is allowed ...
    with pytest.raises(ValueError, match=r"a negative sigma: sigmas\[2\] = -2\.0"):           # ... a negative sigma is not
        check_sigma_table(torch.tensor([0.1, 1.0, -2.0]), "this table is", last_may_drop=True)
    with pytest.raises(ValueError, match=r"NaN: sigmas\[2\]"):
        check_sigma_table(torch.tensor([0.1, 1.0, float("nan")]), "this table is", last_may_drop=True)
