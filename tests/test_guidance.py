"""Classifier-free guidance and the CFG++ samplers: the identities of the guided denoiser, its hooks, rescaled
guidance against ComfyUI's RescaleCFG formula, and the CFG++ samplers as a host's sampler functions, with the
contract every sampler keeps (signature, callback, device, dtype, no host reads, bad schedules)."""
import math

import pytest
import torch

from helpers import noise_list

from sched_nb.compose import model_sampling
from sched_nb.guidance import CFGDenoiser, ClassMixtureDenoiser, cfg_function, rescale_cfg, which_moon
from sched_nb.samplers import SAMPLERS, Denoiser, GaussianMixtureDenoiser

GUIDED = [name for name in SAMPLERS if name.endswith("_cfg_pp")]
PLAIN = {"euler_cfg_pp": "euler", "euler_ancestral_cfg_pp": "euler_ancestral", "dpmpp_2m_cfg_pp": "dpmpp_2m",
         "dpmpp_2s_ancestral_cfg_pp": "dpmpp_2s_ancestral", "res_multistep_cfg_pp": "res_multistep",
         "res_multistep_ancestral_cfg_pp": "res_multistep_ancestral", "gradient_estimation_cfg_pp": "gradient_estimation"}
MOONS = which_moon()
COND, UNCOND = torch.tensor([0]), torch.tensor([-1])


def karras(n, sigma_min=0.01, sigma_max=20.0, rho=7.0):
    r = torch.linspace(0, 1, n, dtype=torch.float64)
    return torch.cat([(sigma_max ** (1 / rho) + r * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho, r.new_zeros(1)])


class ClassNet(torch.nn.Module):
    "A network for a discrete EPS schedule whose denoised output is the labelled moons' exact one (an oracle)."
    def __init__(self, ms): super().__init__(); self.ms = ms

    def forward(self, x_in, t, cond=None):
        sigma = self.ms.sigma(t).double().view(-1, 1, 1)
        x = x_in / self.ms.c_in(sigma).to(x_in.dtype)
        return (x - MOONS(x, sigma.view(-1), cond=cond)) / sigma       # eps = (x - D) / sigma


def test_cfg_1_is_the_conditional_denoiser_with_one_call():
    calls = []
    ms = model_sampling("discrete", "eps")
    net = ClassNet(ms)
    den = Denoiser(lambda x_in, t, cond: calls.append(len(x_in)) or net(x_in, t, cond), ms)
    x = 3 * torch.randn(3, 7, 2, dtype=torch.float64)
    sigma = ms.sigmas[[100, 400, 800]].double()
    torch.testing.assert_close(CFGDenoiser(den, COND, UNCOND, cfg=1.0)(x, sigma), den(x, sigma, cond=COND.expand(3)))
    assert calls == [3, 3]
    CFGDenoiser(den, COND, UNCOND, cfg=1.0)(x, sigma, model_options={"disable_cfg1_optimization": True})
    CFGDenoiser(den, COND, UNCOND, cfg=6.0)(x, sigma)
    assert calls[2:] == [6, 6]                 # one batched call of twice the size otherwise


@pytest.mark.parametrize("flow", [False, True])
def test_rescale_0_is_plain_cfg_and_1_restores_the_conditional_std(flow):
    den = which_moon(flow=flow)
    x = torch.randn(4, 9, 2, dtype=torch.float64) * (1 if flow else 3)
    sigma = torch.tensor([0.3, 0.5, 0.7, 0.9] if flow else [0.2, 1.0, 3.0, 9.0], dtype=torch.float64)
    d_c, d_u = den(x, sigma, cond=COND), den(x, sigma, cond=UNCOND)
    torch.testing.assert_close(CFGDenoiser(den, COND, UNCOND, cfg=4.0, rescale=0.0)(x, sigma), d_u + 4 * (d_c - d_u))
    out = CFGDenoiser(den, COND, UNCOND, cfg=4.0, rescale=1.0)(x, sigma)
    s = sigma.view(-1, 1, 1)
    a = 1 - s if flow else torch.ones_like(s)
    n = (a * a + s * s).sqrt()
    v = lambda x0: (a * x / n ** 2 - x0) * n / s          # the v-prediction of the variance-preserving form
    torch.testing.assert_close(v(out).std((1, 2)), v(d_c).std((1, 2)))
    half = CFGDenoiser(den, COND, UNCOND, cfg=4.0, rescale=0.5)(x, sigma)
    torch.testing.assert_close(v(half), 0.5 * v(out) + 0.5 * v(d_u + 4 * (d_c - d_u)))


def test_rescale_is_comfyuis_rescale_cfg_for_diffusion_models():
    "ComfyUI's RescaleCFG node (its formula in k-diffusion coordinates, as a sampler_cfg_function) gives the same."
    def comfy_rescale(args, multiplier=0.7):
        cond, uncond, scale, sigma, x_orig = args["cond"], args["uncond"], args["cond_scale"], args["sigma"], args["input"]
        sigma = sigma.view(sigma.shape[:1] + (1,) * (cond.ndim - 1))
        x = x_orig / (sigma * sigma + 1.0)
        cond = ((x - (x_orig - cond)) * (sigma ** 2 + 1.0) ** 0.5) / sigma
        uncond = ((x - (x_orig - uncond)) * (sigma ** 2 + 1.0) ** 0.5) / sigma
        x_cfg = uncond + scale * (cond - uncond)
        ro_pos, ro_cfg = torch.std(cond, dim=(1, 2), keepdim=True), torch.std(x_cfg, dim=(1, 2), keepdim=True)
        x_final = multiplier * x_cfg * (ro_pos / ro_cfg) + (1.0 - multiplier) * x_cfg
        return x_orig - (x - x_final * sigma / (sigma * sigma + 1.0) ** 0.5)
    x = 4 * torch.randn(3, 8, 2, dtype=torch.float64)
    sigma = torch.tensor([0.5, 2.0, 7.0], dtype=torch.float64)
    ours = CFGDenoiser(MOONS, COND, UNCOND, cfg=5.0, rescale=0.7)(x, sigma)
    comfy = CFGDenoiser(MOONS, COND, UNCOND, cfg=5.0)(x, sigma, model_options={"sampler_cfg_function": comfy_rescale})
    torch.testing.assert_close(ours, comfy)


def test_post_cfg_functions_run_in_order_and_see_both_predictions():
    seen = []
    def first(args): seen.append(("first", args["cond_scale"], args["sigma"].shape)); return args["denoised"] * 2
    def second(args): seen.append(("second", torch.equal(args["uncond_denoised"], args["model"](args["input"], args["sigma"], cond=UNCOND)))); return args["denoised"] + 1
    x, sigma = torch.randn(2, 3, 2, dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)
    g = CFGDenoiser(MOONS, COND, UNCOND, cfg=3.0)
    out = g(x, sigma, model_options={"sampler_post_cfg_function": [first, second]})
    d_c, d_u = MOONS(x, sigma, cond=COND), MOONS(x, sigma, cond=UNCOND)
    torch.testing.assert_close(out, (d_u + 3 * (d_c - d_u)) * 2 + 1)
    assert seen == [("first", 3.0, (2,)), ("second", True)]
    torch.testing.assert_close(g.uncond_denoised, d_u); torch.testing.assert_close(g.cond_denoised, d_c)


def test_conditioning_as_dicts_and_broadcast_batches():
    def den(x, sigma, cond): return MOONS(x, sigma, cond=cond["label"]) * cond["gain"].view(-1, 1, 1)
    x, sigma = torch.randn(3, 4, 2, dtype=torch.float64), torch.full((3,), 0.8, dtype=torch.float64)
    cond = {"label": torch.tensor([0, 1, 0]), "gain": torch.ones(1, dtype=torch.float64)}
    uncond = {"label": torch.tensor([-1]), "gain": torch.ones(1, dtype=torch.float64)}
    out = CFGDenoiser(den, cond, uncond, cfg=2.0)(x, sigma)
    d_c, d_u = MOONS(x, sigma, cond=torch.tensor([0, 1, 0])), MOONS(x, sigma)
    torch.testing.assert_close(out, d_u + 2 * (d_c - d_u))
    with pytest.raises(ValueError, match="same keys"): CFGDenoiser(den, cond, {"label": torch.tensor([-1])}, cfg=2.0)(x, sigma)
    with pytest.raises(ValueError, match="cond must have batch size 1 or 3"):
        CFGDenoiser(MOONS, torch.tensor([0, 1]), UNCOND, cfg=2.0)(x, sigma)


def test_cfg_function_with_the_cfg1_optimisation_hands_zeros_to_the_hooks():
    "As ComfyUI's: at cfg 1 without an unconditional call the hooks see zeros as the unconditional prediction."
    x, sigma = torch.randn(2, 3, 2, dtype=torch.float64), torch.tensor([1.0, 2.0], dtype=torch.float64)
    d_c = MOONS(x, sigma, cond=COND)
    seen = {}
    out = cfg_function(MOONS, d_c, None, 1.0, x, sigma, {"sampler_post_cfg_function": [lambda a: seen.update(a) or a["denoised"]]})
    torch.testing.assert_close(out, d_c)
    assert torch.equal(seen["uncond_denoised"], torch.zeros_like(d_c))
    assert rescale_cfg(x, sigma, d_c, d_c * 3, 0.0) is not None


# The CFG++ samplers
def _guided(flow=False, cfg=2.0, same=False):
    den = which_moon(flow=flow)
    return CFGDenoiser(den, COND, COND if same else UNCOND, cfg=cfg)




@pytest.mark.parametrize("name", GUIDED)
def test_without_guidance_cfg_pp_is_the_plain_sampler(name):
    "When the conditional and unconditional predictions agree, each CFG++ sampler is its plain counterpart."
    den = _guided(same=True, cfg=5.0)
    x = 20 * torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sig = karras(7)
    stochastic = "ancestral" in name
    kw = lambda: {"noise_sampler": noise_list(x.shape, 60)()} if stochastic else {}
    extra = {"consistent_uncond": True} if name == "dpmpp_2s_ancestral_cfg_pp" else {}
    torch.testing.assert_close(SAMPLERS[name](den, x, sig, disable=True, **extra, **kw()),
                               SAMPLERS[PLAIN[name]](den, x, sig, disable=True, **kw()), rtol=1e-9, atol=1e-9)


def test_euler_cfg_pp_is_euler_for_flow_models_without_guidance():
    den = _guided(flow=True, same=True)
    x = torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sig = torch.linspace(1, 0, 9, dtype=torch.float64)
    torch.testing.assert_close(SAMPLERS["euler_cfg_pp"](den, x, sig, disable=True), SAMPLERS["euler"](den, x, sig, disable=True))


class HostGuider:
    "A host's guider as ComfyUI's sampling_function: its own CFG, then the post-CFG functions of model_options."
    model_sampling = None

    def __init__(self, cfg): self.cfg = cfg

    def __call__(self, x, sigma, model_options=None, seed=None):
        opts = model_options or {}
        d_c, d_u = MOONS(x, sigma, cond=COND), MOONS(x, sigma, cond=UNCOND)
        out = d_u + (d_c - d_u) * self.cfg
        for fn in opts.get("sampler_post_cfg_function", []):
            out = fn({"denoised": out, "cond": None, "uncond": None, "cond_scale": self.cfg, "model": None,
                      "uncond_denoised": d_u, "cond_denoised": d_c, "sigma": sigma, "model_options": opts, "input": x})
        return out


@pytest.mark.parametrize("name", GUIDED)
def test_cfg_pp_samplers_serve_as_a_hosts_sampler_functions(name):
    "Called as a host calls its sampler functions, with the host doing the guidance, they give the same samples."
    x = 20 * torch.randn(2, 6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sig, extra = karras(6), {"model_options": {"transformer_options": {}}, "seed": 3}
    host = SAMPLERS[name](HostGuider(1.3), x, sig, extra_args=extra, disable=True)
    ours = SAMPLERS[name](_guided(cfg=1.3), x, sig, extra_args={"seed": 3}, disable=True)
    torch.testing.assert_close(host, ours)
    assert extra == {"model_options": {"transformer_options": {}}, "seed": 3}   # the caller's options are left alone


@pytest.mark.parametrize("name", GUIDED)
def test_cfg_pp_refuses_a_denoiser_without_guidance(name):
    x, sig = torch.randn(2, 1, 2), karras(3)
    with pytest.raises(ValueError, match="wrap it in CFGDenoiser"): SAMPLERS[name](MOONS, x, sig, disable=True)
    ms = model_sampling("discrete", "eps")
    with pytest.raises(ValueError, match="wrap it in CFGDenoiser"): SAMPLERS[name](Denoiser(ClassNet(ms), ms), x, sig, disable=True)
    with pytest.raises(ValueError, match="got no unconditional prediction"):
        SAMPLERS[name](lambda x, sigma, **kw: x * 0, x, sig, disable=True)


@pytest.mark.parametrize("name", GUIDED)
def test_cfg_pp_contract_callback_device_dtype(name, device):
    "The contract every sampler keeps: extra_args reach the model, the callback sees each step, device and dtype kept."
    den = _guided().to(device)
    got_extra, steps = [], []
    def model(x, sigma, **extra):
        got_extra.append(sorted(extra)); assert sigma.shape == (4,) and sigma.device == x.device
        return den(x, sigma, **extra)
    x = 20 * torch.randn(4, 3, 2, device=device)
    out = SAMPLERS[name](model, x, karras(5).to(device), extra_args={"seed": 1}, callback=lambda d: steps.append(sorted(d)), disable=True)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device and torch.isfinite(out).all()
    assert all(e == ["model_options", "seed"] for e in got_extra) and len(steps) == 5
    half = SAMPLERS[name](den, x.half(), karras(5), disable=True)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()


@pytest.mark.parametrize("name", GUIDED)
def test_cfg_pp_reads_no_host_value_inside_a_step(name, monkeypatch):
    den = _guided()
    state = {"in_loop": False}
    def model(x, sigma, **extra):
        state["in_loop"] = True
        return den(x, sigma, **extra)
    def guard(attr):
        original = getattr(torch.Tensor, attr)
        def guarded(self, *a, **k):
            if state["in_loop"]: raise AssertionError(f"host read {attr} inside a sampler step")
            return original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, attr, guarded)
    x = 20 * torch.randn(4, 3, 2)
    for attr in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"): guard(attr)
    SAMPLERS[name](model, x, karras(5), disable=True)


@pytest.mark.parametrize("name", GUIDED)
def test_cfg_pp_refuses_bad_schedules_before_sampling(name):
    calls = []
    model = lambda x, sigma, **kw: calls.append(1) or x
    for bad in ([1.0, 2.0, 0.0], [3.0, float("nan")], [1.0]):
        with pytest.raises(ValueError): SAMPLERS[name](model, torch.zeros(2, 2), bad, disable=True)
    assert not calls


def test_guidance_pulls_samples_to_their_class():
    "With the exact labelled mixture, unguided samples fall on both moons, conditional and guided ones on theirs."
    x = 20 * torch.randn(1, 2000, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    upper = lambda s: (MOONS.labels[torch.cdist(s[0], MOONS.means).argmin(1)] == 0).double().mean().item()   # nearest moon
    shares = [upper(SAMPLERS["dpmpp_2m"](_guided(cfg=w), x, karras(30), disable=True)) for w in (0.0, 1.0, 3.0)]
    assert abs(shares[0] - 0.5) < 0.05 and shares[1] > 0.99 and shares[2] > 0.99, shares
