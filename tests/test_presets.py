"""Presets against published numbers: the training schedules diffusers builds from the models' shipped configs, the
shifts and ranges of the reference's model configs, Flux's and SD3's resolution-dependent shift at published points,
and the presets explorer driven headless."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import sched_nb
from sched_nb.presets import PRESETS, available_presets, flux_shift, mu_from_seq_len, plot_presets, preset, sd3_resolution_shift
from sched_nb.parameterizations import CONST, EDM, EPS, LCM, V_PREDICTION

CONFIGS = Path(__file__).parent / "data" / "scheduler_configs"
NAMES = ["sd15", "sd2-v", "sdxl", "sdxl-zsnr-v", "sd3", "flux-dev", "flux-schnell", "auraflow", "stable-cascade-c",
         "stable-cascade-b", "playground-v2.5", "svd", "cosmos-predict2", "stable-audio", "lcm-sd15", "pixart",
         "hunyuan-dit", "ltxv", "wan", "hunyuan-video", "mochi", "lumina2", "hidream"]


def test_every_model_of_the_list_has_a_preset():
    assert list(PRESETS) == NAMES
    for name, entry in PRESETS.items():
        assert set(entry) == {"schedule", "parameterization", "settings", "source"} and entry["source"], name


def _diffusers_training_sigmas(config):
    "The training sigmas diffusers builds for a scheduler config (ascending, float64 from its float32 alphas_cumprod)."
    diffusers = pytest.importorskip("diffusers")
    scheduler = getattr(diffusers, config["_class_name"]).from_config(config)
    ac = scheduler.alphas_cumprod.double()
    return ((1 - ac) / ac).sqrt()


@pytest.mark.parametrize("name,config,cls", [("sd15", "sd15_pndm", EPS), ("sdxl", "sdxl_euler", EPS),
                                             ("sd2-v", "sd21v_ddim", V_PREDICTION), ("lcm-sd15", "lcm_dreamshaper_v7", LCM)])
def test_discrete_presets_are_the_shipped_training_schedules(name, config, cls):
    ms = preset(name)
    want = _diffusers_training_sigmas(json.loads((CONFIGS / f"{config}.json").read_text()))
    if name == "lcm-sd15": want = want[19::20]   # the 50 of 1000 teacher steps LCM keeps: 19, 39, ..., 999
    assert isinstance(ms, cls)
    torch.testing.assert_close(ms.sigmas.double(), want, rtol=2e-5, atol=0)   # diffusers keeps float32 betas


def test_pixart_and_hunyuan_dit_betas():
    "Their betas as published, in float64: DDPM's linear 1e-4 to 0.02 (Ho et al. 2020), Hunyuan-DiT's scaled-linear to 0.018."
    for name, betas in (("pixart", torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)),
                        ("hunyuan-dit", torch.linspace(0.00085 ** 0.5, 0.018 ** 0.5, 1000, dtype=torch.float64) ** 2)):
        ac = torch.cumprod(1 - betas, 0)
        torch.testing.assert_close(preset(name).sigmas.double(), ((1 - ac) / ac).sqrt(), rtol=1e-6, atol=0)
    assert isinstance(preset("hunyuan-dit"), V_PREDICTION) and isinstance(preset("pixart"), EPS)


def test_zero_terminal_snr():
    ms = preset("sdxl-zsnr-v")
    assert isinstance(ms, V_PREDICTION)
    assert 1 / (1 + ms.sigma_max.item() ** 2) == pytest.approx(4.8973451890853435e-08, rel=1e-5)


@pytest.mark.parametrize("name,shift,multiplier", [("sd3", 3.0, 1000), ("flux-schnell", 1.0, 1.0), ("auraflow", 1.73, 1.0),
                                                   ("wan", 8.0, 1000), ("hunyuan-video", 7.0, 1000), ("mochi", 6.0, 1.0),
                                                   ("lumina2", 6.0, 1.0), ("hidream", 3.0, 1000)])
def test_flow_presets(name, shift, multiplier):
    ms = preset(name)
    assert isinstance(ms, CONST) and ms.shift == shift and ms.multiplier == multiplier
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    want = shift * t / (1 + (shift - 1) * t)                  # SD3's shift (Esser et al. 2024, eq. 23)
    torch.testing.assert_close(ms.sigma(t * multiplier).double(), want, rtol=1e-6, atol=0)


def test_sd3_preset_is_the_shipped_flow_config():
    diffusers = pytest.importorskip("diffusers")
    config = json.loads((CONFIGS / "sd3_flow_match_euler.json").read_text())
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler.from_config(config)
    torch.testing.assert_close(preset("sd3").sigmas, scheduler.sigmas.flip(0), rtol=1e-6, atol=0)


@pytest.mark.parametrize("name,mu", [("flux-dev", 1.15), ("ltxv", 2.37)])
def test_flux_style_presets(name, mu):
    ms = preset(name)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    torch.testing.assert_close(ms.sigma(t).double(), math.exp(mu) / (math.exp(mu) + 1 / t - 1), rtol=1e-6, atol=0)


def test_edm_family():
    pg = preset("playground-v2.5")
    config = json.loads((CONFIGS / "playground_v25_edm_dpmsolver.json").read_text())
    assert isinstance(pg, EDM) and pg.sigma_data == config["sigma_data"] == 0.5
    assert float(pg.sigma_min) == pytest.approx(config["sigma_min"]) and float(pg.sigma_max) == pytest.approx(config["sigma_max"])
    svd = preset("svd")
    assert isinstance(svd, V_PREDICTION) and float(svd.sigma_max) == pytest.approx(700.0) and float(svd.sigma_min) == pytest.approx(0.002)
    audio = preset("stable-audio")
    assert type(audio).__bases__[0] is sched_nb.ModelSamplingContinuousV
    assert (float(audio.sigma_min), float(audio.sigma_max)) == pytest.approx((0.03, 500.0))


def test_stable_cascade_shifts():
    c, b = preset("stable-cascade-c"), preset("stable-cascade-b")
    assert (c.shift, b.shift) == (2.0, 1.0) and isinstance(c, EPS)
    # a shift s moves the log SNR by -2 ln s at every time (Pernias et al. 2024)
    t = torch.tensor([0.3, 0.5, 0.7], dtype=torch.float64)
    gap = -2 * (c.sigma(t).double().log() - b.sigma(t).double().log())
    torch.testing.assert_close(gap, torch.full_like(gap, -2 * math.log(2.0)), rtol=0, atol=1e-3)


def test_cosmos_predict2():
    if "cosmos-predict2" not in available_presets():
        pytest.skip("ModelSamplingCosmosRFlow and COSMOS_RFLOW are not defined in this sched_nb")
    ms = preset("cosmos-predict2")
    assert type(ms).__name__.startswith("ModelSamplingCosmosRFlow")
    assert (float(ms.sigma_min), float(ms.sigma_max)) == pytest.approx((0.002, 80.0))


def test_resolution_shifts_at_published_points():
    assert flux_shift(1024, 1024) == pytest.approx(1.15, abs=1e-12)          # FLUX.1 at 1024 x 1024: mu = max_shift
    assert flux_shift(256, 256) == pytest.approx(0.5 + (256 - 256) * 0.65 / 3840, abs=1e-12)
    assert mu_from_seq_len(256) == pytest.approx(0.5) and mu_from_seq_len(4096) == pytest.approx(1.15)
    assert mu_from_seq_len(2176) == pytest.approx((0.5 + 1.15) / 2)           # midway
    assert sd3_resolution_shift(1024, 1024) == pytest.approx(3.0)            # SD3's shipped shift
    # Esser et al. (2024), 5.3.2: the shift between resolutions is sqrt(m / n) for m and n pixels
    assert sd3_resolution_shift(1024, 1024, base_shift=1.0, base_width=256, base_height=256) == pytest.approx(4.0)
    assert sd3_resolution_shift(512, 512) == pytest.approx(1.5)
    try: from diffusers.pipelines.flux.pipeline_flux import calculate_shift
    except Exception: return   # the pipeline module needs transformers
    for seq in (256, 1024, 4096, 6000):
        assert mu_from_seq_len(seq) == pytest.approx(calculate_shift(seq), abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="name must be one of 'sd15', 'sd2-v'"):
        preset("stable-diffusion")
    with pytest.raises(ValueError, match="width must be > 0, got -5"):
        flux_shift(-5, 512)
    with pytest.raises(TypeError, match="height must be a real number"):
        sd3_resolution_shift(512, "512")
    with pytest.raises(ValueError, match="seq_len must be > 0"):
        mu_from_seq_len(0)
    with pytest.raises(ValueError, match="names must be one of"):
        plot_presets(["sd15", "sd4"])


def test_plot_presets_draws_each():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = plot_presets(["sd15", "sd3", "playground-v2.5"])
    assert [l.get_gid() for l in ax.get_lines()] == ["sd15", "sd3", "playground-v2.5"]
    import matplotlib.pyplot as plt
    plt.close(ax.figure)


def test_explore_presets_callback_with_other_values():
    pytest.importorskip("ipywidgets")
    from sched_nb.presets import explore_presets
    from sched_nb.schedulers import calculate_sigmas
    ex = explore_presets(preset="wan", scheduler="simple", steps=6)
    ms, sigmas = ex.model
    assert ms.shift == 8.0 and torch.equal(sigmas, calculate_sigmas(preset("wan"), "simple", 6))
    ex.controls["preset"].value = "flux-dev"                 # the widget's own observer runs the update
    ex.controls["steps"].value = 12
    ms, sigmas = ex.model
    assert ms.shift == 1.15 and len(sigmas) == 13
    ex.update(scheduler="karras")
    assert torch.equal(ex.model[1], calculate_sigmas(preset("flux-dev"), "karras", 12))
    ex.keep()
    assert len(ex.kept) == 1
    with pytest.raises(TypeError, match="has no setting 'shift'"):
        ex.update(shift=2.0)


def test_import_stays_light():
    code = ("import sys, sched_nb.presets as p; p.preset('sd3'); p.flux_shift(1024, 1024); "
            "assert not {'matplotlib', 'ipywidgets', 'diffusers'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert sched_nb.preset is preset and sched_nb.flux_shift is flux_shift
