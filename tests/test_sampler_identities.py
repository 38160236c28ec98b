"""Samplers at the settings where they must reduce to another one give the same numbers: churn 0 is the plain
solver, every multistep method's first step is its one-step starter, ddim is euler, UniPC of order 1 without
corrector is the DDIM step, DEIS in rho-AB form is LMS, and the order-1 forms of the multistep samplers are Euler."""
import math

import pytest
import torch

from sched_nb.samplers import SAMPLERS, GaussianMixtureDenoiser, _dpm_solver_step

MIX = GaussianMixtureDenoiser([[-2.0, 0.0], [1.0, 1.5]], [0.4, 0.6], [0.4, 0.6])
MIX_FLOW = GaussianMixtureDenoiser([[-2.0, 0.0], [1.0, 1.5]], [0.4, 0.6], [0.4, 0.6], flow=True)
X = torch.randn(32, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def karras(n, lo=0.02, hi=80.0, rho=7.0, zero=True):
    r = torch.linspace(0, 1, n, dtype=torch.float64)
    s = (hi ** (1 / rho) + r * (lo ** (1 / rho) - hi ** (1 / rho))) ** rho
    return torch.cat([s, s.new_zeros(1)]) if zero else s


def run(name, model=MIX, x=None, sigmas=None, **kw):
    return SAMPLERS[name](model, 80 * X if x is None else x, karras(12) if sigmas is None else sigmas, disable=True, **kw)


def close(a, b, tol=1e-11):
    assert (a - b).abs().max().item() <= tol * max(1.0, b.abs().max().item()), (a - b).abs().max().item()


@pytest.mark.parametrize("name", ["euler", "heun", "dpm_2", "heunpp2"])
def test_churn_zero_is_the_plain_solver(name):
    plain = run(name)
    assert torch.equal(run(name, s_churn=0.0, s_noise=3.0, s_tmin=0.5, s_tmax=10.0), plain)
    assert torch.equal(run(name, s_churn=5.0, s_tmin=100.0), plain)          # churn switched on nowhere
    churned = run(name, s_churn=5.0, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(churned, plain) and torch.isfinite(churned).all()


MULTISTEP = [("lms", {}), ("dpmpp_2m", {}), ("ipndm", {}), ("ipndm_v", {}), ("deis", {}), ("deis", {"deis_mode": "rhoab"}),
             ("res_multistep", {}), ("gradient_estimation", {})]


@pytest.mark.parametrize("name,kw", MULTISTEP, ids=lambda v: v if isinstance(v, str) else str(v))
@pytest.mark.parametrize("flow", [False, True], ids=["ve", "flow"])
def test_first_step_of_a_multistep_sampler_is_euler(name, kw, flow):
    model, x, sig = (MIX_FLOW, X * 0.98, torch.linspace(0.98, 0.0, 11, dtype=torch.float64)) if flow else (MIX, 80 * X, karras(10))
    seen = []
    run(name, model, x, sig, callback=lambda d: seen.append(d["x"]), **kw)
    close(seen[1], run("euler", model, x, sig[:2]))                          # after one step: the Euler step
    close(run(name, model, x, sig[:2], **kw), run("euler", model, x, sig[:2]))


@pytest.mark.parametrize("name,kw", [("lms", {"order": 1}), ("ipndm", {"max_order": 1}), ("ipndm_v", {"max_order": 1}),
                                     ("deis", {"max_order": 1}), ("gradient_estimation", {"ge_gamma": 1.0})],
                         ids=lambda v: v if isinstance(v, str) else str(v))
def test_order_one_forms_are_euler(name, kw):
    close(run(name, **kw), run("euler"), tol=1e-10)


@pytest.mark.parametrize("model,x,sig", [(MIX, 80 * X, karras(12)), (MIX_FLOW, X * 0.98, torch.linspace(0.98, 0.0, 13, dtype=torch.float64))],
                         ids=["ve", "flow"])
def test_ddim_is_euler(model, x, sig):
    close(run("ddim", model, x, sig), run("euler", model, x, sig), tol=1e-10)


def test_stochastic_ddim_is_euler_ancestral_on_a_ve_model():
    noise = [torch.randn(32, 2, generator=torch.Generator().manual_seed(10 + k), dtype=torch.float64) for k in range(20)]
    def sampler():
        it = iter(noise)
        return lambda s, sn: next(it)
    close(run("ddim", eta=0.6, noise_sampler=sampler()), run("euler_ancestral", eta=0.6, noise_sampler=sampler()), tol=1e-10)


def test_uni_pc_order_one_without_corrector_is_the_ddim_step():
    sig = karras(12)
    end = sig.clone(); end[-1] = 0.001                                        # uni_pc lands at 0.001, as ComfyUI's
    for name in ("uni_pc", "uni_pc_bh2"):
        close(run(name, sigmas=sig, order=1, corrector=False), run("ddim", sigmas=end), tol=1e-10)
    # with the corrector, order 1 differs from DDIM, and bh1 from bh2
    a, b = run("uni_pc", sigmas=sig, order=1), run("uni_pc_bh2", sigmas=sig, order=1)
    assert (a - run("ddim", sigmas=end)).abs().max() > 1e-6 and (a - b).abs().max() > 1e-9


def test_deis_rhoab_is_lms():
    for order in (2, 3, 4):
        close(run("deis", deis_mode="rhoab", max_order=order), run("lms", order=order), tol=1e-10)


def test_dpm_solver_1_is_the_ddim_step():
    t, tn = torch.tensor(-math.log(5.0), dtype=torch.float64), torch.tensor(-math.log(2.0), dtype=torch.float64)
    _, _, (w,), _ = _dpm_solver_step(t, tn, 1)
    assert w == pytest.approx(2.0 / 5.0 - 1.0, rel=1e-14)                  # x + w (x - D) = D + (2/5)(x - D)


def test_published_flow_form_changes_only_flow_models():
    assert torch.equal(run("dpmpp_2m", flow_log_snr=True), run("dpmpp_2m"))
    sig = torch.linspace(0.98, 0.02, 11, dtype=torch.float64)
    a, b = (run("dpmpp_2m", MIX_FLOW, X * 0.98, sig, flow_log_snr=f) for f in (False, True))
    assert (a - b).abs().max() > 1e-4
    close(run("dpmpp_2m", MIX_FLOW, X * 0.98, sig[:2], flow_log_snr=True), run("euler", MIX_FLOW, X * 0.98, sig[:2]))


def test_option_errors_name_the_option():
    for name, kw, match in [("lms", {"order": 0}, "order"), ("ipndm", {"max_order": 5}, "max_order"),
                            ("deis", {"deis_mode": "ab"}, "deis_mode"), ("uni_pc", {"variant": "bh9"}, "variant"),
                            ("dpm_adaptive", {"order": 4}, "order"), ("dpm_adaptive", {"rtol": -1.0}, "rtol"),
                            ("dpm_fast", {"eta": -0.1}, "eta"), ("ddim", {"eta": float("nan")}, "eta"),
                            ("gradient_estimation", {"ge_gamma": "x"}, "ge_gamma"), ("heun", {"s_churn": -2.0}, "s_churn")]:
        with pytest.raises((TypeError, ValueError), match=match):
            run(name, **kw)
