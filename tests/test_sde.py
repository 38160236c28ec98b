"""The stochastic samplers against k-diffusion (the same noise, and the default Brownian noise with the same
seed), their reduction to ODE samplers at eta = 0, convergence in distribution on an exact mixture, and the
Brownian tree: one per image, reproducible, imported only when used.

k-diffusion 0.1.1 has euler_ancestral, dpm_2_ancestral, dpmpp_2s_ancestral, dpmpp_sde, dpmpp_2m_sde and
dpmpp_3m_sde, in their diffusion (VE) form; the flow forms and ComfyUI's other stochastic samplers are checked by
identities and by convergence in distribution.
"""
import subprocess
import sys
import warnings

import pytest
import torch

from helpers import noise_list

import kdiff
from test_kdiffusion_parity import FixedNet
from sched_nb.compose import model_sampling
from sched_nb.guidance import ClassMixtureDenoiser
from sched_nb.multistep import sample_dpmpp_2m, sample_res_multistep
from sched_nb.samplers import SAMPLERS, Denoiser, sample_ddim, sample_dpm_2, sample_euler
from sched_nb.schedulers import calculate_sigmas
from sched_nb.sde import BrownianTreeNoiseSampler, sa_solver_weights
from sched_nb.toy import sliced_wasserstein

K = kdiff.load()   # fails, with the install command, when k-diffusion is missing
TOLERANCE = 1e-5   # of the largest value of k-diffusion's latent
pytestmark = pytest.mark.filterwarnings("ignore:Should have:UserWarning")   # torchsde's rounding of the tree's ends

VE_MODELS = {"discrete_eps": ("discrete", "eps", {}), "v_zsnr": ("discrete", "v_prediction", {"zsnr": True}),
             "continuous_edm": ("continuous_edm", "edm", {})}
STEPS = (1, 2, 5, 20)


@pytest.fixture(scope="module", params=list(VE_MODELS))
def case(request):
    "A Denoiser on one diffusion model sampling, its karras schedules and a starting latent, in float32 and float64."
    schedule, param, settings = VE_MODELS[request.param]
    ms = model_sampling(schedule, param, **settings)
    den = Denoiser(FixedNet(), ms)
    sigmas = {n: calculate_sigmas(ms, "karras", n) for n in STEPS}
    noise = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = noise * (1 + sigmas[20][0].double() ** 2).sqrt()
    return request.param, den, sigmas, x




KDIFF_VARIANTS = [("euler_ancestral", {}), ("euler_ancestral", {"eta": 0.6, "s_noise": 0.9}), ("dpm_2_ancestral", {}),
                  ("dpmpp_2s_ancestral", {}), ("dpmpp_2s_ancestral", {"eta": 0.5}), ("dpmpp_sde", {}),
                  ("dpmpp_sde", {"eta": 0.7, "r": 0.4}), ("dpmpp_2m_sde", {}), ("dpmpp_2m_sde", {"solver_type": "heun"}),
                  ("dpmpp_2m_sde", {"eta": 0.5, "s_noise": 1.1}), ("dpmpp_3m_sde", {}), ("dpmpp_3m_sde", {"eta": 0.5})]


def _rel(ours, theirs): return ((ours - theirs).abs().max() / theirs.abs().max()).item()


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("name,options", KDIFF_VARIANTS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={w}" for k, w in v.items()) or "defaults")
def test_same_latent_as_k_diffusion(case, name, options, steps):
    "The same denoiser, sigmas and explicit noise: the same latent within 1e-5 of its largest value."
    model_name, den, sigmas, x = case
    sig = sigmas[steps].double()
    make = noise_list(x.shape)
    ours = SAMPLERS[name](den, x, sig, disable=True, noise_sampler=make(), **options)
    if steps == 1 and name in ("dpmpp_2m_sde", "dpmpp_3m_sde"):
        # k-diffusion 0.1.1 reads the previous step's h before assigning it on a one-step run; the step to sigma = 0
        # lands on the denoised image
        with pytest.raises(UnboundLocalError): getattr(K, f"sample_{name}")(den, x, sig, disable=True, noise_sampler=make(), **options)
        theirs = den(x, sig[:1].expand(len(x)))
    else: theirs = getattr(K, f"sample_{name}")(den, x, sig, disable=True, noise_sampler=make(), **options)
    assert torch.isfinite(ours).all() and _rel(ours, theirs) <= TOLERANCE, (model_name, _rel(ours, theirs))


@pytest.mark.parametrize("name", ["dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde"])
def test_default_brownian_noise_is_k_diffusions_tree_with_the_seed(name):
    """The default noise is k-diffusion's Brownian tree with the run's seed: one tree for a batch of one, as ComfyUI,
    and one per image (seed + b) for a batch, which is k-diffusion's tree with the list of seeds. Then the whole run
    is k-diffusion's, for the samplers that query the tree at the schedule's sigmas; k-diffusion 0.1.1's dpmpp_sde
    queries it at exp(-(-log sigma)), its own float32 round trip, where ComfyUI (and sched_nb) query at sigma."""
    den = ClassMixtureDenoiser([[-1.0, 0.5], [1.0, -0.5]], [0.5, 0.4], [0, 0])
    x = 14.6 * torch.randn(2, 5, 2, generator=torch.Generator().manual_seed(4))
    sig = calculate_sigmas(model_sampling("discrete", "eps"), "karras", 6)   # float32, as ComfyUI's
    lo, hi = sig[sig > 0].min(), sig.max()
    for seed, latent in ((7, x[:1]), ([7, 8], x)):
        ours = SAMPLERS[name](den, latent, sig, extra_args={"seed": 7}, disable=True)
        with_tree = SAMPLERS[name](den, latent, sig, noise_sampler=K.BrownianTreeNoiseSampler(latent, lo, hi, seed=seed), disable=True)
        assert _rel(ours, with_tree) <= 1e-6, (name, seed, _rel(ours, with_tree))
        if name != "dpmpp_sde":
            theirs = getattr(K, f"sample_{name}")(den, latent, sig, disable=True, noise_sampler=K.BrownianTreeNoiseSampler(latent, lo, hi, seed=seed))
            assert _rel(ours, theirs) <= TOLERANCE, (name, seed, _rel(ours, theirs))


BROWNIAN = ["dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun",
            "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu"]


@pytest.mark.parametrize("name", BROWNIAN)
def test_an_image_does_not_change_with_its_batch(name):
    "Image b of a batch sampled with seed s is the image sampled alone with seed s + b, whatever the batch size."
    den = ClassMixtureDenoiser([[-1.0, 0.5], [1.0, -0.5]], [0.5, 0.4], [0, 0])
    x = 80 * torch.randn(4, 3, 2, generator=torch.Generator().manual_seed(2))
    sig = calculate_sigmas(model_sampling("discrete", "eps"), "karras", 6)
    run = lambda latent, seed: SAMPLERS[name](den, latent, sig, extra_args={"seed": seed}, disable=True)
    four, two = run(x, 11), run(x[:2], 11)
    alone = torch.cat([run(x[b:b + 1], 11 + b) for b in range(4)])
    assert torch.equal(four, alone) and torch.equal(two, four[:2])
    assert torch.equal(run(x, 11), four) and not torch.equal(run(x, 12)[0], four[0])


def test_one_tree_per_image_when_seeded_one_for_the_batch_when_not():
    x = torch.zeros(5, 2)
    assert len(BrownianTreeNoiseSampler(x, 0.1, 1.0, seed=3).trees) == 5
    assert len(BrownianTreeNoiseSampler(x, 0.1, 1.0).trees) == 1            # random noise: no image to keep apart
    assert len(BrownianTreeNoiseSampler(x, 0.1, 1.0, seed=3, per_item=False).trees) == 1
    assert len(BrownianTreeNoiseSampler(x, 0.1, 1.0, per_item=True).trees) == 5
    assert BrownianTreeNoiseSampler(x, 0.1, 1.0)(1.0, 0.5).shape == x.shape


def test_the_gpu_names_keep_the_tree_on_the_latents_device():
    "On the CPU the `_gpu` names are the plain ones; the tree of each lives where the name says."
    den = ClassMixtureDenoiser([[0.0]], [1.0], [0])
    x, sig = torch.randn(1, 5, 1), torch.tensor([5.0, 1.0, 0.2, 0.0])
    for name in ("dpmpp_sde", "dpmpp_2m_sde", "dpmpp_2m_sde_heun", "dpmpp_3m_sde"):
        assert torch.equal(SAMPLERS[name](den, x, sig, extra_args={"seed": 3}, disable=True),
                           SAMPLERS[name + "_gpu"](den, x, sig, extra_args={"seed": 3}, disable=True))
    tree = BrownianTreeNoiseSampler(x, 0.2, 5.0, seed=1, cpu=True)
    assert all(t._interval._device == torch.device("cpu") for t in tree.trees)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_tree_on_cuda():
    x = torch.randn(2, 4, 3, 3, device="cuda")
    gpu, cpu = (BrownianTreeNoiseSampler(x, 0.1, 10.0, seed=5, cpu=c) for c in (False, True))
    a, b = gpu(5.0, 2.0), cpu(5.0, 2.0)
    assert a.device.type == b.device.type == "cuda" and a.shape == x.shape and not torch.equal(a, b)
    assert torch.equal(cpu(5.0, 2.0), BrownianTreeNoiseSampler(x.cpu(), 0.1, 10.0, seed=5, cpu=True)(5.0, 2.0).cuda())


def test_torchsde_is_imported_only_for_brownian_noise():
    code = ("import sys, torch\nimport sched_nb\nfrom sched_nb.sde import sample_euler_ancestral, sample_dpmpp_2m_sde\n"
            "from sched_nb.samplers import GaussianMixtureDenoiser\nden = GaussianMixtureDenoiser([[0.0]], [1.0])\n"
            "x, s = torch.randn(2, 1), torch.tensor([3.0, 1.0, 0.0])\nsample_euler_ancestral(den, x, s, disable=True)\n"
            "sample_dpmpp_2m_sde(den, x, s, eta=0.0, disable=True)\nassert 'torchsde' not in sys.modules\n"
            "sample_dpmpp_2m_sde(den, x, s, disable=True)\nassert 'torchsde' in sys.modules\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# eta = 0 (or the ODE noise scaler, or tau = 0): the ODE sampler the mathematics says it is
def _flow_case():
    den = FixedNet()
    ms = model_sampling("discrete_flow", "const")
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.97
    return Denoiser(den, ms), x, torch.linspace(0.97, 0, 9, dtype=torch.float64)   # below 1: no offset of sigma_max


def _ve_case():
    ms = model_sampling("discrete", "eps")
    x = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 14.6
    return Denoiser(FixedNet(), ms), x, calculate_sigmas(ms, "karras", 8).double()


IDENTITIES = [  # (stochastic sampler, options, ODE sampler, options, flow models too)
    ("euler_ancestral", {"eta": 0.0}, sample_euler, {}, True),
    ("dpm_2_ancestral", {"eta": 0.0}, sample_dpm_2, {}, True),
    ("dpmpp_2s_ancestral", {"eta": 0.0}, SAMPLERS["dpmpp_sde"], {"eta": 0.0}, True),
    ("dpmpp_2m_sde", {"eta": 0.0}, sample_dpmpp_2m, {"flow_log_snr": True}, True),
    ("dpmpp_2m_sde_gpu", {"eta": 0.0}, sample_dpmpp_2m, {"flow_log_snr": True}, True),
    ("seeds_2", {"eta": 0.0}, SAMPLERS["dpmpp_sde"], {"eta": 0.0}, True),
    ("res_multistep_ancestral", {"eta": 0.0}, sample_res_multistep, {}, True),
    ("er_sde", {"noise_scaler": lambda t: t, "max_stage": 1, "s_noise": 0.0}, sample_euler, {}, True),
    ("sa_solver", {"tau_func": lambda s: 0.0, "predictor_order": 1, "corrector_order": 0}, sample_euler, {}, True),
    ("sa_solver_pece", {"tau_func": lambda s: 0.0, "predictor_order": 1, "corrector_order": 0}, sample_euler, {}, True),
]


@pytest.mark.parametrize("flow", [False, True], ids=["ve", "flow"])
@pytest.mark.parametrize("name,kw,ode,ode_kw,with_flow", IDENTITIES, ids=[v[0] for v in IDENTITIES])
def test_without_noise_it_is_the_ode_sampler(name, kw, ode, ode_kw, with_flow, flow):
    den, x, sig = _flow_case() if flow else _ve_case()
    got, want = SAMPLERS[name](den, x, sig, disable=True, **kw), ode(den, x, sig, disable=True, **ode_kw)
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)


def test_ddpm_is_euler_ancestral_with_eta_1_and_stochastic_ddim():
    "DDPM's posterior step, Euler ancestral with eta = 1 and DDIM with eta = 1 are one sampler (VE models)."
    den, x, sig = _ve_case()
    make = noise_list(x.shape)
    a = SAMPLERS["ddpm"](den, x, sig, noise_sampler=make(), disable=True)
    b = SAMPLERS["euler_ancestral"](den, x, sig, noise_sampler=make(), disable=True)
    c = sample_ddim(den, x, sig, eta=1.0, noise_sampler=make(), disable=True)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9); torch.testing.assert_close(b, c, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_sa_solver_weights_are_exact_for_polynomials(k):
    nodes = torch.linspace(-1.5, 0.4, k, dtype=torch.float64)
    for tau in (0.0, 1.0):
        b = sa_solver_weights(nodes, 0.4, 1.1, tau)
        u = torch.linspace(0.4, 1.1, 40001, dtype=torch.float64)
        kernel = (1 + tau ** 2) * torch.exp((1 + tau ** 2) * (u - 1.1))
        for p in range(k):
            assert float((b * nodes ** p).sum()) == pytest.approx(float(torch.trapezoid(kernel * u ** p, u)), rel=1e-7, abs=1e-12)


# convergence in distribution: sliced Wasserstein distance to exact data samples
N = 4000   # points, all in one latent [1, N, 2] so that each Brownian sampler uses one tree
MIX = ClassMixtureDenoiser([[-0.8, 0.3], [0.9, -0.2]], [0.55, 0.45], [0, 0], [0.4, 0.6])
MIX_FLOW = ClassMixtureDenoiser([[-0.8, 0.3], [0.9, -0.2]], [0.55, 0.45], [0, 0], [0.4, 0.6], flow=True)


@pytest.fixture(scope="module")
def floor():
    "The data, and the mean and standard deviation of the distance between it and other exact samples of it."
    data = [MIX.sample_class(N, -1, torch.Generator().manual_seed(k)) for k in range(9)]
    d = torch.tensor([sliced_wasserstein(data[0], other, n_projections=64) for other in data[1:]])
    return data[0], d.mean().item(), d.std().item()


def _karras(n, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    r = torch.linspace(0, 1, n, dtype=torch.float64)
    return torch.cat([(sigma_max ** (1 / rho) + r * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho, r.new_zeros(1)])


CONVERGENCE = [  # (name, steps where it is still far off, steps where it has converged, flow form)
    ("euler_ancestral", 3, 128, False), ("euler_ancestral", 3, 128, True), ("dpm_2_ancestral", 3, 40, False),
    ("dpm_2_ancestral", 2, 40, True), ("dpmpp_2s_ancestral", 3, 40, False), ("dpmpp_2s_ancestral", 3, 40, True),
    ("dpmpp_sde", 3, 40, False), ("dpmpp_2m_sde", 3, 40, False), ("dpmpp_2m_sde_heun", 3, 40, False),
    ("dpmpp_3m_sde", 3, 40, False), ("ddpm", 3, 128, False), ("res_multistep_ancestral", 3, 40, False),
    ("er_sde", 3, 40, False), ("seeds_2", 3, 40, False), ("seeds_3", 3, 40, False), ("sa_solver", 3, 40, False),
    ("sa_solver_pece", 3, 40, False),
]


@pytest.mark.parametrize("name,few,many,flow", CONVERGENCE, ids=[f"{c[0]}-{'flow' if c[3] else 've'}" for c in CONVERGENCE])
def test_samples_converge_in_distribution(floor, name, few, many, flow):
    """At few steps the samples are far from the data (more than 10 standard deviations of the distance's own noise
    above its mean between exact samples); with many steps they are as close as exact samples are (within 4)."""
    data, mean, std = floor
    x0 = torch.randn(1, N, 2, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    den, scale, sig = (MIX_FLOW, 1.0, lambda n: torch.linspace(1, 0, n + 1, dtype=torch.float64)) if flow else (MIX, 80.0, _karras)
    dist = {n: sliced_wasserstein(SAMPLERS[name](den, x0 * scale, sig(n), extra_args={"seed": 5}, disable=True)[0], data,
                                  n_projections=64) for n in (few, many)}
    assert dist[many] <= mean + 4 * std, (dist, mean, std)
    assert dist[few] >= mean + 10 * std, (dist, mean, std)


@pytest.mark.parametrize("bad,match", [
    (dict(name="euler_ancestral", eta=-0.1), "eta must be >= 0"), (dict(name="dpmpp_sde", r=0.0), "r must be >= 0.01"),
    (dict(name="dpmpp_2m_sde", solver_type="rk4"), "solver_type must be one of"),
    (dict(name="er_sde", max_stage=0), "max_stage must be an integer >= 1"),
    (dict(name="sa_solver", predictor_order=0), "predictor_order must be an integer >= 1"),
    (dict(name="sa_solver", tau_func=lambda s: -1.0), r"tau_func\(sigma\) must be >= 0.0"),
    (dict(name="seeds_3", r_1=float("nan")), "r_1 must be a finite number"),
])
def test_bad_options_are_refused_by_name(bad, match):
    bad = dict(bad)
    name = bad.pop("name")
    with pytest.raises(ValueError, match=match):
        SAMPLERS[name](ClassMixtureDenoiser([[0.0]], [1.0], [0]), torch.zeros(1, 2, 1), torch.tensor([2.0, 1.0, 0.0]),
                       disable=True, **bad)
    with pytest.raises(ValueError, match="a list of 2 seeds"):
        BrownianTreeNoiseSampler(torch.zeros(2, 3), 0.1, 1.0, seed=[1, 2, 3])


@pytest.mark.parametrize("name", ["euler_ancestral", "dpm_2_ancestral", "dpmpp_2s_ancestral", "res_multistep_ancestral", "lcm"])
def test_a_generator_makes_the_ancestral_samplers_repeat(name):
    den = ClassMixtureDenoiser([[-1.0], [1.0]], [0.5, 0.4], [0, 0])
    x, sig = 14.6 * torch.randn(3, 4, 1, generator=torch.Generator().manual_seed(0)), calculate_sigmas(model_sampling("discrete", "eps"), "karras", 6)
    run = lambda seed: SAMPLERS[name](den, x, sig, generator=torch.Generator().manual_seed(seed), disable=True)
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))
    seeded = SAMPLERS[name](den, x, sig, extra_args={"seed": 1}, disable=True)   # extra_args' seed: a generator on x's device
    assert torch.equal(seeded, run(1))
