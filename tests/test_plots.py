"""sched_nb.plots: the numbers the plots draw, checked against the schedules' buffers and the papers' formulas."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest
import torch

from sched_nb import CONST, EDM, EPS, LCM, V_PREDICTION, X0, ModelSamplingDiscrete, ModelSamplingFlux
from sched_nb.compose import SCHEDULES, model_sampling
from sched_nb.plots import (ATLAS, alphas_cumprod, atlas_models, coinciding, is_flow, log_snr, normalized_t, parameterization_weights,
                            plot_alphas_cumprod, plot_atlas, plot_log_snr, plot_overview, plot_sigma, plot_steps,
                            plot_weights, schedule_sigmas, schedule_summary, sigma_grid, step_marker_size, step_times)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ydata(ax, i=-1):
    return torch.as_tensor(ax.get_lines()[i].get_ydata(), dtype=torch.float64)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_curves_of_every_schedule(name):
    ms = model_sampling(name)
    s = ms.sigmas.double()
    t = normalized_t(ms)
    assert t.shape == s.shape and t[0] == 0 and t[-1] == 1
    assert torch.all(t[1:] > t[:-1])
    ax = plot_sigma(ms)
    torch.testing.assert_close(ydata(ax), s)
    torch.testing.assert_close(torch.as_tensor(ax.get_lines()[0].get_xdata()), t)
    flow = name in ("discrete_flow", "flux")
    assert is_flow(ms) == flow
    expected = 2 * torch.log((1 - s) / s) if flow else -2 * torch.log(s)
    finite = torch.isfinite(expected)
    torch.testing.assert_close(ydata(plot_log_snr(ms))[finite], expected[finite])
    summary = schedule_summary(ms)
    assert summary["sigma_min"] == pytest.approx(s[0].item()) and summary["sigma_max"] == pytest.approx(s[-1].item())
    assert summary["terminal_snr"] == (0.0 if flow else pytest.approx(1 / s[-1].item() ** 2, rel=1e-9))


@pytest.mark.parametrize("settings", [{}, {"zsnr": True}, {"beta_schedule": "cosine", "timesteps": 500}])
def test_alphas_cumprod_matches_the_schedules_buffer(settings):
    ms = model_sampling("discrete", **settings)
    torch.testing.assert_close(alphas_cumprod(ms), ms.alphas_cumprod.double(), rtol=1e-5, atol=1e-9)
    torch.testing.assert_close(ydata(plot_alphas_cumprod(ms)), ms.alphas_cumprod.double(), rtol=1e-5, atol=1e-9)
    # log SNR = log(alphas_cumprod / (1 - alphas_cumprod)), the DDPM definition
    a = ms.alphas_cumprod.double()
    torch.testing.assert_close(log_snr(ms), torch.log(a / (1 - a)), rtol=1e-4, atol=1e-4)


def test_stable_cascade_alphas_cumprod_buffer():
    ms = model_sampling("stable_cascade", shift=2.0)
    torch.testing.assert_close(alphas_cumprod(ms), ms.alphas_cumprod.double(), rtol=1e-5, atol=1e-9)


def test_flow_is_recognised_without_its_parameterization():
    bare = ModelSamplingFlux()
    assert is_flow(bare) and is_flow(model_sampling("discrete_flow"))
    assert not is_flow(model_sampling("discrete")) and not is_flow(model_sampling("continuous_edm"))
    # x = (1 - sigma) x0 + sigma eps: at sigma = 1/2 signal and noise are equal, log SNR 0, alpha_bar 1/2
    assert log_snr(bare, [0.5]).item() == pytest.approx(0.0, abs=1e-12)
    assert alphas_cumprod(bare, [0.2]).item() == pytest.approx(0.8 ** 2 / (0.8 ** 2 + 0.2 ** 2))


def test_plots_on_any_device(device):
    ms = model_sampling("discrete", "v_prediction").to(device)
    torch.testing.assert_close(ydata(plot_sigma(ms)), model_sampling("discrete").sigmas.double())
    ax = plot_weights(ms)
    assert len(ax.get_lines()) == 3


def test_new_figures_are_small_and_given_axes_are_used():
    ms = model_sampling("discrete")
    ax = plot_sigma(ms)
    fig = ax.figure
    w, h = fig.get_size_inches() * fig.dpi
    assert 600 <= w <= 800 and h <= 400, (w, h)  # light in a notebook, wide enough to read
    assert min(t.get_fontsize() for t in ax.get_yticklabels()) * fig.dpi / 72 >= 10  # text of 10 pixels or more
    fig2, given = plt.subplots()
    assert plot_log_snr(ms, given) is given and plot_alphas_cumprod(ms, ax=given) is given
    assert len(given.get_lines()) == 2
    assert ax.get_yscale() == "log" and plot_sigma(ms, logy=False).get_yscale() == "linear"


def test_schedule_sigmas_refuses_non_schedules():
    with pytest.raises(TypeError, match="sigmas"):
        plot_sigma(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("sigma_data", [1.0, 0.5])
def test_weights_follow_the_edm_table(sigma_data):
    s = torch.logspace(-2, 2, 50, dtype=torch.float64)
    sd2 = sigma_data ** 2
    expected = {
        EPS: (torch.ones_like(s), s, 1 / (s ** 2 + sd2).sqrt()),
        V_PREDICTION: (sd2 / (s ** 2 + sd2), s * sigma_data / (s ** 2 + sd2).sqrt(), 1 / (s ** 2 + sd2).sqrt()),
        EDM: (sd2 / (s ** 2 + sd2), s * sigma_data / (s ** 2 + sd2).sqrt(), 1 / (s ** 2 + sd2).sqrt()),
        X0: (torch.zeros_like(s), torch.ones_like(s), 1 / (s ** 2 + sd2).sqrt()),
        CONST: (torch.ones_like(s), s, torch.ones_like(s)),
    }
    for cls, (skip, out, c_in) in expected.items():
        w = parameterization_weights(cls(sigma_data=sigma_data), s)
        for got, want in zip(w.values(), (skip, out, c_in)):
            torch.testing.assert_close(got, want)
        ax = plot_weights(cls(sigma_data=sigma_data), sigma=s)
        lines = {l.get_label(): l for l in ax.get_lines()}
        torch.testing.assert_close(torch.as_tensor(lines["c_in"].get_ydata()), c_in)
        assert ax.get_xscale() == ax.get_yscale() == "log"


def test_lcm_weights_need_a_schedule_and_use_its_timesteps():
    with pytest.raises(TypeError, match="model sampling"):
        parameterization_weights(LCM, [1.0])
    ms = model_sampling("discrete_distilled", "lcm")
    s = ms.sigmas.double()[[0, 10, 49]]
    t = ms.timestep(s).double() * 10  # LCM's boundary condition uses the teacher timestep, scaled by 10
    c_out_lcm = t / (t ** 2 + 0.25).sqrt()
    w = parameterization_weights(ms, s)
    torch.testing.assert_close(w["c_skip"], 0.25 / (t ** 2 + 0.25) + c_out_lcm, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(w["|c_out|"], s * c_out_lcm, rtol=1e-5, atol=1e-7)
    # without a sigma grid, the weights span the schedule's own range
    grid = sigma_grid(ms)
    assert grid[0].item() == pytest.approx(s[0].item()) and grid[-1].item() == pytest.approx(s[-1].item())


def test_step_times_place_steps_on_the_table():
    ms = ModelSamplingDiscrete()
    s = ms.sigmas.double()
    idx = torch.tensor([999, 500, 250, 0])
    steps = torch.cat([s[idx], torch.zeros(1, dtype=torch.float64)])
    t = step_times(ms, steps)
    torch.testing.assert_close(t[:4], idx.double() / 999)
    assert math.isnan(t[4].item())
    between = (s[100] * s[101]).sqrt()  # halfway in log sigma
    assert step_times(ms, [between]).item() == pytest.approx(100.5 / 999, abs=1e-9)
    # out of range: clamped to the ends of the table
    torch.testing.assert_close(step_times(ms, [1e-6, 1e6]), torch.tensor([0.0, 1.0], dtype=torch.float64))


def test_plot_steps_draws_the_nonzero_steps_on_the_curve():
    ms = model_sampling("continuous_edm")
    steps = torch.tensor([120.0, 10.0, 1.0, 0.1, 0.002, 0.0])
    ax = plot_steps(ms, steps, label="karras-ish")
    curve, points = ax.get_lines()
    assert len(curve.get_xdata()) == 1000
    assert points.get_label() == "karras-ish" and len(points.get_xdata()) == 5
    # continuous EDM's sigmas are log-uniform: t = (ln sigma - ln 0.002) / (ln 120 - ln 0.002)
    want = (torch.log(steps[:5].double()) - math.log(0.002)) / (math.log(120) - math.log(0.002))
    torch.testing.assert_close(torch.as_tensor(points.get_xdata()), want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.as_tensor(points.get_ydata()), steps[:5].double())
    assert len(plot_steps(ms, steps, curve=False).get_lines()) == 1


def test_overview_and_atlas():
    models = {"a": model_sampling("discrete"), "b": model_sampling("flux")}
    fig = plot_overview(models, panels=("sigma", "log_snr", "alphas_cumprod"))
    assert len(fig.axes) == 3 and [l.get_label() for l in fig.axes[2].get_lines()] == ["a", "b"]
    with pytest.raises(ValueError, match="panels must be from"):
        plot_overview(models, panels=("snr",))
    # the atlas covers every registered schedule
    assert {name for name, _, _ in ATLAS.values()} == set(SCHEDULES)
    atlas = atlas_models()
    assert list(atlas) == list(ATLAS)
    assert schedule_summary(atlas["discrete, zsnr"])["sigma_max"] == pytest.approx(4519, rel=1e-3)
    fig = plot_atlas(atlas)
    assert len(fig.axes) == 2
    assert [l.get_label() for l in fig.axes[0].get_lines()] == list(ATLAS)
    assert len(fig.legends) == 1


def test_step_markers_shrink_as_steps_grow():
    ms = model_sampling("discrete")
    from sched_nb import calculate_sigmas
    sizes = [plot_steps(ms, calculate_sigmas(ms, "karras", n)).get_lines()[-1].get_markersize() for n in (4, 16, 60)]
    assert sizes == [step_marker_size(4), step_marker_size(16), step_marker_size(60)] and sizes[0] >= sizes[1] > sizes[2] >= 2.5
    # 60 karras steps: the crowded low-noise end keeps markers apart at the plot's scale
    assert step_marker_size(60) < 4


def test_coinciding_finds_twins_by_their_sigmas():
    models = atlas_models()
    twins = coinciding(models)
    # discrete_edm and continuous_v reuse their twin's sigmas exactly; Flux's mu = 1.15 is a time shift of e^1.15 = 3.16
    assert twins["discrete_edm"][0] == "discrete" and twins["discrete_edm"][1] < 1e-6
    assert twins["continuous_v"][0] == "continuous_edm" and twins["continuous_v"][1] < 1e-6
    assert twins["flux"][0] == "discrete_flow, shift=3" and 0.01 < twins["flux"][1] < 0.06
    assert "discrete, zsnr" not in twins and "stable_cascade, shift=2" not in twins
    # the shift of 3 against 3.16 from the formulas: sigma(t) = s t / (1 + (s - 1) t), at t = 0.25
    s3, s316 = 3 * 0.25 / (1 + 2 * 0.25), math.exp(1.15) * 0.25 / (1 + (math.exp(1.15) - 1) * 0.25)
    assert abs(s316 - s3) / s316 < 0.06


def test_overview_legend_is_outside_the_axes():
    fig = plot_overview({"a": model_sampling("discrete"), "b": model_sampling("flux")})
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    box = fig.legends[0].get_window_extent(r)
    assert not any(box.overlaps(ax.get_window_extent(r)) for ax in fig.axes)
