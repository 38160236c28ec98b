"""The registry and `model_sampling` factory: every schedule reachable, names and classes, errors, pickling."""
import copy
import pickle
import subprocess
import sys

import pytest
import torch

import sched_nb
from sched_nb import compose
from sched_nb.compose import DEFAULT_PARAMETERIZATION, PARAMETERIZATIONS, SCHEDULES, model_sampling
from helpers import load_golden

SCHEDULE_NAMES = ["discrete", "discrete_distilled", "discrete_edm", "continuous_edm", "continuous_v",
                  "stable_cascade", "discrete_flow", "flux", "cosmos_rflow"]
PARAM_NAMES = ["eps", "v_prediction", "edm", "x0", "const", "lcm", "cosmos_rflow"]


def test_registries_hold_the_documented_names():
    assert list(SCHEDULES) == SCHEDULE_NAMES
    assert set(PARAM_NAMES) <= set(PARAMETERIZATIONS) and "img_to_img" in PARAMETERIZATIONS
    assert SCHEDULES["stable_cascade"] is sched_nb.StableCascadeSampling
    assert PARAMETERIZATIONS["const"] is sched_nb.CONST
    assert sched_nb.model_sampling is model_sampling and sched_nb.SCHEDULES is SCHEDULES


@pytest.mark.parametrize("schedule", SCHEDULE_NAMES)
def test_every_schedule_is_reachable_with_its_default(schedule, device):
    ms = model_sampling(schedule).to(device)
    assert isinstance(ms, SCHEDULES[schedule])
    assert isinstance(ms, PARAMETERIZATIONS[DEFAULT_PARAMETERIZATION[schedule]])
    assert ms.sigmas.device.type == device.type
    sigma = ms.sigmas[[0, len(ms.sigmas) // 2, -1]]
    assert ms.timestep(sigma).device.type == device.type
    assert type(ms.percent_to_sigma(0.5)) is float
    x = torch.randn(3, 2, 4, 4, device=device)
    assert ms.calculate_denoised(sigma, x, x).shape == x.shape


def test_defaults_per_schedule():
    assert DEFAULT_PARAMETERIZATION == {
        "discrete": "eps", "discrete_distilled": "lcm", "discrete_edm": "edm", "continuous_edm": "edm",
        "continuous_v": "v_prediction", "stable_cascade": "eps", "discrete_flow": "const", "flux": "const",
        "cosmos_rflow": "cosmos_rflow"}


EDM_TIMED = ("discrete_edm", "continuous_edm")   # timestep ln(sigma) / 4: negative below sigma 1, -inf at 0


@pytest.mark.parametrize("schedule", SCHEDULE_NAMES)
@pytest.mark.parametrize("param", PARAM_NAMES + ["img_to_img"])
def test_every_pair_builds(schedule, param):
    if param == "lcm" and schedule in EDM_TIMED:
        with pytest.raises(ValueError, match=r"'lcm' needs a schedule whose timestep is >= 0.*timestep\(0\) is -inf"):
            model_sampling(schedule, param)
        ms = compose.combine(SCHEDULES[schedule], PARAMETERIZATIONS[param])()   # built by hand: defined, never NaN
        x = torch.ones(2, 3)
        assert torch.isfinite(ms.calculate_denoised(torch.tensor([0.0, 1.0]), x, x)).all()
        return
    ms = model_sampling(schedule, param)
    assert isinstance(ms, SCHEDULES[schedule]) and isinstance(ms, PARAMETERIZATIONS[param])
    assert type(ms).__mro__[1:3] == (SCHEDULES[schedule], SCHEDULES[schedule].__mro__[1])
    assert type(ms).__module__ == "sched_nb.compose"


def test_same_pair_gives_same_class():
    a = model_sampling("discrete", "v_prediction")
    b = model_sampling(sched_nb.ModelSamplingDiscrete, sched_nb.V_PREDICTION, zsnr=True)
    c = model_sampling("DISCRETE", "V_PREDICTION")
    assert type(a) is type(b) is type(c)
    assert type(a).__name__ == "ModelSamplingDiscrete_V_PREDICTION"
    assert type(model_sampling("discrete", "eps")) is not type(a)


def test_classes_are_accepted():
    ms = model_sampling(sched_nb.ModelSamplingDiscreteFlow, sched_nb.CONST, shift=3.0)
    assert isinstance(ms, sched_nb.CONST) and ms.shift == 3.0

    class MyFlux(sched_nb.ModelSamplingFlux):
        pass
    mine = model_sampling(MyFlux)
    assert isinstance(mine, MyFlux) and isinstance(mine, sched_nb.CONST)   # default from the nearest registered ancestor

    class MyParam(sched_nb.V_PREDICTION):
        pass
    assert isinstance(model_sampling("continuous_edm", MyParam), MyParam)


def test_an_already_combined_class_is_built_as_it_is():
    cls = type("M", (sched_nb.ModelSamplingContinuousEDM, sched_nb.EDM), {})
    ms = model_sampling(cls, sigma_data=0.5)
    assert type(ms) is cls and ms.sigma_data == 0.5


def test_settings_reach_the_schedule():
    pg = model_sampling("continuous_edm", "edm", sigma_data=0.5, sigma_max=80.0)
    assert pg.sigma_data == 0.5 and abs(pg.sigma_max.item() - 80.0) < 1e-4
    sigma = torch.tensor([1.0])
    torch.testing.assert_close(pg.c_skip(sigma), torch.tensor([0.2]))
    assert model_sampling("stable_cascade", shift=2.0).shift == 2.0
    assert model_sampling("flux", shift=0.5).shift == 0.5
    zs = model_sampling("discrete", "v_prediction", zsnr=True)
    assert zs.zsnr is True
    assert zs.sigmas[-1].item() > 4000   # the zero-terminal-SNR rescale ran
    assert model_sampling("discrete", beta_schedule="cosine").beta_schedule == "cosine"
    assert len(model_sampling("discrete_distilled").sigmas) == 50
    assert len(model_sampling("discrete_distilled", original_timesteps=25).sigmas) == 25   # a factory setting


def test_factory_settings_are_applied_after_the_reference_constructor():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2   # SD's own
    ms = model_sampling("discrete", "v_prediction", given_betas=betas, zsnr=True)
    assert ms.beta_schedule == "given" and ms.zsnr is True
    assert torch.equal(ms.sigmas, model_sampling("discrete", zsnr=True).sigmas)
    lcm = model_sampling("discrete_distilled", given_betas=betas, original_timesteps=10)
    assert lcm.sigmas.shape == (10,) and lcm.skip_steps == 100 and lcm.timestep(lcm.sigmas[:1]).item() == 99
    with pytest.raises(ValueError, match="ModelSamplingDiscrete does not take the setting 'sigma_data'"):
        model_sampling("discrete", sigma_data=0.5)   # the reference's discrete sigma_data is always 1.0
    with pytest.raises(ValueError, match="StableCascadeSampling does not take the setting 'given_betas'"):
        model_sampling("stable_cascade", given_betas=betas)


def test_docstring_names_every_registered_name():
    for name in [*SCHEDULES, *PARAMETERIZATIONS]:
        assert repr(name) in model_sampling.__doc__, name


def test_factory_matches_golden_through_compose():
    g = load_golden()
    case = g["continuous_edm"][2]   # sigma_min 0.002, sigma_max 80, sigma_data 0.5: Playground style
    ms = model_sampling("continuous_edm", "edm", **case["settings"])
    torch.testing.assert_close(ms.sigmas, torch.tensor(case["sigmas"]), rtol=1e-4, atol=0)
    sc = g["stable_cascade"][1]
    ms = model_sampling("stable_cascade", **sc["settings"])
    torch.testing.assert_close(ms.sigmas, torch.tensor(sc["sigmas"]), rtol=2e-3, atol=0)
    fl = g["flow"][1]
    ms = model_sampling("discrete_flow", **fl["settings"])
    torch.testing.assert_close(ms.sigmas, torch.tensor(fl["sigmas"]), rtol=1e-4, atol=0)


@pytest.mark.parametrize("bad", ["karras", "", "sd3", None, 3, sched_nb.EPS, sched_nb.ModelSamplingFlux()])
def test_bad_schedule_lists_the_valid_names(bad):
    with pytest.raises(ValueError) as e:
        model_sampling(bad)
    msg = str(e.value)
    assert msg.startswith("schedule must be one of")
    for name in SCHEDULE_NAMES:
        assert repr(name) in msg


@pytest.mark.parametrize("bad", ["epsilon", "v", 1.0, sched_nb.ModelSamplingDiscrete, sched_nb.EPS()])
def test_bad_parameterization_lists_the_valid_names(bad):
    with pytest.raises(ValueError) as e:
        model_sampling("discrete", bad)
    msg = str(e.value)
    assert msg.startswith("parameterization must be one of")
    for name in PARAM_NAMES:
        assert repr(name) in msg


@pytest.mark.parametrize("schedule, settings, message", [
    ("continuous_edm", {"sigma_mx": 80.0}, "does not take the setting 'sigma_mx'; its settings are 'sigma_min', 'sigma_max', 'sigma_data'"),
    ("flux", {"zsnr": True}, "ModelSamplingFlux does not take the setting 'zsnr'"),
    ("stable_cascade", {"shfit": 2.0}, "StableCascadeSampling does not take the setting 'shfit'"),
    ("discrete", {"sigma_max": 80.0}, "ModelSamplingDiscrete does not take the setting 'sigma_max'"),
    ("continuous_edm", {"sigma_min": 0.0}, "sigma_min must be > 0, got 0.0"),
    ("continuous_edm", {"sigma_min": 90.0, "sigma_max": 80.0}, "sigma_min must be < sigma_max"),
    ("continuous_v", {"sigma_data": -1.0}, "sigma_data must be > 0"),
    ("stable_cascade", {"shift": 0.0}, "shift must be > 0, got 0.0"),
    ("discrete_flow", {"shift": float("nan")}, "shift must be a finite number, got nan"),
    ("discrete_flow", {"multiplier": 0.0}, "multiplier must be > 0, got 0.0"),
    ("flux", {"shift": float("inf")}, "shift must be a finite number, got inf"),
])
def test_bad_settings_are_refused(schedule, settings, message):
    with pytest.raises(ValueError, match=message):
        model_sampling(schedule, **settings)


@pytest.mark.parametrize("schedule", SCHEDULE_NAMES)
def test_pickle_round_trip(schedule):
    ms = model_sampling(schedule)
    back = pickle.loads(pickle.dumps(ms))
    assert type(back) is type(ms)
    torch.testing.assert_close(back.sigmas, ms.sigmas)
    torch.testing.assert_close(back.log_sigmas, ms.log_sigmas)
    sigma = ms.sigmas[[1, -2]]
    torch.testing.assert_close(back.timestep(sigma), ms.timestep(sigma))
    assert back.percent_to_sigma(0.3) == ms.percent_to_sigma(0.3)
    assert type(copy.deepcopy(ms)) is type(ms)
    assert pickle.loads(pickle.dumps(type(ms))) is type(ms)


def test_pickle_loads_in_a_fresh_process(tmp_path):
    path = tmp_path / "ms.pt"
    torch.save(model_sampling("stable_cascade", "v_prediction", shift=2.0), path)
    code = ("import torch; ms = torch.load(%r, weights_only=False); "
            "print(type(ms).__name__, ms.shift, type(ms.percent_to_sigma(0.5)).__name__)" % str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["StableCascadeSampling_V_PREDICTION", "2.0", "float"]


def test_state_dict_round_trip():
    a = model_sampling("continuous_edm", sigma_max=80.0)
    b = model_sampling("continuous_edm")
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.sigmas, a.sigmas)


def test_module_getattr():
    assert compose.ModelSamplingFlux_CONST is type(model_sampling("flux"))
    with pytest.raises(AttributeError, match="no attribute 'NotAClass'"):
        compose.NotAClass


def test_same_name_different_classes_get_distinct_names():
    class ModelSamplingFlux(sched_nb.ModelSamplingFlux):   # shadows a registered class's name
        pass
    class EDM(sched_nb.EDM):
        pass
    mine = compose.combine(ModelSamplingFlux, EDM)   # before the registered pair is ever built
    assert mine.__name__ == "ModelSamplingFlux_EDM2"
    registered = compose.combine(sched_nb.ModelSamplingFlux, sched_nb.EDM)
    assert registered.__name__ == "ModelSamplingFlux_EDM" and registered is not mine
    assert getattr(compose, mine.__name__) is mine and compose.ModelSamplingFlux_EDM is registered
    back = pickle.loads(pickle.dumps(compose.combine(ModelSamplingFlux, EDM)()))
    assert type(back) is mine


OWN = ["continuous_edm", "continuous_v", "stable_cascade", "discrete_flow", "flux"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("schedule", OWN)
def test_conversions_do_not_synchronize(schedule):
    ms = model_sampling(schedule).to("cuda")
    x = torch.rand(8, device="cuda") * 0.9 + 0.05
    ms.timestep(x); ms.sigma(x)   # warm up (lazy CUDA initialisation may synchronise once)
    torch.cuda.set_sync_debug_mode("error")
    try:
        ms.sigma(ms.timestep(x))
        ms.calculate_denoised(x, torch.randn(8, 4, device="cuda"), torch.randn(8, 4, device="cuda"))
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("name, settings, shown", [
    ("discrete_flow", {"shift": 3.0, "multiplier": 1.0}, ["shift=3.0", "multiplier=1.0", "timesteps=1000"]),
    ("flux", {"shift": 0.5}, ["shift=0.5", "timesteps=10000"]),
    ("continuous_edm", {"sigma_min": 0.002, "sigma_max": 80.0, "sigma_data": 0.5}, ["sigma_min=0.002", "sigma_max=80", "sigma_data=0.5"]),
    ("continuous_v", {"sigma_min": 0.03, "sigma_max": 500.0}, ["sigma_min=0.03", "sigma_max=500"]),
    ("stable_cascade", {"shift": 2.0}, ["shift=2.0"]),
    ("discrete", {"zsnr": True}, ["zsnr=True"])])
def test_a_model_samplings_repr_shows_its_settings(name, settings, shown):
    text = repr(model_sampling(name, **settings))
    assert all(s in text for s in shown), text
