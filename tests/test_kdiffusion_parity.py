"""Every sampler k-diffusion 0.1.1 has, against k-diffusion itself: the same denoiser, sigmas and noise give the
same latent within 1e-5 of its largest value, on four model samplings at 1, 2, 5 and 20 steps.

k-diffusion is the independent oracle (tests/kdiff.py loads its sampling module). ComfyUI's additions (heunpp2,
ipndm, ipndm_v, deis, uni_pc, res_multistep, gradient_estimation, ddim) are not in k-diffusion 0.1.1 and are
verified by their order of convergence and by identities instead (tests/test_order.py, tests/test_samplers.py).
"""
import pytest
import torch

from helpers import noise_list

import kdiff
from sched_nb.compose import model_sampling
from sched_nb.samplers import SAMPLERS, Denoiser
from sched_nb.schedulers import calculate_sigmas

K = kdiff.load()   # fails, with the install command, when k-diffusion is missing
# k-diffusion's dpm_fast and dpm_adaptive copy-construct tensors with torch.tensor(tensor)
pytestmark = pytest.mark.filterwarnings("ignore:To copy construct from a tensor:UserWarning")

MODELS = {  # name: (schedule, parameterization, settings, step scheduler)
    "discrete_eps": ("discrete", "eps", {}, "karras"),
    "v_zsnr": ("discrete", "v_prediction", {"zsnr": True}, "karras"),
    "continuous_edm": ("continuous_edm", "edm", {}, "karras"),
    "flow": ("discrete_flow", "const", {}, "simple"),
}
STEPS = (1, 2, 5, 20)
TOLERANCE = 1e-5   # of the largest value of k-diffusion's latent


class FixedNet(torch.nn.Module):
    "A small fixed network: a channel mix of the input and a smooth function of the timestep, through tanh."
    def __init__(self, channels=4):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.randn(channels, channels, generator=g, dtype=torch.float64) / channels ** 0.5
        self.b = torch.randn(channels, generator=g, dtype=torch.float64)

    def forward(self, x_in, t, **extra):
        t = t.to(x_in.dtype).view(-1, 1, 1, 1)
        mixed = torch.einsum("oc,bchw->bohw", self.w, x_in) + self.b.view(1, -1, 1, 1) * torch.sin(t / 200 + 0.3)
        return 1.5 * torch.tanh(mixed)


@pytest.fixture(scope="module", params=list(MODELS))
def case(request):
    "A Denoiser on one model sampling, its step schedules (float64) and a starting latent."
    schedule, param, settings, scheduler = MODELS[request.param]
    ms = model_sampling(schedule, param, **settings)
    den = Denoiser(FixedNet(), ms)
    sigmas = {n: calculate_sigmas(ms, scheduler, n).double() for n in STEPS}
    noise = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = ms.noise_scaling(sigmas[20][:1], noise, torch.zeros_like(noise), max_denoise=True)
    return request.param, den, sigmas, x




def _dpm_limits(sigmas):
    "ComfyUI's wrapper: sigma_min is the last nonzero sigma, sigma_max the first, n the number of steps."
    return (sigmas[-1] if sigmas[-1] > 0 else sigmas[-2]), sigmas[0], len(sigmas) - 1


def _theirs(name, den, x, sigmas, kw):
    "k-diffusion's sampler of the same name, called as ComfyUI's sampler wrapper calls it."
    if name == "dpm_fast":
        lo, hi, n = _dpm_limits(sigmas)
        return K.sample_dpm_fast(den, x, lo, hi, n, disable=True, **kw)
    if name == "dpm_adaptive":
        lo, hi, _ = _dpm_limits(sigmas)
        return K.sample_dpm_adaptive(den, x, lo, hi, disable=True, **kw)
    if name == "lms" and sigmas[-1] == 0:
        # ComfyUI's lms lands on the denoised image on the step to sigma = 0, where k-diffusion 0.1.1 takes one more
        # polynomial step: compare with the denoised image k-diffusion reports at that step (its path up to there
        # is compared at every step in test_lms_path_is_k_diffusions)
        seen = []
        K.sample_lms(den, x, sigmas, disable=True, callback=lambda d: seen.append(d["denoised"]), **kw)
        return seen[-1]
    return getattr(K, f"sample_{name}")(den, x, sigmas, disable=True, **kw)


# (sampler, options, how the noise is shared): "none" deterministic, "global" the global generator
# seeded alike before each run (churn), "list" the same explicit noise_sampler sequence
VARIANTS = [("euler", {}, "none"), ("heun", {}, "none"), ("dpm_2", {}, "none"), ("lms", {}, "none"),
            ("lms", {"order": 2}, "none"), ("dpm_fast", {}, "none"), ("dpm_adaptive", {}, "none"),
            ("dpm_adaptive", {"order": 2, "rtol": 0.02}, "none"), ("dpmpp_2m", {}, "none"),
            ("euler", {"s_churn": 1.0}, "global"), ("heun", {"s_churn": 0.8, "s_noise": 1.003}, "global"),
            ("dpm_2", {"s_churn": 1.0}, "global"), ("dpm_fast", {"eta": 0.5}, "list"), ("dpm_adaptive", {"eta": 1.0}, "list")]


@pytest.mark.parametrize("steps", STEPS)
@pytest.mark.parametrize("name,options,noise", VARIANTS, ids=lambda v: v if isinstance(v, str) else
                         ",".join(f"{k}={w}" for k, w in v.items()) if isinstance(v, dict) else None)
def test_same_latent_as_k_diffusion(case, name, options, noise, steps):
    model_name, den, sigmas, x = case
    sig = sigmas[steps]
    if noise == "list":
        make = noise_list(x.shape, 200)
        ours_kw, theirs_kw = {**options, "noise_sampler": make()}, {**options, "noise_sampler": make()}
    else:
        ours_kw = theirs_kw = options
    if name in ("dpm_fast", "dpm_adaptive") and options.get("eta") and steps == 1:
        # one step: sigma_min = sigma_max; k-diffusion refuses eta > 0 there ("reverse sampling"), sched_nb has no step to take
        with pytest.raises(ValueError, match="reverse"): _theirs(name, den, x, sig, theirs_kw)
        torch.testing.assert_close(SAMPLERS[name](den, x, sig, disable=True, **ours_kw), x, rtol=1e-6, atol=1e-6)
        return
    if noise == "global": torch.manual_seed(7)
    theirs = _theirs(name, den, x, sig, theirs_kw)
    if name == "dpm_fast" and options.get("eta") and not torch.isfinite(theirs).all():
        # k-diffusion's last step takes the square root of a negative rounding error (its float32 grid ends a hair
        # short of sigma_min): NaN. Compare the path up to there instead, and ask sched_nb for a finite answer.
        assert torch.isfinite(SAMPLERS[name](den, x, sig, disable=True, **ours_kw)).all()
        theirs_kw, ours_kw = {**theirs_kw, "noise_sampler": noise_list(x.shape, 200)()}, {**ours_kw, "noise_sampler": noise_list(x.shape, 200)()}
        seen = {"ours": [], "theirs": []}
        _theirs(name, den, x, sig, {**theirs_kw, "callback": lambda d: seen["theirs"].append(d["x"])})
        SAMPLERS[name](den, x, sig, disable=True, callback=lambda d: seen["ours"].append(d["x"]), **ours_kw)
        assert len(seen["ours"]) == len(seen["theirs"])
        for a, b in zip(seen["ours"], seen["theirs"]): assert (a - b).abs().max() <= TOLERANCE * b.abs().max()
        return
    if noise == "global": torch.manual_seed(7)
    ours = SAMPLERS[name](den, x, sig, disable=True, **ours_kw)
    scale = theirs.abs().max().item()
    diff = (ours - theirs).abs().max().item()
    assert torch.isfinite(ours).all() and diff <= TOLERANCE * scale, \
        f"{name}{options} on {model_name} at {steps} steps: max difference {diff:.2e} = {diff / scale:.1e} of {scale:.3g}"


def test_the_callback_sees_what_k_diffusion_reports(case):
    "The same steps, sigmas and denoised images reach the callback."
    _, den, sigmas, x = case
    seen = {"ours": [], "theirs": []}
    for who, fn in (("theirs", K.sample_heun), ("ours", SAMPLERS["heun"])):
        fn(den, x, sigmas[5], disable=True, callback=lambda d, who=who: seen[who].append(d))
    assert [d["i"] for d in seen["ours"]] == [d["i"] for d in seen["theirs"]] == list(range(5))
    for a, b in zip(seen["ours"], seen["theirs"]):
        assert float(a["sigma"]) == pytest.approx(float(b["sigma"]), rel=1e-12)
        torch.testing.assert_close(a["denoised"], b["denoised"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("order", [2, 4])
def test_lms_path_is_k_diffusions(case, order):
    "Every step of lms, and its end on a schedule that stops above 0, as k-diffusion's."
    _, den, sigmas, x = case
    seen = {"ours": [], "theirs": []}
    sig = sigmas[20]
    for who, fn in (("theirs", K.sample_lms), ("ours", SAMPLERS["lms"])):
        end = fn(den, x, sig[:-1], order=order, disable=True, callback=lambda d, who=who: seen[who].append(d["x"]))
        seen[who].append(end)
    for a, b in zip(seen["ours"], seen["theirs"]):
        assert (a - b).abs().max() <= TOLERANCE * b.abs().max()
