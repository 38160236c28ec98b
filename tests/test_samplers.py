"""Samplers against exact answers: the ODE end point of Gaussian data, the data distribution of a mixture,
the denoiser wrapper with every parameterization, bad schedules, and no host reads inside a step."""
import json
import math

import pytest
import torch

import sched_nb
from sched_nb.compose import model_sampling
from sched_nb.parameterizations import CONST
from sched_nb.multistep import sample_dpmpp_2m
from sched_nb.samplers import (SAMPLERS, Denoiser, GaussianMixtureDenoiser, check_sigmas, finish_latent,
                               prepare_latent, sample, sample_euler, sample_euler_ancestral, sample_heun, sample_lcm)

ODE_SAMPLERS = [sample_euler, sample_heun, sample_dpmpp_2m]
GUIDED = {name for name in SAMPLERS if name.endswith("_cfg_pp")}   # need a guided model: test_guidance.py checks them
ALL_SAMPLERS = [SAMPLERS[name] for name in SAMPLERS if name not in GUIDED]   # every other sampler, of every family
HOST_READS = {"dpm_adaptive"}                              # sizes its steps from an error read back each step


def karras(n, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    r = torch.linspace(0, 1, n, dtype=torch.float64)
    s = (sigma_max ** (1 / rho) + r * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, s.new_zeros(1)])


def flow_sigmas(n): return torch.linspace(1, 0, n + 1, dtype=torch.float64)


MU, S = torch.tensor([[0.5, -1.0]], dtype=torch.float64), 0.3


def ode_end(x, sigma0, flow=False):
    "Where the probability-flow ODE of data N(MU, S^2) started at (x, sigma0) ends: the z-score is kept."
    a = 1 - sigma0 if flow else 1.0
    return MU + S * (x - a * MU) / math.sqrt(a * a * S * S + sigma0 * sigma0)


def test_public_names():
    "Every registered sampler is importable from sched_nb as sample_<name>, and is the registry's function."
    assert len(SAMPLERS) >= 5
    for name in SAMPLERS:
        assert getattr(sched_nb, f"sample_{name}") is SAMPLERS[name], name
    assert sched_nb.SAMPLERS is SAMPLERS


@pytest.mark.parametrize("flow", [False, True], ids=["ve", "flow"])
@pytest.mark.parametrize("sampler,order", [(sample_euler, 1), (sample_heun, 2), (sample_dpmpp_2m, 2)],
                         ids=["euler", "heun", "dpmpp_2m"])
def test_ode_samplers_converge_at_their_order(sampler, order, flow):
    den = GaussianMixtureDenoiser(MU, [S], flow=flow)
    gen = torch.Generator().manual_seed(0)
    if flow:
        x = torch.randn(300, 2, generator=gen, dtype=torch.float64)
        steps, sigmas = (80, 160, 320), flow_sigmas
    else:
        x = 80.0 * torch.randn(300, 2, generator=gen, dtype=torch.float64)
        steps, sigmas = (10, 20, 40), karras
    exact = ode_end(x, float(sigmas(4)[0]), flow)
    err = [(sampler(den, x, sigmas(n), disable=True) - exact).abs().max().item() for n in steps]
    assert err[0] > err[1] > err[2]
    ratio = err[1] / err[2]
    assert 2 ** order * 0.75 < ratio < 2 ** order * 1.6, (err, ratio)


def _moments(x): return torch.stack([x.mean(), x.std(), (x < 0).double().mean()])


@pytest.mark.parametrize("flow", [False, True], ids=["ve", "flow"])
@pytest.mark.parametrize("sampler", [sample_euler, sample_heun, sample_dpmpp_2m, sample_euler_ancestral], ids=lambda f: f.__name__)
def test_samplers_reach_the_mixture(sampler, flow):
    means, stds, weights = [[-2.0], [1.0], [3.0]], [0.5, 0.6, 0.4], [0.2, 0.5, 0.3]
    den = GaussianMixtureDenoiser(means, stds, weights, flow=flow)
    data = den.sample(10000, torch.Generator().manual_seed(1))
    x = torch.randn(10000, 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    sigmas = flow_sigmas(100) if flow else karras(100)
    if not flow: x = x * 80.0
    kw = {"generator": torch.Generator().manual_seed(3)} if sampler is sample_euler_ancestral else {}
    got = sampler(den, x, sigmas, disable=True, **kw)
    diff = (_moments(got) - _moments(data)).abs()
    assert (diff < torch.tensor([0.05, 0.08, 0.02], dtype=torch.float64)).all(), diff


@pytest.mark.parametrize("flow", [False, True], ids=["ve", "flow"])
@pytest.mark.parametrize("steps", [1, 2, 4])
def test_lcm_with_an_exact_consistency_function_samples_the_data(steps, flow):
    "The consistency function of N(MU, S^2) is the ODE end point: every LCM run then samples the data exactly."
    def f(x, sigma):
        sg = sigma.view(-1, 1).to(x.dtype)
        a = 1 - sg if flow else 1.0
        return MU + S * (x - a * MU) / (a * a * S * S + sg * sg).sqrt()
    if flow: f.model_sampling = CONST()
    x = torch.randn(20000, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    sigmas = flow_sigmas(steps) if flow else karras(steps)
    if not flow: x = x * 80.0
    got = sample_lcm(f, x, sigmas, generator=torch.Generator().manual_seed(5), disable=True)
    torch.testing.assert_close(got.mean(0), MU[0], atol=0.015, rtol=0)
    torch.testing.assert_close(got.std(0), torch.full((2,), S, dtype=torch.float64), atol=0.01, rtol=0)


@pytest.mark.parametrize("schedule,param", [("discrete", "eps"), ("discrete", "v_prediction"), ("discrete", "x0"),
                                            ("continuous_edm", "edm"), ("continuous_v", "v_prediction"),
                                            ("discrete_flow", "const"), ("discrete_edm", "edm")])
def test_denoiser_wrapper_is_apply_model(schedule, param, device):
    "With a network that answers what the parameterization asks for, the wrapper returns the target x0."
    ms = model_sampling(schedule, param).to(device)
    sigma = ms.sigmas[[10, 300, 700, 990]]   # on the schedule's grid, so timestep -> sigma is exact
    x = torch.randn(4, 3, 5, 5, device=device) * 3
    target = torch.randn(4, 3, 5, 5, device=device)
    seen = {}

    def net(x_in, t, **extra):
        seen.update(extra, t=t)
        s = ms.sigma(t).view(-1, 1, 1, 1)
        xs = x_in / ms.c_in(s)
        return (target - ms.c_skip(s) * xs) / ms.c_out(s)

    got = Denoiser(net, ms)(x, sigma, cond="c")
    torch.testing.assert_close(got, target, rtol=2e-4, atol=2e-4)
    assert seen["cond"] == "c" and seen["t"].dtype == torch.float32 and got.device.type == device.type
    torch.testing.assert_close(seen["t"], ms.timestep(sigma).float())


@pytest.mark.parametrize("sampler", ALL_SAMPLERS, ids=lambda f: f.__name__)
def test_signature_extra_args_callback_and_device(sampler, device):
    den = GaussianMixtureDenoiser(MU, [S]).to(device)
    x = 80 * torch.randn(6, 2, device=device)
    got_extra, steps = [], []

    def model(x, sigma, **extra):
        got_extra.append(extra)
        assert sigma.shape == (6,) and sigma.device == x.device
        return den(x, sigma)

    out = sampler(model, x, karras(5).to(device), extra_args={"cond": 1},
                  callback=lambda d: steps.append(sorted(d)), disable=True)
    assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device
    assert all(e == {"cond": 1} for e in got_extra) and got_extra
    # one callback per step; dpm_fast takes 5 // 3 + 1 = 2 steps for its 5 calls; dpm_adaptive as many as it needs
    expected = {"sample_dpm_fast": 2, "sample_dpm_adaptive": len(steps)}.get(sampler.__name__, 5)
    assert len(steps) == expected and steps[0] == ["denoised", "i", "sigma", "sigma_hat", "x"]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("sampler", ALL_SAMPLERS, ids=lambda f: f.__name__)
def test_half_precision_latents_stay_half(sampler, device):
    den = GaussianMixtureDenoiser(MU, [S]).to(device)
    x = (80 * torch.randn(8, 2, device=device)).half()
    out = sampler(den, x, karras(6), disable=True)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()


@pytest.mark.parametrize("sampler", [f for f in ALL_SAMPLERS if f.__name__[len("sample_"):] not in HOST_READS],
                         ids=lambda f: f.__name__)
def test_no_host_reads_inside_a_step(sampler, monkeypatch):
    "After the first model call nothing may read a tensor's value on the host (no .item(), bool(), float(), tolist())."
    den = GaussianMixtureDenoiser(MU, [S])
    state = {"in_loop": False}

    def model(x, sigma):
        state["in_loop"] = True
        return den(x, sigma)

    def guard(name):
        original = getattr(torch.Tensor, name)
        def guarded(self, *a, **k):
            if state["in_loop"]: raise AssertionError(f"host read {name} inside a sampler step")
            return original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, guarded)

    x = 80 * torch.randn(4, 2)
    sig = karras(6)
    _ = den(x, sig[:1].expand(4))   # the denoiser itself is allowed its setup
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"): guard(name)
    sampler(model, x, sig, disable=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("sampler", [f for f in ALL_SAMPLERS if f.__name__[len("sample_"):] not in HOST_READS],
                         ids=lambda f: f.__name__)
def test_no_synchronisation_on_cuda(sampler):
    den = GaussianMixtureDenoiser(MU, [S]).cuda()
    x = 80 * torch.randn(4, 2, device="cuda")
    sig = karras(6).cuda()
    first = {"done": False}

    def model(x, sigma):
        if not first["done"]:
            torch.cuda.set_sync_debug_mode("error"); first["done"] = True
        return den(x, sigma)
    try:
        sampler(model, x, sig, disable=True)
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.parametrize("bad,message", [
    (torch.ones(2, 2), "1-D"), ([3.0], "at least 2"), ([3.0, float("inf"), 0.0], "finite"),
    ([3.0, float("nan")], "finite"), ([1.0, 2.0, 0.0], "non-increasing"), ([1.0, 0.0, 0.0], "only the last"),
    ([0.0, 0.0], "only the last"), ([1.0, -1.0], "> 0"), (torch.tensor([True, False]), "real 1-D"),
])
def test_bad_schedules_are_refused_before_sampling(bad, message):
    calls = []
    model = lambda x, sigma: calls.append(1) or x
    for sampler in ALL_SAMPLERS:
        with pytest.raises(ValueError, match=message.replace("(", r"\(")):
            sampler(model, torch.zeros(2, 2), bad, disable=True)
    assert not calls
    with pytest.raises(TypeError, match="sigmas"):
        check_sigmas(object())


def test_euler_ancestral_options():
    den = GaussianMixtureDenoiser(MU, [S])
    x = 80 * torch.randn(5, 2, dtype=torch.float64)
    run = lambda seed, **kw: sample_euler_ancestral(den, x, karras(8), generator=torch.Generator().manual_seed(seed), disable=True, **kw)
    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))
    torch.testing.assert_close(run(1, eta=0.0), sample_euler(den, x, karras(8), disable=True))
    torch.testing.assert_close(run(1, s_noise=0.0), run(2, s_noise=0.0))
    with pytest.raises(ValueError, match="eta"):
        run(1, eta=-0.5)
    with pytest.raises(TypeError, match="s_noise"):
        run(1, s_noise="much")
    # a custom noise sampler is used instead of the generator
    zeros = sample_euler_ancestral(den, x, karras(8), noise_sampler=lambda s, sn: torch.zeros_like(x), disable=True)
    torch.testing.assert_close(zeros, run(3, s_noise=0.0))


def test_cpu_generator_gives_the_same_samples_on_every_device(device):
    den = GaussianMixtureDenoiser(MU, [S]).to(device)
    x = 80 * torch.randn(5, 2)
    out = [sample_euler_ancestral(den, x.to(device), karras(6), generator=torch.Generator().manual_seed(9), disable=True).cpu()
           for _ in range(2)]
    ref = sample_euler_ancestral(den.cpu(), x, karras(6), generator=torch.Generator().manual_seed(9), disable=True)
    torch.testing.assert_close(out[0], ref, rtol=1e-4, atol=1e-4)
    assert torch.equal(out[0], out[1])


def test_heun_spends_two_calls_a_step_but_one_on_the_last():
    den = GaussianMixtureDenoiser(MU, [S])
    calls = []
    sample_heun(lambda x, s: calls.append(1) or den(x, s), 80 * torch.randn(2, 2), karras(7), disable=True)
    assert len(calls) == 13
    calls.clear()   # a schedule that stops above 0 gets the correction on every step
    sample_heun(lambda x, s: calls.append(1) or den(x, s), 80 * torch.randn(2, 2), karras(7)[:-1], disable=True)
    assert len(calls) == 12


def test_progress_bar_shows_unless_disabled(capsys):
    den = GaussianMixtureDenoiser(MU, [S])
    sample_euler(den, torch.zeros(2, 2), karras(3), disable=False)
    assert "3/3" in capsys.readouterr().err
    sample_euler(den, torch.zeros(2, 2), karras(3), disable=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("schedule,param", [("discrete", "eps"), ("continuous_edm", "edm"), ("discrete_flow", "const")])
def test_sample_end_to_end_and_img2img(schedule, param):
    "noise_scaling at the start, inverse_noise_scaling at the end; starting lower keeps the result near the latent."
    ms = model_sampling(schedule, param)
    flow = param == "const"
    mix = GaussianMixtureDenoiser([[-2.0], [2.0]], [0.4, 0.4], flow=flow)

    def net(x_in, t):
        s = ms.sigma(t).view(-1, 1)
        x = x_in / ms.c_in(s)
        return (mix(x, s.view(-1)) - ms.c_skip(s) * x) / ms.c_out(s)

    den = Denoiser(net, ms)
    smax, smin = ms.sigma_max.item(), ms.sigma_min.item()
    sigmas = torch.cat([torch.linspace(math.log(smax), math.log(smin), 60).exp(), torch.zeros(1)])
    noise = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0))
    full = sample(den, noise, sigmas, "dpmpp_2m", disable=True)
    assert abs((full > 0).float().mean().item() - 0.5) < 0.04
    assert abs(full.abs().mean().item() - 2.0) < 0.1
    start = torch.full_like(noise, 2.0)
    part = sample(den, noise, sigmas[40:], "euler", latent_image=start, disable=True)
    assert (part > 0).float().mean().item() > 0.97
    # the pieces, by hand
    x = prepare_latent(ms, sigmas[40:], noise, start, max_denoise=False)
    torch.testing.assert_close(x, ms.noise_scaling(sigmas[40:41], noise, start))
    torch.testing.assert_close(finish_latent(ms, sigmas[40:], sample_euler(den, x, sigmas[40:], disable=True)), part)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample(den, noise, sigmas, "no_such_sampler", disable=True)


def test_max_denoise_is_decided_from_the_first_sigma():
    ms = model_sampling("discrete", "eps")
    noise = torch.ones(2, 1)
    top = torch.stack([ms.sigma_max, torch.tensor(0.0)])
    torch.testing.assert_close(prepare_latent(ms, top, noise), noise * (1 + ms.sigma_max ** 2).sqrt())
    low = torch.tensor([2.0, 0.0])
    torch.testing.assert_close(prepare_latent(ms, low, noise), noise * 2.0)


@pytest.mark.parametrize("code", [
    "import sched_nb, torch\nassert sched_nb.sample_ipndm.__module__ == 'sched_nb.multistep'\n"
    "from sched_nb.samplers import SAMPLERS, sample\nassert {'uni_pc', 'lms', 'euler'} <= set(SAMPLERS)\n"
    "sample(sched_nb.Denoiser(lambda x, t: x, sched_nb.model_sampling('discrete', 'eps')), torch.zeros(1, 2),"
    " torch.tensor([1.0, 0.0]), 'deis', disable=True)",
    "from sched_nb import SAMPLERS\nassert {'uni_pc', 'lms', 'euler'} <= set(SAMPLERS) and SAMPLERS['deis'].__name__ == 'sample_deis'",
], ids=["family module first", "registry first"])
def test_every_import_order_sees_every_sampler(code):
    "Whichever module is imported first, the registry holds every family's samplers (no circular import)."
    import subprocess, sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_progress_bar_is_shown_by_default(capsys):
    den = GaussianMixtureDenoiser(MU, [S])
    sample_euler(den, torch.zeros(2, 2), karras(3))
    assert "3/3" in capsys.readouterr().err


def test_denoiser_quantize_false_asks_for_the_fractional_timestep():
    class Fractional:
        sigma_max = torch.tensor(10.0)
        def timestep(self, sigma, quantize=True): return sigma * 100 if quantize else sigma * 100 + 0.25
        def calculate_input(self, sigma, x): return x
        def calculate_denoised(self, sigma, out, x): return out
    seen = []
    den = Denoiser(lambda x, t: seen.append(t) or x, Fractional(), quantize=False)
    den(torch.zeros(2, 1), torch.tensor([1.0, 2.0]))
    torch.testing.assert_close(seen[0], torch.tensor([100.25, 200.25]))
    with pytest.raises(TypeError, match="takes no quantize argument"):
        Denoiser(lambda x, t: x, model_sampling("continuous_edm", "edm"), quantize=False)


def test_denoiser_keeps_the_samplers_extra_args_from_the_network():
    "`seed` and `model_options` are read by the samplers; a network without **kwargs never sees them."
    calls = []
    def net(x, t, cond=None):   # takes no seed and no model_options
        calls.append(cond)
        return torch.zeros_like(x)
    den = Denoiser(net, model_sampling("discrete", "eps"))
    sigmas = torch.tensor([14.6, 1.0, 0.0])
    x = torch.randn(2, 3)
    out = sample_euler(den, x * sigmas[0], sigmas, extra_args={"seed": 7, "model_options": {}, "cond": "c"}, disable=True)
    torch.testing.assert_close(out, x * sigmas[0])   # eps = 0: the latent does not move
    assert calls == ["c", "c"]


@pytest.mark.slow
def test_progress_bar_in_jupyter_is_a_notebook_widget_unless_disabled():
    "In a Jupyter kernel tqdm.auto draws a sampler's bar as a notebook widget that reaches n/n; disable=True draws none."
    nbformat, nbclient = pytest.importorskip("nbformat"), pytest.importorskip("nbclient")
    pytest.importorskip("ipywidgets")
    setup = ("import torch\nfrom sched_nb.samplers import sample_euler, GaussianMixtureDenoiser\n"
             "den = GaussianMixtureDenoiser([[0.0]], [1.0])\ns = torch.tensor([2.0, 1.0, 0.5, 0.0])")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        setup, "_ = sample_euler(den, torch.zeros(2, 1), s)", "_ = sample_euler(den, torch.zeros(2, 1), s, disable=True)")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    shown, quiet = nb.cells[1].outputs, nb.cells[2].outputs
    assert [o["output_type"] for o in shown] == ["display_data"], shown
    assert "application/vnd.jupyter.widget-view+json" in shown[0]["data"]
    state = json.dumps(nb.metadata.get("widgets", {}))
    assert "3/3" in state, state[:2000]          # the widget's label at the end of the run
    assert quiet == []


FAST_PATH_SAMPLINGS = [("discrete", "eps", {}), ("discrete", "v_prediction", {"zsnr": True}), ("continuous_edm", "edm", {"sigma_data": 0.5}),
                       ("discrete_flow", "const", {"shift": 3.0}), ("flux", "const", {}), ("stable_cascade", "eps", {}),
                       ("discrete", "x0", {}), ("discrete_distilled", "lcm", {}), ("cosmos_rflow", "cosmos_rflow", {})]


@pytest.mark.parametrize("schedule, param, settings", FAST_PATH_SAMPLINGS, ids=lambda v: str(v) if not isinstance(v, dict) else "")
@pytest.mark.parametrize("batch, dtype", [(1, torch.float32), (3, torch.float32), (2, torch.float64)])
def test_a_runs_known_weights_give_the_public_methods_latent_to_the_bit(schedule, param, settings, batch, dtype, monkeypatch):
    "A sampler's Denoiser steps with the weights of every level computed before the loop: the same bits as calculate_input/_denoised."
    from sched_nb.compose import model_sampling
    from sched_nb.schedulers import calculate_sigmas
    ms = model_sampling(schedule, param, **settings)
    net = lambda x, t, **k: torch.tanh(x) * (1 + t.reshape(-1, *(1,) * (x.ndim - 1)) / 1000)   # a nonlinear net that reads t
    den = Denoiser(net, ms)
    sigmas = calculate_sigmas(ms, "karras", 6).to(dtype)
    x = torch.randn(batch, 2, 3, 3, generator=torch.Generator().manual_seed(0), dtype=dtype) * sigmas[0]
    assert (den._level_coefficients(sigmas, x) is None) == (param in ("x0", "lcm"))   # those two define their own methods
    names = ["euler", "heun", "dpmpp_2m", "uni_pc", "euler_ancestral"]
    fast = [SAMPLERS[n](den, x, sigmas, disable=True, **({"generator": torch.Generator().manual_seed(1)} if n == "euler_ancestral" else {}))
            for n in names]
    monkeypatch.setattr(Denoiser, "_level_coefficients", lambda self, table, x: None)   # the public methods at every step
    for n, got in zip(names, fast):
        want = SAMPLERS[n](den, x, sigmas, disable=True, **({"generator": torch.Generator().manual_seed(1)} if n == "euler_ancestral" else {}))
        assert got.dtype == want.dtype and torch.equal(got, want), (n, (got - want).abs().max())


def test_a_net_answering_another_dtype_or_shape_takes_the_public_path(monkeypatch):
    from sched_nb.compose import model_sampling
    ms = model_sampling("discrete", "eps")
    sigmas = torch.tensor([10.0, 1.0, 0.0])
    x = torch.randn(2, 1, 2, 2)
    wide = Denoiser(lambda x, t, **k: x.double(), ms)                  # a float64 answer: promoted as calculate_denoised promotes
    got = SAMPLERS["euler"](wide, x, sigmas, disable=True)
    with monkeypatch.context() as m:
        m.setattr(Denoiser, "_level_coefficients", lambda self, table, x: None)
        assert got.dtype == torch.float32 and torch.equal(got, SAMPLERS["euler"](wide, x, sigmas, disable=True))
    wrong = Denoiser(lambda x, t, **k: x[:, :, :1], ms)               # a narrower answer: refused, naming the shapes
    with pytest.raises(ValueError, match="shape"):
        SAMPLERS["euler"](wrong, x, sigmas, disable=True)
    with pytest.raises(TypeError, match="net must return a tensor"):
        SAMPLERS["euler"](Denoiser(lambda x, t, **k: 1.0, ms), x, sigmas, disable=True)


def test_the_mixture_denoises_each_point_of_an_image_as_an_image_of_its_own():
    g = GaussianMixtureDenoiser([[-2.0, 0.0], [2.0, 0.0]], [0.3, 0.3])
    x, s = torch.randn(3, 5, 4, 2, generator=torch.Generator().manual_seed(0)), torch.tensor([1.0, 2.0, 0.5])
    one_by_one = torch.stack([g(x[i].reshape(-1, 2), s[i].expand(20)).reshape(5, 4, 2) for i in range(3)])
    assert torch.equal(g(x, s), one_by_one) and torch.equal(g(x, 2.0)[1], one_by_one[1])
    with pytest.raises(ValueError, match=r"x must have shape \[B, 2\].*got \(2, 3, 5\)"):
        g(torch.randn(2, 3, 5), s[:2])
