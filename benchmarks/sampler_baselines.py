"""The sampler rows' baselines: k-diffusion's sampling functions of the same names, loaded as the tests load them
(tests/kdiff.py: k-diffusion 0.1.1.post1's sampling module with a stand-in for its training-only utils)."""
from __future__ import annotations

import sys
from pathlib import Path

# the deterministic samplers sched_nb times, and whether k-diffusion 0.1.1 has a function of the same name
SAMPLER_ROWS = ("euler", "heun", "heunpp2", "dpm_2", "ddim", "dpm_fast", "dpm_adaptive", "lms", "dpmpp_2m", "ipndm",
                "ipndm_v", "deis", "uni_pc", "uni_pc_bh2", "res_multistep", "gradient_estimation")
IN_K_DIFFUSION = ("euler", "heun", "dpm_2", "dpm_fast", "dpm_adaptive", "lms", "dpmpp_2m")


def k_diffusion():
    "k-diffusion's sampling module, or the reason it cannot be loaded (a str)."
    tests = str(Path(__file__).resolve().parents[1] / "tests")
    if tests not in sys.path: sys.path.insert(0, tests)
    try:
        import kdiff
        return kdiff.load()
    except (ImportError, RuntimeError) as e:
        return str(e)


def k_diffusion_sampler(K, name: str):
    "`fn(model, x, sigmas)` running k-diffusion's sampler `name` as ComfyUI's sampler wrapper calls it."
    if name in ("dpm_fast", "dpm_adaptive"):
        def run(model, x, sigmas):
            lo = sigmas[-1] if sigmas[-1] > 0 else sigmas[-2]
            if name == "dpm_fast": return K.sample_dpm_fast(model, x, lo, sigmas[0], len(sigmas) - 1, disable=True)
            return K.sample_dpm_adaptive(model, x, lo, sigmas[0], disable=True)
        return run
    fn = getattr(K, f"sample_{name}")
    return lambda model, x, sigmas: fn(model, x, sigmas, disable=True)


# the stochastic samplers sched_nb times, and those k-diffusion 0.1.1 has under the same name
STOCHASTIC_ROWS = ("euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
                   "dpmpp_2m_sde_heun", "dpmpp_3m_sde", "ddpm", "lcm", "res_multistep_ancestral", "er_sde", "seeds_2",
                   "seeds_3", "sa_solver", "sa_solver_pece")
STOCHASTIC_IN_K_DIFFUSION = ("euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde",
                             "dpmpp_2m_sde_heun", "dpmpp_3m_sde")   # dpmpp_2m_sde_heun: k-diffusion's 2m_sde, solver_type="heun"


def k_diffusion_stochastic(K, name: str):
    "`fn(model, x, sigmas, noise_sampler)` running k-diffusion's stochastic sampler `name` (heun form for _heun)."
    if name == "dpmpp_2m_sde_heun":
        return lambda model, x, sigmas, noise_sampler: K.sample_dpmpp_2m_sde(model, x, sigmas, disable=True,
                                                                            noise_sampler=noise_sampler, solver_type="heun")
    fn = getattr(K, f"sample_{name}")
    return lambda model, x, sigmas, noise_sampler: fn(model, x, sigmas, disable=True, noise_sampler=noise_sampler)
