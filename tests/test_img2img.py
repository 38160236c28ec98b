"""img2img and multi-stage sampling: ComfyUI's schedule slicing (its KSampler's denoise and step range, its sigma
nodes), a two-stage run equal to one run, inversion, inpainting, and `sample()` with each option."""
import math

import pytest
import torch

from sched_nb.compose import model_sampling
from sched_nb.guidance import (InpaintDenoiser, extend_intermediate_sigmas, flip_sigmas, prepare_noise, sample,
                               sampling_sigmas, set_first_sigma, split_sigmas, split_sigmas_denoise, step_range)
from sched_nb.samplers import SAMPLERS, GaussianMixtureDenoiser
from sched_nb.schedulers import calculate_sigmas

EPS = model_sampling("discrete", "eps")
FLOW = model_sampling("discrete_flow", "const")


def exact(flow=False):
    "The exact denoiser of a 4-d Gaussian mixture with the model sampling of an EPS or a flow model."
    den = GaussianMixtureDenoiser([[-1.0, 0.5, 0.2, 0.0], [1.0, -0.5, 0.4, 0.3]], [0.4, 0.3], flow=flow)
    den.model_sampling = FLOW if flow else EPS
    return den


@pytest.mark.parametrize("steps", [4, 10, 25])
@pytest.mark.parametrize("denoise", [0.2, 0.35, 0.5, 0.99])
@pytest.mark.parametrize("scheduler", ["karras", "normal", "simple"])
def test_denoise_is_the_tail_of_a_longer_schedule(steps, denoise, scheduler):
    "ComfyUI's KSampler: int(steps / denoise) steps, of which the last steps + 1 sigmas are run."
    got = sampling_sigmas(EPS, scheduler, steps, denoise)
    full = calculate_sigmas(EPS, scheduler, int(steps / denoise))
    assert torch.equal(got, full[-(steps + 1):]) and len(got) == steps + 1


def test_denoise_edges_and_the_samplers_that_drop_a_sigma():
    assert torch.equal(sampling_sigmas(EPS, "karras", 8, 1.0), calculate_sigmas(EPS, "karras", 8))
    assert torch.equal(sampling_sigmas(EPS, "karras", 8, 0.99995), calculate_sigmas(EPS, "karras", 8))
    assert sampling_sigmas(EPS, "karras", 8, 0.0).numel() == 0
    nine = calculate_sigmas(EPS, "karras", 9)
    assert torch.equal(sampling_sigmas(EPS, "karras", 8, sampler="dpm_2"), torch.cat([nine[:-2], nine[-1:]]))
    seventeen = calculate_sigmas(EPS, "karras", 17)
    assert torch.equal(sampling_sigmas(EPS, "karras", 8, 0.5, sampler="uni_pc"), torch.cat([seventeen[:-2], seventeen[-1:]])[-9:])
    with pytest.raises(ValueError, match="denoise must be <= 1.0"): sampling_sigmas(EPS, "karras", 8, 1.5)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"): sampling_sigmas(EPS, "karras", 0)


def _comfy_range(sigmas, start, end, leftover):
    "ComfyUI's KSampler.sample slicing, step by step (the reference's rules, written out here)."
    sigmas = sigmas.clone()
    if end is not None and end < len(sigmas) - 1:
        sigmas = sigmas[:end + 1]
        if not leftover: sigmas[-1] = 0
    if start is not None:
        if start < len(sigmas) - 1: sigmas = sigmas[start:]
        else: return None
    return sigmas


@pytest.mark.parametrize("leftover", [False, True])
def test_step_range_is_ksampler_advanceds(leftover):
    sig = calculate_sigmas(EPS, "karras", 10)
    for start in (None, 0, 3, 9, 10, 12):
        for end in (None, 0, 4, 9, 10, 10000):
            got, want = step_range(sig, start, end, leftover), _comfy_range(sig, start, end, leftover)
            assert (got is None) == (want is None) and (got is None or torch.equal(got, want)), (start, end)
    assert torch.equal(sig, calculate_sigmas(EPS, "karras", 10))      # the caller's schedule is left alone


@pytest.mark.parametrize("flow", [False, True], ids=["eps", "flow"])
@pytest.mark.parametrize("sampler", ["euler", "heun", "dpm_2"])
def test_two_stages_are_one_run(flow, sampler):
    "A base run over the first steps with its leftover noise, then a refiner without added noise: one run (one-step samplers)."
    den = exact(flow)
    noise = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    latent = torch.zeros_like(noise)
    kw = dict(sampler=sampler, scheduler="simple" if flow else "karras", steps=12, disable=True)
    one = sample(den, noise, latent_image=latent, **kw)
    base = sample(den, noise, latent_image=latent, end_at_step=5, return_with_leftover_noise=True, **kw)
    refined = sample(den, noise, latent_image=base, start_at_step=5, add_noise=False, **kw)
    torch.testing.assert_close(refined, one, rtol=1e-9, atol=1e-9)


def test_split_sigmas_and_a_run_over_both_halves():
    sig = calculate_sigmas(EPS, "karras", 10).double()
    high, low = split_sigmas(sig, 4)
    assert torch.equal(high, sig[:5]) and torch.equal(low, sig[4:]) and high[-1] == low[0]
    den, x = exact(), 14.6 * torch.randn(3, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(SAMPLERS["euler"](den, SAMPLERS["euler"](den, x, high, disable=True), low, disable=True),
                               SAMPLERS["euler"](den, x, sig, disable=True), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="step must be an integer >= 0"): split_sigmas(sig, -1)


@pytest.mark.parametrize("denoise", [0.0, 0.3, 0.5, 1.0])
def test_split_sigmas_denoise(denoise):
    sig = calculate_sigmas(EPS, "karras", 10)
    high, low = split_sigmas_denoise(sig, denoise)
    total = round(10 * denoise)
    assert len(low) == total + 1 and torch.equal(low, sig[-(total + 1):])
    assert torch.equal(torch.cat([high, low[1:]]), sig) if total else torch.equal(high, sig)   # ComfyUI's sigmas[:-0] is empty


def test_flip_and_set_first_sigma():
    sig = torch.tensor([14.6, 3.0, 0.5, 0.0])
    assert flip_sigmas(sig).tolist() == pytest.approx([1e-4, 0.5, 3.0, 14.6]) and sig[-1] == 0
    assert set_first_sigma(sig, 136.0).tolist() == pytest.approx([136.0, 3.0, 0.5, 0.0]) and sig[0] == pytest.approx(14.6)
    assert flip_sigmas(torch.zeros(0)).numel() == 0
    with pytest.raises(ValueError, match="at least one noise level"): set_first_sigma(torch.zeros(0))
    with pytest.raises(TypeError, match="sigmas must be"): flip_sigmas("abc")


def _comfy_extend(sigmas, steps, start, end, spacing):
    "ComfyUI's ExtendIntermediateSigmas, step by step."
    if start < 0: start = float("inf")
    f = {"linear": lambda x: x, "cosine": lambda x: torch.sin(x * math.pi / 2), "sine": lambda x: 1 - torch.cos(x * math.pi / 2)}[spacing]
    u = f(torch.linspace(0, 1, steps + 1)[1:-1])
    out = []
    for i in range(len(sigmas) - 1):
        out.append(sigmas[i])
        if end <= sigmas[i] <= start: out.extend((u * (sigmas[i + 1] - sigmas[i]) + sigmas[i]).tolist())
    out.append(sigmas[-1])
    return torch.FloatTensor(out)


@pytest.mark.parametrize("spacing", ["linear", "cosine", "sine"])
@pytest.mark.parametrize("steps,start,end", [(2, -1.0, 12.0), (3, -1.0, 0.0), (4, 5.0, 0.5), (1, -1.0, 0.0)])
def test_extend_intermediate_sigmas_is_comfyuis(spacing, steps, start, end):
    sig = calculate_sigmas(EPS, "karras", 8)
    assert torch.equal(extend_intermediate_sigmas(sig, steps, start, end, spacing), _comfy_extend(sig, steps, start, end, spacing))
    with pytest.raises(ValueError, match="spacing must be one of"): extend_intermediate_sigmas(sig, spacing="cubic")


@pytest.mark.parametrize("flow", [False, True], ids=["eps", "flow"])
@pytest.mark.parametrize("sampler", ["euler", "dpmpp_2m", "euler_ancestral", "dpmpp_2s_ancestral"])
def test_inpainting_keeps_the_known_part_and_samples_the_rest(flow, sampler):
    """Data with independent coordinates: the kept half comes back exactly, and the regenerated half is what the same
    run without a mask makes of it (its denoiser does not look at the other half)."""
    den = GaussianMixtureDenoiser([[0.0, 0.0, 0.0, 0.0]], [[0.5]], flow=flow)
    den.model_sampling = FLOW if flow else EPS
    known = torch.randn(500, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.5
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64)   # regenerate the first two coordinates
    noise = torch.randn(500, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    kw = dict(sampler=sampler, scheduler="simple" if flow else "karras", steps=30, latent_image=known, seed=4, disable=True)
    out, free = sample(den, noise, denoise_mask=mask, **kw), sample(den, noise, **kw)
    torch.testing.assert_close(out[:, 2:], known[:, 2:])
    torch.testing.assert_close(out[:, :2], free[:, :2], rtol=1e-9, atol=1e-9)
    assert (out[:, :2] - known[:, :2]).abs().mean() > 0.3                     # regenerated, not copied


def test_inpainted_part_has_the_datas_law():
    den = GaussianMixtureDenoiser([[0.0, 0.0, 0.0, 0.0]], [[0.5]])
    den.model_sampling = EPS
    known = torch.randn(8000, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.5
    noise = torch.randn(8000, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = sample(den, noise, sampler="heun", scheduler="karras", steps=30, latent_image=known,
                 denoise_mask=torch.tensor([1.0, 1.0, 0.0, 0.0]), disable=True)
    assert abs(out[:, :2].mean().item()) < 0.02 and abs(out[:, :2].std().item() - 0.5) < 0.02


def test_inpainting_denoiser_and_ddims_own_noise():
    den, x = exact(), torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="does not broadcast"): InpaintDenoiser(den, x, x, torch.ones(3))
    with pytest.raises(ValueError, match="numbers in \\[0, 1\\]"): InpaintDenoiser(den, x, x, torch.full((4,), 2.0))
    seen = []
    d = InpaintDenoiser(lambda x, sigma: seen.append(x) or x, x + 1, torch.ones_like(x), torch.tensor([1.0, 0, 0, 0]))
    d.model_sampling = EPS
    out = d(torch.full_like(x, 7.0), torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(seen[0], torch.tensor([[7.0, 3, 3, 3]] * 2, dtype=torch.float64))   # known part: 1 + 2 * 1
    torch.testing.assert_close(out, torch.tensor([[7.0, 1, 1, 1]] * 2, dtype=torch.float64))
    noise = torch.randn(2, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    captured = {}
    class Spy(InpaintDenoiser):
        def __init__(self, *a): super().__init__(*a); captured["noise"] = self.noise
    import sched_nb.guidance as G
    original, G.InpaintDenoiser = G.InpaintDenoiser, Spy
    try: sample(den, noise, sampler="ddim", scheduler="karras", steps=3, latent_image=x, denoise_mask=torch.ones(4), seed=9, disable=True)
    finally: G.InpaintDenoiser = original
    torch.testing.assert_close(captured["noise"], torch.randn(2, 4, generator=torch.Generator().manual_seed(10)).double())


def test_sample_options():
    den = exact()
    latent = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    a = sample(den, None, sampler="euler", scheduler="karras", steps=5, latent_image=latent, seed=42, disable=True)
    b = sample(den, prepare_noise(latent, 42), sampler="euler", scheduler="karras", steps=5, latent_image=latent, disable=True)
    assert torch.equal(a, b)
    assert torch.equal(prepare_noise(latent, 42), torch.randn(3, 4, generator=torch.Generator().manual_seed(42)))
    assert sample(den, None, scheduler="karras", steps=5, latent_image=latent, seed=1, start_at_step=5) is latent
    assert sample(den, None, scheduler="karras", steps=5, latent_image=latent, seed=1, denoise=0.0) is latent
    seen = {}
    sample(den, None, sampler=lambda m, x, s, extra_args=None, **kw: seen.update(extra_args) or x, scheduler="karras",
           steps=3, latent_image=latent, seed=5, extra_args={"cond": 1})
    assert seen == {"cond": 1, "seed": 5}
    low = sample(den, torch.randn(3, 4), sampler="euler", scheduler="karras", steps=10, denoise=0.1, latent_image=latent, disable=True)
    high = sample(den, torch.randn(3, 4), sampler="euler", scheduler="karras", steps=10, denoise=0.9, latent_image=latent, disable=True)
    assert (low - latent).abs().mean() < (high - latent).abs().mean()      # a small denoise keeps the image
    with pytest.raises(ValueError, match="give sigmas, or scheduler and steps"): sample(den, latent)
    with pytest.raises(ValueError, match="not both"): sample(den, latent, calculate_sigmas(EPS, "karras", 3), denoise=0.5)
    with pytest.raises(ValueError, match="needs latent_image and seed"): sample(den, None, scheduler="karras", steps=3)
