"""The toy model end to end: four parameterizations trained on two moons (the shipped weights, and training that
makes them again), every sampler far closer to the data than pure noise; the distance and the data generators on
their own; run_sampler, the samplers' options and the toy explorer."""
import math

import pytest
import torch

from sched_nb.samplers import SAMPLERS
from sched_nb.toy import (TOY_MODELS, ToyNet, load_toy_models, run_sampler, sampler_table, save_toy_models,
                          sliced_wasserstein, spiral, toy_model_samplings, toy_models, toy_sigmas, train_toy, two_moons)


@pytest.fixture(scope="module")
def trained():
    "The four toy models as train_toy's defaults make them: the shipped weights (tools/train_toy.py)."
    return toy_models()


def test_the_shipped_weights_are_what_training_makes(trained, tmp_path):
    "Training one model again with the defaults samples the same points as its shipped float16 weights."
    assert set(trained) == set(TOY_MODELS)
    fresh = train_toy(toy_model_samplings()["EDM"], progress=False)
    noise = torch.randn(1000, 2, generator=torch.Generator().manual_seed(11))
    a, b = (run_sampler(d, noise, "dpmpp_2m", "karras", 20)["x"] for d in (trained["EDM"], fresh))
    floor = sliced_wasserstein(two_moons(1000, generator=torch.Generator().manual_seed(1)),
                               two_moons(1000, generator=torch.Generator().manual_seed(2)))
    assert sliced_wasserstein(a, b) < 0.05 * floor          # float16 rounding of the weights: far below the noise floor
    back = load_toy_models(save_toy_models({"EDM": fresh}, tmp_path / "toy.pt"))
    assert list(back) == ["EDM"] and back["EDM"].net.config == fresh.net.config
    for p, q in zip(back["EDM"].net.parameters(), fresh.net.parameters()): assert torch.equal(p, q.half().float())
    with pytest.raises(FileNotFoundError, match="train_toy.py"):
        load_toy_models(tmp_path / "missing.pt")


@pytest.fixture(scope="module")
def evaluation(trained):
    data = two_moons(1000, generator=torch.Generator().manual_seed(10))
    noise = torch.randn(1000, 2, generator=torch.Generator().manual_seed(11))
    scores, samples = sampler_table(trained, data, noise)
    return data, noise, scores, samples


def test_every_parameterization_and_sampler_lands_far_below_pure_noise(evaluation):
    data, noise, scores, _ = evaluation
    noise_distance = sliced_wasserstein(noise, data)
    assert noise_distance > 0.5
    assert set(scores) == {"EPS", "V_PREDICTION", "EDM", "CONST"}
    for name, row in scores.items():
        assert set(row) == {s for s in SAMPLERS if not s.endswith("_cfg_pp")}  # CFG++ samplers need a guided model
        for sampler, d in row.items():
            bound = (0.3 if sampler == "lcm" else 0.2) * noise_distance
            assert d < bound, f"{name} with {sampler}: {d:.3f} >= {bound:.3f}"
        assert min(row["heun"], row["dpmpp_2m"]) < 0.1, (name, row)


def test_untrained_network_is_far_from_the_data(evaluation):
    "The bound is meaningful: the same pipeline with an untrained network does not pass it."
    data, noise, scores, _ = evaluation
    ms = toy_model_samplings()["EDM"]
    untrained = {"EDM": train_toy(ms, steps=1, progress=False)}
    bad, _ = sampler_table(untrained, data, noise, samplers=("dpmpp_2m",))
    assert bad["EDM"]["dpmpp_2m"] > 0.2 * sliced_wasserstein(noise, data)
    assert bad["EDM"]["dpmpp_2m"] > 3 * scores["EDM"]["dpmpp_2m"]


def test_samples_are_finite_and_shaped_like_the_data(evaluation):
    data, _, _, samples = evaluation
    for row in samples.values():
        for x in row.values():
            assert x.shape == data.shape and torch.isfinite(x).all()


def test_training_is_reproducible_and_leaves_global_state_alone():
    ms = toy_model_samplings()["CONST"]
    threads = torch.get_num_threads()
    state = torch.random.get_rng_state()
    a = train_toy(ms, steps=20, progress=False, seed=3)
    b = train_toy(ms, steps=20, progress=False, seed=3)
    c = train_toy(ms, steps=20, progress=False, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    pa, pb, pc = (torch.cat([p.flatten() for p in d.net.parameters()]) for d in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert not any(p.requires_grad for p in a.net.parameters())


def test_training_shows_progress(capsys):
    train_toy(toy_model_samplings()["EPS"], steps=3, progress=True)
    assert "3/3" in capsys.readouterr().err
    train_toy(toy_model_samplings()["EPS"], steps=3, progress=False)
    assert capsys.readouterr().err == ""


def test_bad_training_settings_are_refused():
    ms = toy_model_samplings()["EPS"]
    with pytest.raises(ValueError, match="steps"):
        train_toy(ms, steps=0, progress=False)
    with pytest.raises(ValueError, match="lr"):
        train_toy(ms, lr=-1.0, progress=False)
    with pytest.raises(ValueError, match="p_std"):
        train_toy(ms, p_std=-1.0, progress=False)


def test_sliced_wasserstein():
    x = two_moons(600, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x, x) == 0.0
    y = two_moons(600, generator=torch.Generator().manual_seed(1))
    assert sliced_wasserstein(x, y) == pytest.approx(sliced_wasserstein(y, x))
    v = torch.tensor([0.6, -0.8])
    assert sliced_wasserstein(x, x + v, n_projections=4096) == pytest.approx(1 / math.sqrt(2), abs=0.01)
    assert sliced_wasserstein(x, 2 * x) > sliced_wasserstein(x, 1.1 * x)
    with pytest.raises(ValueError, match="same shape"):
        sliced_wasserstein(x, x[:5])


def test_data_generators():
    g = torch.Generator().manual_seed(0)
    m = two_moons(5000, generator=g)
    assert m.shape == (5000, 2) and m.dtype == torch.float32
    assert m.mean(0).abs().max() < 0.05
    # the two arcs: points of the upper one lie on a circle of radius 0.6 around (-0.3, -0.15)
    r_upper = (m - torch.tensor([-0.3, -0.15])).norm(dim=1)
    r_lower = (m - torch.tensor([0.3, 0.15])).norm(dim=1)
    near = torch.minimum((r_upper - 0.6).abs(), (r_lower - 0.6).abs())
    assert (near < 0.15).float().mean() > 0.99
    s = spiral(3000, generator=g)
    assert s.shape == (3000, 2) and s.norm(dim=1).max() < 1.2


def test_schedules_and_nets_of_the_toy_models():
    mss = toy_model_samplings()
    assert set(mss) == set(TOY_MODELS)
    for name, ms in mss.items():
        s = toy_sigmas(ms, 20)
        assert len(s) == 21 and s[-1] == 0 and abs(s[0].item() - ms.sigma_max.item()) < 1e-4 * ms.sigma_max.item()
    net = ToyNet(0.0, 999.0)
    out = net(torch.randn(7, 2), torch.rand(7) * 999)
    assert out.shape == (7, 2)


def test_sampler_options_come_from_the_samplers_signatures():
    import inspect
    from sched_nb.toy import OPTION_RANGES, option_range, sampler_names, sampler_options
    assert sampler_names() == list(SAMPLERS)
    for name in SAMPLERS:
        params = inspect.signature(SAMPLERS[name]).parameters
        options = sampler_options(name)
        assert set(options) <= set(params) and not {"model", "x", "sigmas", "extra_args", "callback", "disable"} & set(options)
        for k, v in options.items():
            assert v == params[k].default and isinstance(v, (int, float)) and not isinstance(v, bool)
            lo, hi, step = option_range(k, v)
            assert lo <= v <= hi and step > 0, (name, k, v)
            if k in OPTION_RANGES: assert (lo, hi) == OPTION_RANGES[k][:2]
    assert sampler_options("euler_ancestral") == {"eta": 1.0, "s_noise": 1.0}
    assert "eta" not in sampler_options("heun") and "eta" not in sampler_options("euler")  # deterministic ones take no eta
    assert option_range("order", 3) == (0, 6, 1) and option_range("gamma", 5.0) == (0.0, 10.0, 0.1)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sampler_options("nope")


def test_a_sampler_registered_later_gets_its_options(monkeypatch):
    "The registry is read at each call: a new sampler is offered, with its own numeric options."
    from sched_nb.toy import sampler_names, sampler_options
    def sample_mine(model, x, sigmas, extra_args=None, callback=None, disable=None, eta:float=0.5, order:int=2,
                    s_tmax:float=float("inf"), generator=None, flag:bool=False):
        return SAMPLERS["euler"](model, x, sigmas, extra_args, callback, disable)
    monkeypatch.setitem(SAMPLERS, "mine", sample_mine)
    assert "mine" in sampler_names() and sampler_options("mine") == {"eta": 0.5, "order": 2}
    den = toy_models()["EDM"]
    noise = torch.randn(20, 2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(run_sampler(den, noise, "mine", steps=4, eta=0.1, order=3)["x"], run_sampler(den, noise, "euler", steps=4)["x"])


def test_run_sampler_counts_calls_and_keeps_the_steps(trained):
    from sched_nb.schedulers import calculate_sigmas
    from sched_nb.samplers import GaussianMixtureDenoiser, sample
    den, noise = trained["V_PREDICTION"], torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    r = run_sampler(den, noise, "heun", "exponential", 7, trace=True)
    assert r["calls"] == 13 and len(r["xs"]) == len(r["denoised"]) == len(r["sigma_hats"]) == 7  # two calls a step, one for the last
    assert r["sigma_hats"] == r["sigmas"][:-1].tolist()
    assert torch.equal(r["x"], sample(den, noise, calculate_sigmas(den.model_sampling, "exponential", 7), "heun", disable=True))
    assert not den.net._forward_hooks
    a = run_sampler(den, noise, "euler_ancestral", seed=2, eta=0.4, s_noise=0.7)["x"]
    assert torch.equal(a, run_sampler(den, noise, "euler_ancestral", seed=2, eta=0.4, s_noise=0.7)["x"])
    assert not torch.equal(a, run_sampler(den, noise, "euler_ancestral", seed=2, eta=0.4)["x"])
    with pytest.raises(TypeError, match="has no option 's_churn'"):
        run_sampler(den, noise, "euler_ancestral", s_churn=1.0)
    from sched_nb.compose import model_sampling
    class Mixture(torch.nn.Module):  # any module with a model sampling, not a Denoiser
        def __init__(self):
            super().__init__()
            self.mix, self.model_sampling = GaussianMixtureDenoiser(torch.tensor([[0.5, 0.0], [-0.5, 0.0]]), 0.1, flow=True), model_sampling("discrete_flow")
        def forward(self, x, sigma, **extra): return self.mix(x, sigma)
    mix = Mixture()
    r = run_sampler(mix, noise, "dpmpp_2m", "simple", 6)
    assert r["calls"] == 6 and not mix._forward_hooks
    with pytest.raises(TypeError, match="torch.nn.Module"):
        run_sampler(type("M", (), {"model_sampling": mix.model_sampling})(), noise)


def test_run_sampler_refuses_samples_that_are_not_finite(trained):
    class Broken(torch.nn.Module):
        model_sampling = trained["CONST"].model_sampling
        def forward(self, x, sigma, **extra): return x * float("nan")
    with pytest.raises(ValueError, match="not finite"):
        run_sampler(Broken(), torch.randn(4, 2), "euler", "simple", 3)


def test_toy_explorer_update_with_other_values(trained):
    from sched_nb.schedulers import calculate_sigmas
    from sched_nb.samplers import sample
    from sched_nb.toy import ToyExplorer
    ex = ToyExplorer(trained)
    assert (ex.values["model"], ex.values["sampler"], ex.values["scheduler"], ex.values["steps"]) == ("EPS", "euler", "karras", 10)
    first = ex.render()
    ex.update(model="CONST", sampler="euler_ancestral", scheduler="beta", steps=9, seed=5, eta=0.3, s_noise=1.2, particles=400)
    noise = torch.randn(400, 2, generator=torch.Generator().manual_seed(5))
    want = run_sampler(trained["CONST"], noise, "euler_ancestral", "beta", 9, seed=6, eta=0.3, s_noise=1.2)["x"]
    assert torch.equal(ex.result["x"], want) and ex.result["calls"] == 9
    assert ex.render() != first and "eta=0.3" in ex.readout.value and "sliced W" in ex.readout.value
    d = sliced_wasserstein(ex.result["x"], two_moons(400, generator=torch.Generator().manual_seed(7)))
    assert f"{d:.4f}" in ex.readout.value and d < 0.2
    ex.controls["sampler"].value = "dpmpp_2m"          # a control calls update; dpmpp_2m has no eta
    assert ex.values["sampler"] == "dpmpp_2m" and "eta" not in ex.controls and ex.result["calls"] == 9
    sig = calculate_sigmas(trained["CONST"].model_sampling, "beta", 9)
    assert torch.equal(ex.result["x"], sample(trained["CONST"], noise, sig, "dpmpp_2m", disable=True))
    ex.controls["steps"].value = 4
    assert len(ex.result["sigmas"]) == 5
    paths = [c for ax in ex.fig.axes for c in ax.collections if c.get_gid() == " paths"]
    assert len(paths) == 1 and len(paths[0].get_segments()) == 400 * 4  # every point's every step
    ex.update(particles=0)
    assert "particles must be an integer >= 1" in ex.error and len(ex.result["x"]) == 400  # shown; the last run kept
    with pytest.raises(ValueError, match="scheduler must be one of"):
        ex.update(scheduler="cosine")
    with pytest.raises(TypeError, match="no setting 'cfg'"):
        ex.update(cfg=2.0)
    with pytest.raises(TypeError, match="no setting 'eta'"):
        ex.update(eta=0.5)                              # dpmpp_2m has none


def test_short_runs_train_at_every_length():
    "OneCycleLR divides by its warm-up's length: runs whose warm-up would round to 0 steps (10 here, 20 for the digits) train too."
    from sched_nb.toy import one_cycle_warmup
    ms = toy_model_samplings()["EPS"]
    for steps in (1, 2, 3, 10, 20):
        den = train_toy(ms, steps=steps, batch=8, progress=False)
        assert all(torch.isfinite(p).all() for p in den.net.parameters())
    assert one_cycle_warmup(600, 0.1) == 0.1 and one_cycle_warmup(6000, 0.05) == 0.05   # the shipped runs' warm-up
