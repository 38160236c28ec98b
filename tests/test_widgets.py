"""sched_nb.widgets headless: every explorer driven through update(**values) and through its controls, with
values other than the defaults, checked against the schedules built directly and against the formulas."""
import base64
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from sched_nb import (ModelSamplingContinuousV, ModelSamplingDiscrete, ModelSamplingDiscreteFlow, ModelSamplingFlux,
                      StableCascadeSampling)
from sched_nb.plots import ATLAS
from sched_nb.widgets import (CascadeExplorer, ContinuousExplorer, DiscreteExplorer, FamilyComparison, FlowExplorer,
                              ParameterizationExplorer, describe, explore_cascade, explore_continuous, explore_discrete,
                              explore_families, explore_flow, explore_parameterizations, explore_steps, explorer_app)

ROOT = Path(__file__).resolve().parents[1]


def line(ex, gid, panel=0):
    found = [l for l in ex.axes[panel].get_lines() if l.get_gid() == gid]
    assert found, f"no line {gid!r} in panel {panel}"
    return torch.as_tensor(found[0].get_xdata(), dtype=torch.float64), torch.as_tensor(found[0].get_ydata(), dtype=torch.float64)


def fmt(v): return f"{v:.4g}"


def assert_readout(ex, sigma_min, sigma_max, terminal_snr):
    d = describe(ex.model)
    assert d["sigma_min"] == pytest.approx(sigma_min, rel=1e-5)
    assert d["sigma_max"] == pytest.approx(sigma_max, rel=1e-5)
    assert d["terminal_snr"] == pytest.approx(terminal_snr, rel=1e-4, abs=1e-300)
    first_row = ex.readout.value.split("<tr>")[2]  # header, then the current configuration
    assert "current" in first_row
    for v in (d["sigma_min"], d["sigma_max"], d["terminal_snr"]): assert fmt(v) in first_row


def png_size(data: bytes):
    return Image.open(io.BytesIO(data)).size


def test_discrete_update_matches_the_ddpm_formulas():
    ex = explore_discrete()
    start_png = ex.widget.children[-2].value  # asking for the widget renders the picture
    assert png_size(start_png)[0] > 500
    ex.update(linear_start=0.0005, linear_end=0.03, timesteps=400, parameterization="v_prediction")
    betas = torch.linspace(0.0005 ** 0.5, 0.03 ** 0.5, 400, dtype=torch.float64) ** 2
    abar = torch.cumprod(1 - betas, 0)
    sigmas = ((1 - abar) / abar).sqrt()
    assert_readout(ex, sigmas[0].item(), sigmas[-1].item(), (abar[-1] / (1 - abar[-1])).item())
    t, y = line(ex, "current")
    torch.testing.assert_close(y, sigmas, rtol=1e-5, atol=0)
    torch.testing.assert_close(t, torch.linspace(0, 1, 400, dtype=torch.float64))
    _, snr = line(ex, "current", panel=1)
    torch.testing.assert_close(snr, torch.log(abar / (1 - abar)), rtol=1e-4, atol=1e-4)
    # v-prediction's weights with sigma_data 1: c_skip = 1 / (sigma^2 + 1)
    s, skip = line(ex, "current c_skip", panel=2)
    torch.testing.assert_close(skip, 1 / (s ** 2 + 1))
    # the start curve did not move, the picture did
    _, y0 = line(ex, "start")
    torch.testing.assert_close(y0, ModelSamplingDiscrete().sigmas.double())
    assert ex.image.value != start_png and png_size(ex.image.value)[0] > 500
    assert ex.controls["timesteps"].value == 400 and ex.controls["parameterization"].value == "v_prediction"


def test_discrete_zsnr_and_cosine_against_the_class():
    ex = DiscreteExplorer(compare=())
    ex.update(beta_schedule="cosine", zsnr=True, timesteps=800)
    direct = ModelSamplingDiscrete({"beta_schedule": "cosine", "timesteps": 800}, zsnr=True)
    s = direct.sigmas.double()
    assert_readout(ex, s[0].item(), s[-1].item(), 1 / s[-1].item() ** 2)
    torch.testing.assert_close(line(ex, "current")[1], s)


def test_a_control_change_goes_through_update():
    ex = DiscreteExplorer(compare=())
    calls = []
    original = ex.update
    ex.update = lambda **v: (calls.append(v), original(**v))[1]
    ex.controls["timesteps"].value = 300  # what the slider does in a browser
    ex.controls["zsnr"].value = True
    assert calls == [{"timesteps": 300}, {"zsnr": True}]
    assert len(ex.model.sigmas) == 300 and ex.values["zsnr"] is True
    direct = ModelSamplingDiscrete({"timesteps": 300}, zsnr=True)
    assert_readout(ex, direct.sigmas[0].item(), direct.sigmas[-1].item(), 1 / direct.sigmas[-1].item() ** 2)


def test_errors_are_shown_and_the_last_good_schedule_kept():
    ex = ContinuousExplorer(compare=())
    ex.update(sigma_max=50.0)
    ex.update(sigma_min=0.9, sigma_max=0.5)
    assert "sigma_min must be < sigma_max" in ex.error and "sigma_min must be &lt; sigma_max" in ex.readout.value
    assert describe(ex.model)["sigma_max"] == pytest.approx(50.0)
    ex.update(sigma_max=5.0)
    assert ex.error is None and describe(ex.model)["sigma_max"] == pytest.approx(5.0)
    with pytest.raises(TypeError, match="has no setting 'shift'"):
        ex.update(shift=2.0)


def test_continuous_v_against_the_class_and_atan_time():
    ex = explore_continuous()
    ex.update(schedule="continuous_v", sigma_min=0.01, sigma_max=300.0, sigma_data=0.7, parameterization="edm")
    direct = ModelSamplingContinuousV({"sigma_min": 0.01, "sigma_max": 300.0, "sigma_data": 0.7})
    assert_readout(ex, 0.01, 300.0, 1 / 300.0 ** 2)
    torch.testing.assert_close(line(ex, "current")[1], direct.sigmas.double())
    assert describe(ex.model)["timestep_max"] == pytest.approx(2 / math.pi * math.atan(300.0), rel=1e-6)
    s, out = line(ex, "current |c_out|", panel=2)  # EDM: sigma sigma_data / sqrt(sigma^2 + sigma_data^2)
    torch.testing.assert_close(out, s * 0.7 / (s ** 2 + 0.49).sqrt())


def test_cascade_shift():
    ex = explore_cascade()
    ex.update(shift=3.0)
    direct = StableCascadeSampling({"shift": 3.0})
    torch.testing.assert_close(line(ex, "current")[1], direct.sigmas.double())
    # away from the clamps, the shift multiplies sigma
    _, base = line(ex, "start")
    mid = slice(2000, 8000)
    torch.testing.assert_close(line(ex, "current")[1][mid], 3.0 * base[mid], rtol=1e-4, atol=0)
    assert_readout(ex, direct.sigmas[0].item(), direct.sigmas[-1].item(), 1 / direct.sigmas[-1].item() ** 2)


def test_flow_shift_multiplier_and_flux():
    ex = explore_flow()
    ex.update(shift=2.5, multiplier=1.0)
    t = torch.arange(1, 1001, dtype=torch.float64) / 1000
    torch.testing.assert_close(line(ex, "current")[1], 2.5 * t / (1 + 1.5 * t), rtol=1e-6, atol=0)
    assert_readout(ex, 2.5e-3 / (1 + 1.5e-3), 1.0, 0.0)
    assert describe(ex.model)["timestep_max"] == pytest.approx(1.0)
    ex.update(multiplier=1000.0)
    assert describe(ex.model)["timestep_max"] == pytest.approx(1000.0)
    torch.testing.assert_close(ex.model.sigmas, ModelSamplingDiscreteFlow({"shift": 2.5}).sigmas)
    ex.update(schedule="flux", shift=0.3)
    direct = ModelSamplingFlux({"shift": 0.3})
    torch.testing.assert_close(line(ex, "current")[1], direct.sigmas.double())
    assert describe(ex.model)["sigma_min"] == pytest.approx(math.exp(0.3) / (math.exp(0.3) + 9999), rel=1e-5)


def test_parameterization_explorer_readout_values():
    ex = explore_parameterizations()
    ex.update(parameterization="v_prediction", sigma_data=0.5)
    cells = ex.readout.value.split("<tr>")[2]
    # V_PREDICTION, sigma_data 0.5, at sigma = 1: c_skip 0.2, |c_out| 0.5 / sqrt(1.25), c_in 1 / sqrt(1.25)
    for v in (0.2, 0.5 / math.sqrt(1.25), 1 / math.sqrt(1.25)): assert fmt(v) in cells
    ex.update(parameterization="const")
    s, c_in = line(ex, "current c_in")
    torch.testing.assert_close(c_in, torch.ones_like(s))


def test_keep_clear_and_back_to_start_buttons():
    ex = FlowExplorer(compare=())
    ex.update(shift=4.0)
    keep, clear, back = ex.widget.children[2].children
    keep.click()
    assert [label for label, _ in ex.kept] == ["shift=4"]
    assert ex.status.value.count("Kept shift=4") == 1 and "kept: shift=4" in ex.status.value  # says what was kept
    assert "kept: shift=4" in [t.get_text() for t in ex.fig.legends[0].get_texts()]
    _, kept = line(ex, "shift=4")
    ex.update(shift=2.0)
    torch.testing.assert_close(kept, ModelSamplingDiscreteFlow({"shift": 4.0}).sigmas.double())
    assert "shift=4" in ex.readout.value
    ex.keep(shift=0.5)
    assert [label for label, _ in ex.kept] == ["shift=4", "shift=0.5"]
    clear.click()
    assert ex.kept == [] and not [l for l in ex.axes[0].get_lines() if l.get_gid() == "shift=4"]
    assert "Cleared 2 kept configurations" in ex.status.value
    back.click()
    assert ex.values == ex.start and ex.controls["shift"].value == 1.0
    for _ in range(ex.max_kept + 2): ex.keep()
    assert len(ex.kept) == ex.max_kept


def test_steps_explorer_against_the_schedulers():
    from sched_nb import calculate_sigmas
    ex = explore_steps()
    ex.update(schedule="discrete", scheduler="karras", steps=12)
    ms = ModelSamplingDiscrete()
    want = calculate_sigmas(ms, "karras", 12).double()
    # Karras et al. (2022): sigma_i = (smax^(1/7) + i/(n-1) (smin^(1/7) - smax^(1/7)))^7
    lo, hi = ms.sigmas[0].double().item(), ms.sigmas[-1].double().item()
    i = torch.arange(12, dtype=torch.float64) / 11
    torch.testing.assert_close(want[:-1], (hi ** (1 / 7) + i * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7, rtol=1e-5, atol=0)
    pts = [l for l in ex.axes[0].get_lines() if l.get_gid() == "current"][-1]
    torch.testing.assert_close(torch.as_tensor(pts.get_ydata()), want[:-1])
    t, row = [l for l in ex.axes[1].get_lines() if l.get_gid() == "current"][0].get_data()
    torch.testing.assert_close(torch.as_tensor(t), torch.as_tensor(pts.get_xdata()))  # the strip: one tick per step
    assert set(row) == {len(ex.kept) + 1}  # on the top row, above the kept ones and the start
    assert all(fmt(v) in ex.readout.value for v in want[:-1].tolist())
    ex.update(steps=0)
    assert ex.error and "steps" in ex.error


def test_family_comparison_checkboxes():
    assert [l.get_label() for l in explore_families(flux=False).axes[0].get_lines()] == [l for l in ATLAS if l != "flux"]
    fc = FamilyComparison()
    assert [l.get_label() for l in fc.axes[0].get_lines()] == list(ATLAS)
    fc.controls["flux"].value = False
    fc.update(**{"discrete_flow, shift=3": False, "continuous_edm": False})
    labels = [l.get_label() for l in fc.axes[0].get_lines()]
    assert "flux" not in labels and "continuous_edm" not in labels and "discrete, zsnr" in labels
    assert "flux" not in fc.readout.value
    zsnr = ModelSamplingDiscrete(zsnr=True).sigmas[-1].item()
    assert fmt(zsnr) in fc.readout.value and fmt(1 / zsnr ** 2) in fc.readout.value
    assert len(fc.fig.legends) == 1


def test_explorer_app_and_static_picture():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    app = explorer_app()
    assert list(app.widget.titles) == list(app.explorers) and len(app.explorers) == 8 and "Samplers" in app.explorers
    assert [e.image.value[:4] for e in app.explorers.values()] == [b"\x89PNG"] + [b""] * 7  # only the open tab is rendered
    for i in range(8): app.widget.selected_index = i  # as clicking the tabs does
    assert all(e.image.value[:4] == b"\x89PNG" for e in app.explorers.values())
    assert all("sched-nb-explorer" in e.widget._dom_classes for e in app.explorers.values())
    shell = InteractiveShell.instance()
    ex = explore_discrete()
    data, _ = shell.display_formatter.format(ex)
    assert "application/vnd.jupyter.widget-view+json" in data  # the live widget, for Jupyter and Voila
    assert base64.b64decode(data["image/png"])[:4] == b"\x89PNG"  # its picture, for pages without a kernel
    with capture_output() as cap: shell.display_formatter.format(ex)
    assert cap.stdout == ""


def test_import_sched_nb_stays_light():
    code = ("import sys, sched_nb; heavy = [m for m in ('matplotlib', 'ipywidgets', 'sched_nb.plots', 'sched_nb.widgets', "
            "'sched_nb.cli') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb")) + [ROOT / "sched_nb" / "explorer.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_widget_state_in_notebooks(path):
    text = path.read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-state+json" not in text, (
        f"{path.name} stores widget state (nbconvert --execute saves it and nbdev_clean keeps it): drop "
        "the notebook's metadata['widgets'] before committing")
    assert len(text.encode()) < 200_000, f"{path.name} is {len(text.encode())} bytes"


def test_the_explorer_notebook_is_clean():
    nb = json.loads((ROOT / "sched_nb" / "explorer.ipynb").read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(not c.get("outputs") for c in code)
    assert "explorer_app()" in "".join(code[-1]["source"])


def test_nothing_is_printed_when_a_notebook_ends_with_an_explorer():
    "nbdev_test and the docs build run cells in execnb's shell, which used to print the explorer's reprs."
    code = "from sched_nb.widgets import explore_flow\nexplore_flow(shift=2.0)"
    r = subprocess.run([sys.executable, "-c", f"from execnb.shell import CaptureShell; o = CaptureShell().run({code!r}); "
                        "print('KINDS', [sorted(x.get('data', {})) for x in o])"], capture_output=True, text=True, check=True)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("KINDS"), r.stdout  # nothing printed before the outputs
    assert "application/vnd.jupyter.widget-view+json" in lines[0] and "image/png" in lines[0]


def legend_and_axes_boxes(ex):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    canvas = FigureCanvasAgg(ex.fig); canvas.draw()
    r = canvas.get_renderer()
    return [l.get_window_extent(r) for l in ex.fig.legends], [a.get_window_extent(r) for a in ex.fig.axes]


@pytest.mark.parametrize("make", [explore_discrete, explore_continuous, explore_cascade, explore_flow,
                                  explore_parameterizations, explore_steps, explore_families], ids=lambda f: f.__name__)
def test_pictures_are_wide_legible_and_keep_legends_off_the_curves(make):
    ex = make()
    w, h = png_size(ex.render())
    assert w >= 1000, f"{w} pixels wide: too narrow to fill a page"
    assert ex.image.layout.width == "100%"
    legends, axes = legend_and_axes_boxes(ex)
    assert legends, "no legend"
    for lg in legends:
        for ax in axes: assert not lg.overlaps(ax), "a legend lies over the curves"
    dpi = ex.fig.dpi
    texts = [t for ax in ex.fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels() + [ax.xaxis.label, ax.yaxis.label]]
    texts += [t for lg in ex.fig.legends for t in lg.get_texts()]
    sizes = [t.get_fontsize() * dpi / 72 for t in texts if t.get_text() and t.get_visible()]
    assert min(sizes) >= 10, f"text of {min(sizes):.1f} pixels"


def test_a_change_that_moves_only_the_table_says_so():
    ex = FlowExplorer(compare=())
    ex.update(multiplier=10.0)  # the network's timesteps only
    assert "multiplier=10: the curves do not change, only the table" in ex.status.value
    assert describe(ex.model)["timestep_max"] == pytest.approx(10.0)
    ex.update(shift=2.0)
    assert ex.status.value == ""


def test_comparison_curves_are_explained():
    ex = explore_discrete()
    assert "Kept for comparison from the start" in ex.status.value and "zsnr=True (rescaled to zero terminal SNR" in ex.status.value
    assert "kept: zsnr=True" in ex.readout.value


def test_atlas_legend_names_the_curves_that_coincide():
    fc = explore_families()
    texts = [t.get_text() for t in fc.fig.legends[0].get_texts()]
    assert "discrete_edm\n  (same sigmas as discrete)" in texts and "continuous_v\n  (same sigmas as continuous_edm)" in texts
    assert any(t.startswith("flux\n  (within") and t.endswith("of discrete_flow, shift=3)") for t in texts)
    edm = [l for l in fc.axes[0].get_lines() if l.get_label() == "discrete_edm"][0]
    assert edm.get_marker() == "o" and edm.get_markevery() is not None  # drawn so that both twins show


# ---------------------------------------------------------------------------------------------------------- samplers

def test_sampler_explorer_offers_each_samplers_own_options():
    from sched_nb.samplers import SAMPLERS
    from sched_nb.toy import run_sampler, sampler_names, sampler_options
    from sched_nb.widgets import explore_samplers, sampler_model
    ex = explore_samplers()
    assert set(sampler_names()) >= set(SAMPLERS)  # every registered sampler is offered
    assert list(ex.controls["a_sampler"].options) == sampler_names()
    assert list(ex.controls["b_sampler"].options) == ["none"] + sampler_names()
    den, noise = sampler_model("exact mixture")[0], torch.randn(300, 2, generator=torch.Generator().manual_seed(0))
    for name in sampler_names():
        ex.update(a_sampler=name)
        options = sorted(k[2:] for k in ex.controls if k.startswith("a_") and k[2:] not in ("sampler", "scheduler", "steps"))
        assert options == sorted(sampler_options(name)), name
        assert [w.description for w in ex._option_boxes["a"].children] == [f"A: {k}" for k in sampler_options(name)]
        try: run_sampler(den, noise, name, "karras", 10, seed=1); refusal = None
        except (ValueError, TypeError, RuntimeError) as e: refusal = str(e)  # a sampler that needs what this model lacks
        assert ex.error == refusal, f"{name}: {ex.error}"  # none, or the sampler's own refusal, shown


def test_sampler_explorer_driven_through_its_controls():
    from sched_nb.samplers import sample
    from sched_nb.schedulers import calculate_sigmas
    from sched_nb.toy import sliced_wasserstein
    from sched_nb.widgets import explore_samplers, sampler_model
    ex = explore_samplers()
    ex.widget
    before = ex.image.value
    ex.update(b_sampler="heun", b_steps=6, particles=150)
    ex.controls["a_sampler"].value = "euler_ancestral"  # as the dropdown does in a browser
    ex.controls["a_eta"].value = 0.25  # a slider the new sampler brought
    assert ex.values["a_eta"] == 0.25 and ex.values["b_steps"] == 6
    assert ex.image.value != before
    den, data = sampler_model("exact mixture")
    noise = torch.randn(150, 2, generator=torch.Generator().manual_seed(0))
    x = sample(den, noise, calculate_sigmas(den.model_sampling, "karras", 6), "heun", disable=True).float()
    torch.testing.assert_close(ex.runs["b"]["x"], x)
    assert ex.runs["b"]["calls"] == 11 and ex.runs["a"]["calls"] == 10
    assert ex.runs["b"]["score"] == pytest.approx(sliced_wasserstein(x, data(150, torch.Generator().manual_seed(2))))
    assert "euler_ancestral" in ex.readout.value and "eta=0.25" in ex.readout.value
    paths = [c for ax in ex.fig.axes for c in ax.collections if c.get_gid() == "a paths"][0]
    assert len(paths.get_segments()) == 150 * 10  # every particle's every step
    ex.update(a_eta=-1.0)
    assert ex.error and "eta" in ex.error  # the sampler's own refusal, shown; the last good run stays
    assert ex.runs["a"]["calls"] == 10 and ex.runs["a"]["choice"]["options"]["eta"] == 0.25


def test_sampler_explorer_on_the_trained_toy():
    from sched_nb.parameterizations import CONST
    from sched_nb.toy import toy_models
    from sched_nb.widgets import explore_samplers, sampler_model
    ex = explore_samplers(model="trained toy, EPS", a_sampler="dpmpp_2m", a_steps=20, b_sampler="none", particles=400)
    assert ex.error is None and list(ex.runs) == ["a"]
    assert ex.result["score"] < 0.1 and not isinstance(ex.models["trained toy, EPS"].model_sampling, CONST)
    assert sampler_model("trained toy, EPS")[0] is toy_models()["EPS"]  # one cache of the trained toy models


@pytest.mark.parametrize("module", sorted(__import__("sched_nb")._PUBLIC))
def test_every_public_name_imports(module):
    "Each name `sched_nb/__init__.py` maps to a module is defined there and reachable as sched_nb.NAME."
    import importlib
    import sched_nb
    mod = importlib.import_module(f"sched_nb.{module}")
    for name in sched_nb._PUBLIC[module]:
        assert hasattr(mod, name), f"sched_nb.{module} has no {name}"
        assert getattr(sched_nb, name) is getattr(mod, name)
