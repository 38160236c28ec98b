"""How diffusion models are sampled: parameterizations, noise schedules, step schedules and samplers.

The public names below are loaded on first use, so `import sched_nb` stays light: it imports
neither torch's optional companions nor matplotlib, ipywidgets or diffusers.
"""
__version__ = "0.1.0"

import importlib as _importlib

# module -> public names it defines (the names are importable as `from sched_nb import NAME`)
_PUBLIC = {
    "core": ["settings_from_config", "broadcast_sigma", "reshape_sigma"],
    "parameterizations": ["EPS", "V_PREDICTION", "EDM", "X0", "CONST", "LCM", "IMG_TO_IMG", "COSMOS_RFLOW"],
    "betas": ["make_beta_schedule", "rescale_zero_terminal_snr_sigmas", "BETA_SCHEDULES"],
    "discrete": ["ModelSamplingDiscrete", "ModelSamplingDiscreteDistilled", "ModelSamplingDiscreteEDM"],
    "continuous": ["ModelSamplingContinuousEDM", "ModelSamplingContinuousV", "ModelSamplingCosmosRFlow"],
    "cascade": ["StableCascadeSampling"],
    "flow": ["ModelSamplingDiscreteFlow", "ModelSamplingFlux", "time_snr_shift", "flux_time_shift"],
    "compose": ["model_sampling", "SCHEDULES", "PARAMETERIZATIONS"],
    "schedulers": ["calculate_sigmas", "SCHEDULER_NAMES", "SCHEDULERS", "align_your_steps", "gits_sigmas",
                   "optimal_steps_sigmas"],
    "samplers": ["sample_euler", "sample_heun", "sample_heunpp2", "sample_dpm_2", "sample_ddim",
                 "sample_dpm_fast", "sample_dpm_adaptive", "SAMPLERS", "SAMPLER_NAMES",
                 "DISCARD_PENULTIMATE_SIGMA_SAMPLERS", "register_sampler", "Denoiser", "GaussianMixtureDenoiser"],
    "checks": ["check_sigmas", "INVERTING_SAMPLERS", "drop_repeats"],
    "multistep": ["sample_lms", "sample_dpmpp_2m", "sample_ipndm", "sample_ipndm_v", "sample_deis", "sample_uni_pc",
                  "sample_uni_pc_bh2", "sample_res_multistep", "sample_res_multistep_ancestral", "sample_gradient_estimation", "res_multistep",
                  "gradient_estimation"],
    "convergence": ["SAMPLER_ORDERS", "ode_reference", "error_curve", "measured_order", "karras_steps"],
    "sde": ["sample_euler_ancestral", "sample_dpm_2_ancestral", "sample_dpmpp_2s_ancestral", "sample_dpmpp_sde",
            "sample_dpmpp_sde_gpu", "sample_dpmpp_2m_sde", "sample_dpmpp_2m_sde_gpu", "sample_dpmpp_2m_sde_heun",
            "sample_dpmpp_2m_sde_heun_gpu", "sample_dpmpp_3m_sde", "sample_dpmpp_3m_sde_gpu", "sample_ddpm", "sample_lcm",
            "sample_er_sde", "sample_seeds_2", "sample_seeds_3", "sample_sa_solver",
            "sample_sa_solver_pece"],
    "noise": ["default_noise_sampler", "BrownianTreeNoiseSampler", "seeded_noise", "brownian_noise"],
    "guidance": ["sample_euler_cfg_pp", "sample_euler_ancestral_cfg_pp", "sample_dpmpp_2s_ancestral_cfg_pp",
                 "sample_dpmpp_2m_cfg_pp", "sample_res_multistep_cfg_pp", "sample_res_multistep_ancestral_cfg_pp",
                 "sample_gradient_estimation_cfg_pp", "uncond_hook",
                 "CFGDenoiser", "cfg_function", "rescale_cfg", "ClassMixtureDenoiser", "which_moon", "split_sigmas",
                 "split_sigmas_denoise", "flip_sigmas", "set_first_sigma", "extend_intermediate_sigmas", "sampling_sigmas",
                 "step_range", "prepare_noise", "InpaintDenoiser", "prepare_latent", "finish_latent", "sample"],
    "interop": ["from_diffusers", "diffusers_sigmas", "diffusers_timesteps", "to_diffusers", "scheduler_class",
                "SCHEDULER_DEFAULTS"],
    "presets": ["preset", "PRESETS", "available_presets", "flux_shift", "sd3_resolution_shift", "mu_from_seq_len",
                "plot_presets", "explore_presets"],
    "toy": ["two_moons", "spiral", "sliced_wasserstein", "ToyNet", "train_toy", "TOY_MODELS", "toy_model_samplings", "toy_scheduler", "toy_sigmas", "sampler_table",
            "toy_models", "load_toy_models", "save_toy_models", "sampler_names", "sampler_options", "option_range", "OPTION_RANGES",
            "run_sampler", "ExplorerBase", "SamplingExplorer", "ToyExplorer", "explore_toy"],
    "digits": ["load_digits_data", "digit_mosaic", "show_digits", "DigitsNet", "DIGITS_MODELS", "digits_model_sampling", "digits_sigmas",
               "train_digits", "save_digits_model", "load_digits_model", "sample_digits", "train_digit_classifier",
               "save_digit_classifier", "load_digit_classifier", "digit_score",
               "sampler_grid", "denoising_sequence", "DigitsExplorer", "explore_digits"],
    "plots": ["plot_sigma", "plot_log_snr", "plot_alphas_cumprod", "plot_weights", "plot_steps", "plot_overview", "plot_atlas", "atlas_models", "schedule_summary", "coinciding"],
    "widgets": ["explore_discrete", "explore_continuous", "explore_cascade", "explore_flow", "explore_parameterizations", "explore_steps", "explore_families", "explore_samplers", "SamplerExplorer", "SAMPLER_MODELS", "sampler_model", "explorer_app"],
}
_WHERE = {name: module for module, names in _PUBLIC.items() for name in names}
# modules that need matplotlib or ipywidgets, or train a model: reachable as attributes, left out of `import *`
_HEAVY = ("toy", "digits", "plots", "widgets")
__all__ = [name for name, module in _WHERE.items() if module not in _HEAVY]


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sched_nb' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
