"""The toy model end to end: four parameterizations trained on two moons, every sampler far closer to the data
than pure noise; the distance and the data generators on their own."""
import math

import pytest
import torch

from sched_nb.samplers import SAMPLERS
from sched_nb.toy import (TOY_MODELS, ToyNet, sampler_table, sliced_wasserstein, spiral, toy_model_samplings,
                          toy_sigmas, train_toy, two_moons)


@pytest.fixture(scope="module")
def trained():
    "The four toy models, trained once (a few seconds on one CPU thread)."
    return {name: train_toy(ms, progress=False) for name, ms in toy_model_samplings().items()}


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
        assert set(row) == set(SAMPLERS)
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
    from sched_nb.toy import OPTION_RANGES, sampler_options
    for name in SAMPLERS:
        options = sampler_options(name)
        assert set(options) <= set(OPTION_RANGES)
        for k, v in options.items():
            lo, hi, _ = OPTION_RANGES[k]
            assert lo <= v <= hi, (name, k, v)
    assert sampler_options("euler_ancestral") == {"eta": 1.0, "s_noise": 1.0}
    assert sampler_options("heun") == {}


def test_run_sampler_counts_calls_and_keeps_the_steps(trained):
    from sched_nb.schedulers import calculate_sigmas
    from sched_nb.samplers import sample
    from sched_nb.toy import run_sampler
    den, noise = trained["V_PREDICTION"], torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    r = run_sampler(den, noise, "heun", "exponential", 7, trace=True)
    assert r["calls"] == 13 and len(r["xs"]) == len(r["denoised"]) == 7      # two calls a step, one for the last
    assert torch.equal(r["x"], sample(den, noise, calculate_sigmas(den.model_sampling, "exponential", 7), "heun", disable=True))
    assert not den.net._forward_hooks
    a = run_sampler(den, noise, "euler_ancestral", seed=2, eta=0.4, s_noise=0.7)["x"]
    assert torch.equal(a, run_sampler(den, noise, "euler_ancestral", seed=2, eta=0.4, s_noise=0.7)["x"])
    assert not torch.equal(a, run_sampler(den, noise, "euler_ancestral", seed=2, eta=0.4)["x"])
    with pytest.raises(TypeError, match="has no option 's_churn'"):
        run_sampler(den, noise, "euler_ancestral", s_churn=1.0)


def test_toy_explorer_update_with_other_values(trained):
    from sched_nb.schedulers import calculate_sigmas
    from sched_nb.samplers import sample
    from sched_nb.toy import ToyExplorer, run_sampler
    ex = ToyExplorer(trained)
    assert (ex.values["model"], ex.values["sampler"], ex.values["scheduler"], ex.values["steps"]) == ("EPS", "euler", "karras", 10)
    first = ex.image.value
    ex.update(model="CONST", sampler="euler_ancestral", scheduler="beta", steps=9, seed=5, eta=0.3, s_noise=1.2)
    want = run_sampler(trained["CONST"], ex.noise(), "euler_ancestral", "beta", 9, seed=5, eta=0.3, s_noise=1.2)["x"]
    assert torch.equal(ex.result["x"], want) and ex.result["calls"] == 9
    assert ex.image.value != first and "eta=0.3" in ex.readout.value and "sliced Wasserstein" in ex.readout.value
    d = sliced_wasserstein(ex.result["x"], ex.data)
    assert f"{d:.3f}" in ex.readout.value and d < 0.2
    ex.controls["sampler"].value = "dpmpp_2m"          # a control calls update; dpmpp_2m has no eta
    assert ex.values["sampler"] == "dpmpp_2m" and ex.controls["eta"].disabled and ex.result["calls"] == 9
    sig = calculate_sigmas(trained["CONST"].model_sampling, "beta", 9)
    assert torch.equal(ex.result["x"], sample(trained["CONST"], ex.noise(), sig, "dpmpp_2m", disable=True))
    ex.controls["steps"].value = 4
    assert len(ex.result["sigmas"]) == 5
    with pytest.raises(ValueError, match="scheduler must be one of"):
        ex.update(scheduler="cosine")
    with pytest.raises(TypeError, match="no setting 'cfg'"):
        ex.update(cfg=2.0)
