"""Discrete model sampling against the reference implementation's golden values.

Tables and timesteps (indices) match the golden values exactly. `sigma` and `percent_to_sigma` go through
float32 `exp`: they are checked bit for bit against the reference's own operations replayed on this machine
(tests/helpers.py), and against the golden values within one float32 ulp, which is how far two machines' `exp`
may round apart (here all but a few are exact). Where the golden `percent_to_sigma` is null (timesteps != 1000)
the reference was wrong; the expected value is sigma((1 - p) * (num_timesteps - 1)) (golden/README.md).
"""
import pytest
import torch

import sched_nb
from sched_nb import LCM, ModelSamplingDiscrete, ModelSamplingDiscreteDistilled
from helpers import (as_tensor, assert_rel_close, check_exact_or_one_ulp, load_golden, reference_discrete_percent,
                     reference_discrete_sigma, reference_discrete_sigmas)

GOLDEN = load_golden()
CASES = GOLDEN["discrete"]
RTOL = 2e-5


def _id(case): return "-".join(f"{k}={v}" for k, v in case["settings"].items())


def _check_conversions(ms, case, device, sigma_here):
    assert torch.equal(ms.sigmas.cpu(), torch.tensor(case["sigmas"], dtype=torch.float32)), "sigmas differ"
    assert float(ms.sigma_min) == case["sigma_min"] and float(ms.sigma_max) == case["sigma_max"]
    sig_in = torch.tensor(case["timestep"]["in"], device=device)
    t = ms.timestep(sig_in)
    assert t.device.type == device.type and t.shape == sig_in.shape and t.dtype == torch.int64
    assert t.cpu().tolist() == [int(v) for v in case["timestep"]["out"]], "timestep indices differ"
    t_in = torch.tensor(case["sigma"]["in"], device=device)
    s = ms.sigma(t_in)
    assert s.device.type == device.type and s.dtype == torch.float32
    check_exact_or_one_ulp(s, case["sigma"]["out"], sigma_here(t_in), "sigma")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_discrete_matches_reference(case, device):
    settings = dict(case["settings"])
    ms = ModelSamplingDiscrete({"sampling_settings": settings}).to(device)
    # the reference's log table: log of its float64 sigmas, then float32
    assert torch.equal(ms.log_sigmas.cpu(), reference_discrete_sigmas(settings).log().float())
    _check_conversions(ms, case, device, lambda t: reference_discrete_sigma(ms.log_sigmas, t))
    assert_rel_close(ms.alphas_cumprod, case["alphas_cumprod"], RTOL, "alphas_cumprod")
    pct = case["percent_to_sigma"]
    n = ms.num_timesteps
    expected = pct["out"]
    if expected is None:  # the reference scaled by 999 whatever the number of timesteps
        assert n != 1000
        expected = [reference_discrete_percent(ms.log_sigmas, p, n) for p in pct["in"]]
        # and that reaches the top of the table, unlike the reference
        assert ms.percent_to_sigma(1e-9) == pytest.approx(float(ms.sigma_max), rel=1e-4)
    ins, expected = _start_differs(ms, pct["in"], expected)
    got = [ms.percent_to_sigma(p) for p in ins]
    assert all(type(v) is float for v in got)
    check_exact_or_one_ulp(got, expected, [reference_discrete_percent(ms.log_sigmas, p, n) for p in ins], "percent_to_sigma")


def _start_differs(ms, ins, outs):
    """The percents and golden values to compare exactly, after checking the one documented difference.

    For a table above the reference's start sentinel 999999999.9 (the sqrt schedule here reaches 5.6e21), the
    reference's percent_to_sigma(0) lies below percent_to_sigma(1e-9): sched_nb answers ten times the table's
    largest sigma there, so that percent_to_sigma never increases with percent (03_discrete, 00_core).
    """
    top = float(ms.sigmas.max())
    if top * 1.0001 < 999999999.9: return ins, outs
    kept = [(p, o) for p, o in zip(ins, outs) if p > 0]
    for p, o in zip(ins, outs):
        if p <= 0:
            assert o == 999999999.9 < top and ms.percent_to_sigma(p) == 10.0 * top
    return [p for p, _ in kept], [o for _, o in kept]


def test_golden_percent_to_sigma_is_exact_but_for_the_platforms_exp():
    "All discrete golden percents bit-equal but one, whose float32 exp argument is the same here and there."
    exact = total = 0
    for case in CASES:
        if case["percent_to_sigma"]["out"] is None: continue
        ms = ModelSamplingDiscrete(case["settings"])
        ins, outs = _start_differs(ms, case["percent_to_sigma"]["in"], case["percent_to_sigma"]["out"])
        got = [ms.percent_to_sigma(p) for p in ins]
        e, n = check_exact_or_one_ulp(got, outs, [reference_discrete_percent(ms.log_sigmas, p) for p in ins])
        exact, total = exact + e, total + n
    assert total == 70 and exact >= total - 1, (exact, total)   # 72 golden percents, two of them the start of the sqrt table


def test_golden_covers_every_beta_schedule():
    names = {c["settings"].get("beta_schedule") for c in CASES}
    assert names == {"linear", "cosine", "squaredcos_cap_v2", "sqrt_linear", "sqrt"}
    assert any(c["settings"].get("zsnr") for c in CASES)


def _reference_distilled_sigma(log_sigmas, skip, t):
    "The reference's distilled `sigma(t)`: the teacher's time moved onto the distilled table, then the discrete arithmetic."
    return reference_discrete_sigma(log_sigmas, ((t.float() - (skip - 1)) / skip).float())


@pytest.mark.parametrize("case", GOLDEN["distilled_lcm"])
def test_distilled_lcm_matches_reference(case, device):
    cls = type("LCMSampling", (ModelSamplingDiscreteDistilled, LCM), {})
    ms = cls({"sampling_settings": dict(case["settings"])}).to(device)
    here = lambda t: _reference_distilled_sigma(ms.log_sigmas, ms.skip_steps, t)
    _check_conversions(ms, case, device, here)
    got = [ms.percent_to_sigma(p) for p in case["percent_to_sigma"]["in"]]
    replay = [999999999.9 if p <= 0 else 0.0 if p >= 1 else here(torch.tensor((1 - p) * 999.0)).item()
              for p in case["percent_to_sigma"]["in"]]
    check_exact_or_one_ulp(got, case["percent_to_sigma"]["out"], replay, "percent_to_sigma")
    denoised = ms.calculate_denoised(torch.tensor(case["denoise_sigma"], device=device),
                                     as_tensor(case["model_output"], device), as_tensor(case["model_input"], device))
    assert_rel_close(denoised, as_tensor(case["calculate_denoised"]), RTOL, "calculate_denoised")


def test_public_names_importable():
    for name in ("ModelSamplingDiscrete", "ModelSamplingDiscreteDistilled", "ModelSamplingDiscreteEDM",
                 "make_beta_schedule", "rescale_zero_terminal_snr_sigmas", "reshape_sigma"):
        assert getattr(sched_nb, name) is not None
