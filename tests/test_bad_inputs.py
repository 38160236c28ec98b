"""Every public constructor, factory and method refuses bad input clearly.

Each row of the table is a call, the exception it must raise, and substrings its message must contain:
the parameter's name, the value given and what is allowed. Rows for functions whose owners have not yet
added the check are marked xfail(strict=True), so they start failing loudly the day the check lands.
"""
import math

import pytest
import torch

import sched_nb
from sched_nb import compose, core
from sched_nb.betas import alphas_cumprod_from_betas, make_beta_schedule, rescale_zero_terminal_snr_sigmas
from sched_nb.compose import model_sampling
from sched_nb.parameterizations import CONST, EDM, EPS, LCM, V_PREDICTION

NAN, INF = math.nan, math.inf
FAMILIES = ["discrete", "discrete_distilled", "discrete_edm", "continuous_edm", "continuous_v",
            "stable_cascade", "discrete_flow", "flux"]

MSD = sched_nb.ModelSamplingDiscrete
Distilled = sched_nb.ModelSamplingDiscreteDistilled
EDMc = sched_nb.ModelSamplingContinuousEDM
Vc = sched_nb.ModelSamplingContinuousV
Cascade = sched_nb.StableCascadeSampling
SD3 = sched_nb.ModelSamplingDiscreteFlow
Flux = sched_nb.ModelSamplingFlux


def row(call, exc, *parts, marks=(), id=None):
    return pytest.param(call, exc, parts, marks=marks, id=id)


X = torch.zeros(3, 4, 2, 2)
SIG3 = torch.tensor([0.5, 1.0, 2.0])

ROWS = [
    # --- names: schedule, parameterization, beta schedule, scheduler, sampler ---
    row(lambda: model_sampling("karras"), ValueError, "schedule must be one of", "'karras'", "'discrete'", "'flux'", id="unknown-schedule"),
    row(lambda: model_sampling(None), ValueError, "schedule must be one of", "None", id="schedule-None"),
    row(lambda: model_sampling("discrete", "epsilon"), ValueError, "parameterization must be one of", "'epsilon'", "'eps'", "'v_prediction'", id="unknown-parameterization"),
    row(lambda: model_sampling("continuous_edm", sigma_mx=80.0), ValueError, "'sigma_mx'", "'sigma_min'", "'sigma_max'", id="unknown-setting"),
    row(lambda: MSD({"beta_schedule": "scaled_linear"}), ValueError, "beta_schedule", "'scaled_linear'", "'linear'", "'cosine'", id="unknown-beta-schedule"),
    row(lambda: MSD({"beta_schedule": None}), ValueError, "beta_schedule", "None", "'linear'", id="beta-schedule-None"),
    row(lambda: make_beta_schedule("Linear", 10), ValueError, "beta_schedule", "'Linear'", "'sqrt_linear'", id="beta-schedule-case"),
    row(lambda: compose.combine("discrete", V_PREDICTION), TypeError, "schedule_cls", "'discrete'", "torch.nn.Module subclass", id="combine-schedule-name"),
    row(lambda: compose.combine(MSD, 3), TypeError, "parameterization_cls", "3", "calculate_denoised", id="combine-parameterization-int"),

    # --- counts ---
    row(lambda: MSD({"timesteps": 0}), ValueError, "timesteps", "got 0", "integer >= 1", id="timesteps-0"),
    row(lambda: MSD({"timesteps": -5}), ValueError, "timesteps", "got -5", "integer >= 1", id="timesteps-negative"),
    row(lambda: MSD({"timesteps": 2.5}), TypeError, "timesteps", "2.5", "integer >= 1", id="timesteps-fraction"),
    row(lambda: MSD({"timesteps": NAN}), TypeError, "timesteps", "nan", "integer >= 1", id="timesteps-nan"),
    row(lambda: MSD({"timesteps": "1000"}), TypeError, "timesteps", "'1000'", "integer >= 1", id="timesteps-str"),
    row(lambda: MSD({"timesteps": True}), TypeError, "timesteps", "True", "integer >= 1", id="timesteps-bool"),
    row(lambda: make_beta_schedule("linear", 0), ValueError, "timesteps", "got 0", "integer >= 1", id="make-beta-schedule-n-0"),
    row(lambda: model_sampling("discrete_distilled", original_timesteps=0), ValueError, "original_timesteps", "got 0", ">= 1", id="original-timesteps-0"),
    row(lambda: model_sampling("discrete_distilled", original_timesteps=2000), ValueError, "original_timesteps", "2000", "<= timesteps (1000)", id="original-timesteps-too-many"),
    row(lambda: SD3().set_parameters(timesteps=0), ValueError, "timesteps", "got 0", ">= 1", id="flow-timesteps-0"),
    row(lambda: Flux().set_parameters(timesteps=0.5), TypeError, "timesteps", "0.5", ">= 1", id="flux-timesteps-fraction"),
    row(lambda: SD3({"multiplier": 0}), ValueError, "multiplier", "0.0", "> 0", id="multiplier-0"),
    row(lambda: SD3({"multiplier": -1000}), ValueError, "multiplier", "-1000.0", "> 0", id="multiplier-negative"),
    row(lambda: SD3({"multiplier": INF}), ValueError, "multiplier", "inf", "finite", id="multiplier-inf"),

    # --- NaN, inf and wrong types in settings ---
    row(lambda: MSD({"linear_start": NAN}), ValueError, "linear_start", "nan", "finite", id="linear-start-nan"),
    row(lambda: MSD({"linear_end": INF}), ValueError, "linear_end", "inf", "finite", id="linear-end-inf"),
    row(lambda: model_sampling("discrete", sigma_data=NAN), ValueError, "sigma_data", "does not take the setting", "'beta_schedule'", id="discrete-sigma-data-not-a-setting"),
    row(lambda: EDMc({"sigma_max": NAN}), ValueError, "sigma_max", "nan", "finite", id="edm-sigma-max-nan"),
    row(lambda: EDMc({"sigma_min": INF}), ValueError, "sigma_min", "inf", "finite", id="edm-sigma-min-inf"),
    row(lambda: EDMc({"sigma_data": INF}), ValueError, "sigma_data", "inf", "finite", id="edm-sigma-data-inf"),
    row(lambda: EDMc({"sigma_data": "1"}), TypeError, "sigma_data", "'1'", "real number", id="edm-sigma-data-str"),
    row(lambda: Cascade({"shift": NAN}), ValueError, "shift", "nan", "finite", id="cascade-shift-nan"),
    row(lambda: SD3({"shift": INF}), ValueError, "shift", "inf", "finite", id="sd3-shift-inf"),
    row(lambda: Flux({"shift": NAN}), ValueError, "shift", "nan", "finite", id="flux-shift-nan"),
    row(lambda: Flux({"shift": -INF}), ValueError, "shift", "-inf", "finite", id="flux-shift-minus-inf"),
    row(lambda: Flux({"shift": None}), TypeError, "shift", "None", "real number", id="flux-shift-None"),
    row(lambda: Flux({"shift": "1.15"}), TypeError, "shift", "'1.15'", "real number", id="flux-shift-str"),
    row(lambda: Cascade().set_parameters(shift=2.0, cosine_s=NAN), ValueError, "cosine_s", "nan", "finite", id="cascade-cosine-s-nan"),
    row(lambda: make_beta_schedule("cosine", 10, cosine_s=INF), ValueError, "cosine_s", "inf", "finite", id="beta-cosine-s-inf"),
    row(lambda: MSD(zsnr="yes"), TypeError, "zsnr", "'yes'", "True or False", id="zsnr-str"),
    row(lambda: MSD({"zsnr": 1}), TypeError, "zsnr", "1", "True or False", id="zsnr-int"),
    row(lambda: MSD(42), TypeError, "model_config", "int", "dict", id="model-config-int"),
    row(lambda: MSD({"sampling_settings": [1]}), TypeError, "sampling_settings", "list", "dict", id="sampling-settings-list"),

    # --- ranges: sigma_min >= sigma_max, non-positive sigma_data and shift, float32 limits ---
    row(lambda: EDMc({"sigma_min": 200.0}), ValueError, "sigma_min", "sigma_max", "200.0", "120.0", "<", id="sigma-min-above-max"),
    row(lambda: EDMc({"sigma_min": 1.0, "sigma_max": 1.0}), ValueError, "sigma_min must be < sigma_max", "1.0", id="sigma-min-equals-max"),
    row(lambda: Vc({"sigma_min": 1.0, "sigma_max": 1.0 + 1e-12}), ValueError, "sigma_min must be < sigma_max", "float32", id="sigma-min-equals-max-in-float32"),
    row(lambda: EDMc().set_parameters(0.1, 0.01, 1.0), ValueError, "sigma_min=0.1", "sigma_max=0.01", "<", id="set-parameters-range"),
    row(lambda: EDMc({"sigma_min": 0.0}), ValueError, "sigma_min", "0.0", "> 0", id="sigma-min-0"),
    row(lambda: EDMc({"sigma_min": -1.0}), ValueError, "sigma_min", "-1.0", "> 0", id="sigma-min-negative"),
    row(lambda: EDMc({"sigma_min": 1e-300}), ValueError, "sigma_min", "1e-300", ">= 1.17549", id="sigma-min-below-float32"),
    row(lambda: EDMc({"sigma_max": 1e300}), ValueError, "sigma_max", "1e+300", "<= 3.4027", id="sigma-max-beyond-float32"),
    row(lambda: EDMc({"sigma_data": 0}), ValueError, "sigma_data", "0.0", "> 0", id="edm-sigma-data-0"),
    row(lambda: Vc({"sigma_data": -0.5}), ValueError, "sigma_data", "-0.5", "> 0", id="v-sigma-data-negative"),
    row(lambda: EPS(sigma_data=0.0), ValueError, "sigma_data", "0.0", "> 0", id="eps-sigma-data-0"),
    row(lambda: V_PREDICTION(sigma_data=-1), ValueError, "sigma_data", "-1.0", "> 0", id="v-prediction-sigma-data-negative"),
    row(lambda: EDM(sigma_data=NAN), ValueError, "sigma_data", "nan", "finite", id="edm-param-sigma-data-nan"),
    row(lambda: Cascade({"shift": 0.0}), ValueError, "shift", "0.0", "> 0", id="cascade-shift-0"),
    row(lambda: Cascade({"shift": -2.0}), ValueError, "shift", "-2.0", "> 0", id="cascade-shift-negative"),
    row(lambda: SD3({"shift": 0.0}), ValueError, "shift", "0.0", "> 0", id="sd3-shift-0"),
    row(lambda: SD3({"shift": -3.0}), ValueError, "shift", "-3.0", "> 0", id="sd3-shift-negative"),
    row(lambda: model_sampling("discrete_flow", shift=0), ValueError, "shift", "0.0", "> 0", id="factory-shift-0"),
    row(lambda: Cascade().set_parameters(shift=2.0, cosine_s=-0.1), ValueError, "cosine_s", "-0.1", ">= 0", id="cascade-cosine-s-negative"),
    row(lambda: make_beta_schedule("cosine", 10, cosine_s=-1.0), ValueError, "cosine_s", "-1.0", ">= 0", id="beta-cosine-s-negative"),

    # --- betas outside (0, 1) ---
    row(lambda: MSD({"linear_start": -1e-4}), ValueError, "linear_start", "-0.0001", "> 0", id="linear-start-negative"),
    row(lambda: MSD({"beta_schedule": "sqrt_linear", "linear_start": 0.0}), ValueError, "linear_start", "0.0", "> 0", id="linear-start-0"),
    row(lambda: MSD({"linear_end": 1.2}), ValueError, "linear_end=1.2", "betas outside (0, 1)", "0 < beta < 1", id="linear-end-above-1"),
    row(lambda: MSD({"beta_schedule": "sqrt_linear", "linear_start": 0.5, "linear_end": 1.0}), ValueError, "linear_end=1.0", "beta[9", "(0, 1)", id="linear-end-1"),
    row(lambda: MSD({"beta_schedule": "sqrt", "linear_start": 0.5, "linear_end": 0.9}), ValueError, "linear_start=0.5", "linear_end=0.9", "beyond float32", id="betas-overflow-float32"),
    row(lambda: model_sampling("discrete", given_betas=[0.5, 1.0]), ValueError, "given_betas", "beta[1] = 1.0", "(0, 1)", id="given-betas-1"),
    row(lambda: model_sampling("discrete", given_betas=[0.1, -0.1]), ValueError, "given_betas", "-0.1", "(0, 1)", id="given-betas-negative"),
    row(lambda: model_sampling("discrete", given_betas=[0.1, NAN]), ValueError, "given_betas", "nan", "(0, 1)", id="given-betas-nan"),
    row(lambda: model_sampling("discrete", given_betas=[]), ValueError, "given_betas", "(0,)", "non-empty", id="given-betas-empty"),
    row(lambda: model_sampling("discrete", given_betas=[[0.1, 0.2], [0.3, 0.4]]), ValueError, "given_betas", "(2, 2)", "1-D", id="given-betas-2d"),
    row(lambda: model_sampling("discrete", given_betas="0.1, 0.2"), TypeError, "given_betas", "str", "1-D sequence of numbers", id="given-betas-str"),
    row(lambda: MSD()._register_schedule(given_betas=[0.5, 1.0]), ValueError, "given_betas", "beta[1] = 1.0", "(0, 1)", id="register-given-betas-1"),
    row(lambda: alphas_cumprod_from_betas(torch.full((4,), 1e-80, dtype=torch.float64)), ValueError, "given_betas", "0.0", "beyond float32", id="given-betas-underflow"),
    row(lambda: rescale_zero_terminal_snr_sigmas(torch.tensor([1.0, 1.0, 2.0])), ValueError, "sigmas", "1.0", "strictly increasing", id="rescale-not-increasing"),
    row(lambda: rescale_zero_terminal_snr_sigmas(torch.tensor([0.1, NAN, 2.0])), ValueError, "sigmas", "nan", "finite", id="rescale-nan"),
    row(lambda: rescale_zero_terminal_snr_sigmas(torch.tensor([])), ValueError, "sigmas", "(0,)", "non-empty", id="rescale-empty"),

    # --- sigma batches that do not fit the latent ---
    row(lambda: EPS().calculate_denoised(torch.ones(3, 2), X, X), ValueError, "sigma", "(3, 2)", "[B, 1, ..., 1]", id="sigma-rank-2"),
    row(lambda: V_PREDICTION().calculate_input(torch.ones(2), X), ValueError, "sigma", "(2,)", "B = 1 or 3", id="sigma-batch-mismatch"),
    row(lambda: EPS().noise_scaling(torch.ones(3, 2, 1, 1), X, X), ValueError, "sigma", "(3, 2, 1, 1)", "[B, 1, ..., 1]", id="sigma-trailing-not-1"),
    row(lambda: CONST().inverse_noise_scaling(torch.ones(4), X), ValueError, "sigma", "(4,)", "B = 1 or 3", id="const-inverse-batch-mismatch"),
    row(lambda: EDM().calculate_denoised(torch.ones(3), torch.tensor(1.0), torch.tensor(1.0)), ValueError, "sigma", "(3,)", "scalar", id="sigma-batch-for-scalar-latent"),
    row(lambda: model_sampling("discrete", "v_prediction").calculate_denoised(torch.ones(5), X, X), ValueError, "sigma", "(5,)", "B = 1 or 3", id="combined-batch-mismatch"),
    row(lambda: LCM().calculate_denoised(SIG3, X, X), TypeError, "LCM", "timestep", "model sampling", id="lcm-without-schedule"),

    # --- an integer timestep cannot carry NaN: refused on the CPU (where checking costs no device sync) ---
    row(lambda: MSD().timestep(torch.tensor([0.5, NAN])), ValueError, "sigma", "nan", "noise level >= 0", id="discrete-timestep-nan"),
    row(lambda: MSD().timestep(-1.0), ValueError, "sigma", "-1.0", "noise level >= 0", id="discrete-timestep-negative"),
    row(lambda: Distilled().timestep(torch.tensor([[NAN]])), ValueError, "sigma", "nan", "(1, 1)", id="distilled-timestep-nan"),
    row(lambda: model_sampling("discrete_distilled", "lcm").calculate_denoised(torch.tensor([NAN, 1.0, 1.0]), X, X), ValueError, "sigma", "nan", ">= 0", id="lcm-denoised-nan-sigma"),

    # --- tables and state dicts ---
    row(lambda: core.check_sigma_table(torch.tensor([1.0, INF]), "these settings give"), ValueError, "sigmas[1] = inf", "finite float32", id="table-inf"),
    row(lambda: core.check_sigma_table(torch.tensor([2.0, 1.0]), "these settings give"), ValueError, "sigmas[0] = 2.0", "non-decreasing", id="table-decreasing"),
    row(lambda: EDMc().load_state_dict({"sigmas": torch.full((1000,), NAN), "log_sigmas": torch.zeros(1000)}), ValueError, "state dict", "nan", "finite", id="load-nan-table"),
    row(lambda: Flux().load_state_dict(Flux({"shift": 3.0}).state_dict()), ValueError, "other settings", "shift=1.15", id="load-table-of-other-shift"),
    row(lambda: SD3().load_state_dict(SD3({"multiplier": 1.0, "shift": 2.0}).state_dict()), ValueError, "other settings", "shift=1.0", "multiplier=1000)", id="load-table-of-other-sd3-settings"),
    row(lambda: Cascade({"shift": 2.0}).load_state_dict(Cascade().state_dict()), ValueError, "other settings", "shift=2.0", id="load-table-of-other-cascade-shift"),
]

# percent_to_sigma: NaN, None, strings, booleans and tensors of several values, for every family
for _family in FAMILIES:
    _ms = model_sampling(_family)
    ROWS += [
        row(lambda ms=_ms: ms.percent_to_sigma(NAN), ValueError, "percent", "nan", "real number", id=f"{_family}-percent-nan"),
        row(lambda ms=_ms: ms.percent_to_sigma(None), TypeError, "percent", "None", "real number", id=f"{_family}-percent-None"),
        row(lambda ms=_ms: ms.percent_to_sigma("0.5"), TypeError, "percent", "'0.5'", "real number", id=f"{_family}-percent-str"),
        row(lambda ms=_ms: ms.percent_to_sigma(True), TypeError, "percent", "True", "real number", id=f"{_family}-percent-bool"),
        row(lambda ms=_ms: ms.percent_to_sigma(torch.tensor([0.2, 0.4])), TypeError, "percent", "(2,)", "single number", id=f"{_family}-percent-tensor"),
        row(lambda ms=_ms: ms.percent_to_sigma(torch.tensor(NAN)), ValueError, "percent", "nan", id=f"{_family}-percent-nan-tensor"),
    ]


@pytest.mark.parametrize("call, exc, parts", ROWS)
def test_refused(call, exc, parts):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in the message {message!r}"


def test_every_family_has_percent_rows():
    ids = {p.id for p in ROWS}
    assert all(f"{f}-percent-nan" in ids for f in FAMILIES)


# --- step schedules, samplers and the rest of the public surface ---------------------------------------

def _schedulers():
    from sched_nb.schedulers import calculate_sigmas
    return calculate_sigmas


def _samplers():
    from sched_nb import samplers
    return samplers


GOOD_SIGMAS = torch.tensor([10.0, 5.0, 1.0, 0.0])


def _mixture():
    return _samplers().GaussianMixtureDenoiser([[0.0], [2.0]], [0.5, 0.5])


STEP_ROWS = [
    row(lambda: _schedulers()(model_sampling("discrete"), "karas", 10), ValueError, "name", "'karas'", "'karras'", "'simple'", id="unknown-scheduler"),
    row(lambda: _schedulers()(model_sampling("discrete"), "karras", 0), ValueError, "steps", "got 0", "integer >= 1", id="steps-0"),
    row(lambda: _schedulers()(model_sampling("discrete"), "normal", -3), ValueError, "steps", "got -3", "integer >= 1", id="steps-negative"),
    row(lambda: _schedulers()(model_sampling("discrete"), "simple", 2.5), TypeError, "steps", "2.5", "integer >= 1", id="steps-fraction"),
    row(lambda: _schedulers()(model_sampling("discrete"), "simple", None), TypeError, "steps", "None", "integer >= 1", id="steps-None"),
    row(lambda: _schedulers()(model_sampling("discrete"), "karras", 10, rho=NAN), ValueError, "rho", "nan", "finite", id="karras-rho-nan"),
    row(lambda: _schedulers()(model_sampling("discrete"), "karras", 10, rho=0), ValueError, "rho", "0.0", "> 0", id="karras-rho-0"),
    row(lambda: _schedulers()(None, "karras", 10), TypeError, "model_sampling", "NoneType",
        id="scheduler-model-sampling-None"),
]
for _name in ("euler", "euler_ancestral", "heun", "dpmpp_2m", "lcm"):
    STEP_ROWS += [
        row(lambda n=_name: getattr(_samplers(), f"sample_{n}")(_mixture(), torch.zeros(2, 1), torch.tensor([1.0, 5.0, 0.0]), disable=True),
            ValueError, "sigmas", "non-increasing", "sigmas[0] = 1.0 < sigmas[1] = 5.0", id=f"{_name}-increasing"),
        row(lambda n=_name: getattr(_samplers(), f"sample_{n}")(_mixture(), torch.zeros(2, 1), torch.tensor([5.0, NAN, 0.0]), disable=True),
            ValueError, "sigmas", "finite", "nan", id=f"{_name}-nan"),
        row(lambda n=_name: getattr(_samplers(), f"sample_{n}")(_mixture(), torch.zeros(2, 1), torch.tensor([INF, 1.0, 0.0]), disable=True),
            ValueError, "sigmas", "finite", "inf", id=f"{_name}-inf"),
        row(lambda n=_name: getattr(_samplers(), f"sample_{n}")(_mixture(), torch.zeros(2, 1), torch.tensor([1.0, -1.0]), disable=True),
            ValueError, "sigmas", "-1.0", "> 0", id=f"{_name}-negative"),
        row(lambda n=_name: getattr(_samplers(), f"sample_{n}")(_mixture(), torch.zeros(2, 1), GOOD_SIGMAS[None], disable=True),
            ValueError, "sigmas", "(1, 4)", "1-D", id=f"{_name}-2d"),
        row(lambda n=_name: getattr(_samplers(), f"sample_{n}")(_mixture(), torch.zeros(2, 1), torch.tensor([1.0]), disable=True),
            ValueError, "sigmas", "(1,)", "at least 2", id=f"{_name}-one-level"),
    ]
STEP_ROWS += [
    row(lambda: _samplers().sample_euler_ancestral(_mixture(), torch.zeros(2, 1), GOOD_SIGMAS, eta=-1.0, disable=True), ValueError, "eta", "-1.0", ">= 0", id="eta-negative"),
    row(lambda: _samplers().sample_euler_ancestral(_mixture(), torch.zeros(2, 1), GOOD_SIGMAS, s_noise=NAN, disable=True), ValueError, "s_noise", "nan", "finite", id="s-noise-nan"),
    row(lambda: _samplers().sample(_mixture(), torch.zeros(2, 1), GOOD_SIGMAS, sampler="dpm"), ValueError, "sampler", "'dpm'", "'euler'", id="unknown-sampler"),
    row(lambda: _samplers().check_sigmas("10, 1, 0"), TypeError, "sigmas", "str", "1-D tensor", id="check-sigmas-str"),
    row(lambda: _samplers().GaussianMixtureDenoiser([[0.0]], [-1.0]), ValueError, "stds", "-1.0", "positive", id="mixture-std-negative"),
    row(lambda: _samplers().Denoiser(lambda x, t: x, model_sampling("discrete"))(torch.zeros(2, 4), torch.ones(3)), ValueError, "sigma", "(3,)", "B = 1 or 2", id="denoiser-batch-mismatch"),
    row(lambda: _samplers().GaussianMixtureDenoiser([[NAN]], [1.0]), ValueError, "means", "nan", "finite", id="mixture-means-nan"),
]



def _interop():
    from sched_nb import interop
    return interop


SD_CONFIG = {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012, "num_train_timesteps": 1000}
STEP_ROWS += [
    row(lambda: _interop().from_diffusers(None), TypeError, "config", "NoneType", "diffusers scheduler config", id="from-diffusers-None"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "beta_schedule": "foo"}), ValueError, "beta_schedule", "'foo'", "'scaled_linear'", id="from-diffusers-beta-schedule"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "prediction_type": "vv"}), ValueError, "prediction_type", "'vv'", "'epsilon'", id="from-diffusers-prediction-type"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "num_train_timesteps": 0}), ValueError, "num_train_timesteps", "got 0", ">= 2", id="from-diffusers-timesteps-0"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "beta_end": 2.0}), ValueError, "2.0", "(0, 1)", id="from-diffusers-beta-end-2"),
    row(lambda: _interop().diffusers_sigmas(SD_CONFIG, 0), ValueError, "num_inference_steps", "got 0", ">= 1", id="diffusers-sigmas-steps-0"),
    row(lambda: _interop().diffusers_sigmas({**SD_CONFIG, "timestep_spacing": "foo"}, 10), ValueError, "timestep_spacing", "'foo'", "'linspace'", id="diffusers-sigmas-spacing"),
    row(lambda: _interop().diffusers_sigmas({**SD_CONFIG, "use_karras_sigmas": True, "use_exponential_sigmas": True}, 10), ValueError, "use_karras_sigmas", "use_exponential_sigmas", "only one", id="diffusers-sigmas-two-respacings"),
    row(lambda: _interop().to_diffusers(model_sampling("stable_cascade")), ValueError, "diffusers has no scheduler", "StableCascadeSampling", "flow matching", id="to-diffusers-cascade"),
    row(lambda: _interop().to_diffusers(model_sampling("flux")), ValueError, "EulerDiscreteScheduler", "ModelSamplingFlux_CONST", "FlowMatchEulerDiscreteScheduler", id="to-diffusers-flux-as-euler"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "beta_start": NAN}), ValueError, "beta_start", "nan", "finite", id="from-diffusers-beta-start-nan"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "trained_betas": [[0.1, 0.2]]}), ValueError, "trained_betas", "1-D", id="from-diffusers-trained-betas-2d"),
    row(lambda: _interop().from_diffusers({**SD_CONFIG, "rescale_betas_zero_snr": "yes"}), TypeError, "rescale_betas_zero_snr", "'yes'", "True or False", id="from-diffusers-zsnr-str"),
]


@pytest.mark.parametrize("call, exc, parts", STEP_ROWS)
def test_step_schedules_and_samplers_refuse(call, exc, parts):
    with pytest.raises(exc) as info:
        call()
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in the message {message!r}"


def _plots():
    pytest.importorskip("matplotlib")
    from sched_nb import plots
    return plots


def _cli(argv):
    from sched_nb import cli
    return cli.main(argv)


PRESENTATION_ROWS = [
    row(lambda: _plots().plot_overview({"sd": model_sampling("discrete")}, panels=("sigmas",)), ValueError, "panels", "'sigmas'", "log_snr", id="plots-unknown-panel"),
    row(lambda: _plots().schedule_sigmas(object()), TypeError, "ms", "object", "1-D `sigmas`", id="plots-not-a-model-sampling"),
    row(lambda: _plots().parameterization_weights(3), TypeError, "param", "int", "parameterization", id="plots-weights-of-int"),
    row(lambda: _plots().sigma_grid(model_sampling("discrete"), n=0), ValueError, "n", "0", ">= 2", id="plots-sigma-grid-n-0"),
    row(lambda: _cli(["atlas", "--dpi", "0", "--out", "/dev/null"]), (SystemExit, ValueError), "dpi", "0", "> 0", id="cli-dpi-0"),
    row(lambda: _cli(["explore", "--port", "-1", "--no-browser"]), (SystemExit, ValueError), "port", "-1", "1..65535", id="cli-port-negative"),
]


@pytest.mark.parametrize("call, exc, parts", PRESENTATION_ROWS)
def test_presentation_layer_refuses(call, exc, parts, capsys, monkeypatch):
    import subprocess
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no subprocess in this test")))
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("no subprocess in this test")))
    with pytest.raises(exc) as info:
        call()
    message = str(info.value) + capsys.readouterr().err
    for part in parts:
        assert part in message, f"{part!r} not in the message {message!r}"


# --- what is deliberately accepted -------------------------------------------------------------------

@pytest.mark.parametrize("mu", [0.0, -0.5, -3.0, 1e-300, 50.0, -70.0, 70.0])
def test_flux_shift_accepts_zero_and_negative_values(mu):
    "Flux's shift is mu, the log of a factor: 0 and negative values are meaningful, all of [-70, 70] is accepted."
    ms = Flux({"shift": mu})
    assert ms.shift == mu
    assert torch.isfinite(ms.sigmas).all() and torch.isfinite(ms.log_sigmas).all() and ms.sigmas[0] > 0
    assert not ms.sigma(torch.linspace(0, 1, 11)).isnan().any()


@pytest.mark.parametrize("mu", [-800.0, 800.0, -70.001, 70.001])
def test_flux_shift_beyond_70_is_refused(mu):
    "Past |mu| = 70 the table's first sigma (exp(mu) / (exp(mu) + T - 1)) leaves float32's normal numbers: refused."
    with pytest.raises(ValueError, match=r"shift must lie in \[-70, 70\].*got " + repr(mu).replace(".", r"\.")):
        Flux({"shift": mu})


@pytest.mark.parametrize("percent, expected", [(-0.5, "start"), (1.5, "end"), (INF, "end"), (-INF, "start")])
@pytest.mark.parametrize("family", FAMILIES)
def test_percent_outside_0_1_keeps_its_meaning(family, percent, expected):
    "Percent outside [0, 1] is not an error: below 0 is 'before the start', above 1 is 'done'."
    ms = model_sampling(family)
    assert ms.percent_to_sigma(percent) == ms.percent_to_sigma(0.0 if expected == "start" else 1.0)


def test_messages_name_the_class_for_a_broken_table():
    with pytest.raises(ValueError, match=r"ModelSamplingDiscreteFlow\(shift=2.0, multiplier=1000\)"):
        SD3({"shift": 2.0}).load_state_dict({"sigmas": torch.full((1000,), -1.0), "log_sigmas": torch.zeros(1000)})
