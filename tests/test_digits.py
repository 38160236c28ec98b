"""The digits models: the committed weights load small into float32 networks of the right shapes, sampling
and training are deterministic, and every model's samples score far above noise, and above the same network
untrained, on a digit classifier trained here on the real digits.

The threshold, a digit score of 5.0 for 300 samples of DPM++ 2M at 10 steps, comes from measurement with
the committed weights: over seeds 0-9 the three models scored 5.75-6.24 (EPS), 6.22-6.79 (V_PREDICTION) and
6.47-6.74 (CONST); standard normal noise and independent pixels with the data's per-pixel mean and spread
scored at most 2.8, the untrained networks (seeds 0-4) at most 3.41, the held-out real digits 7.51.
"""
from pathlib import Path

import math
import pytest
import torch

import sched_nb
from sched_nb.digits import (DIGITS_MODELS, DigitsExplorer, DigitsNet, digit_mosaic, digit_score, digits_model_sampling,
                             digits_sigmas, load_digit_classifier, load_digits_data, load_digits_model, sample_digits,
                             save_digit_classifier, save_digits_model, train_digit_classifier, train_digits)
from sched_nb.samplers import Denoiser
from sched_nb.toy import sampler_options

THRESHOLD = 5.0  # see the module docstring for the measurements behind it


@pytest.fixture(scope="module")
def classifier():
    "Logistic regression on the 1500 training digits, fitted here (a tenth of a second, once torch.optim is loaded)."
    return train_digit_classifier()


def test_the_shipped_classifier_is_the_fitted_one(classifier, tmp_path):
    shipped = load_digit_classifier()
    x, _ = load_digits_data("all")
    # L-BFGS in float32 follows a slightly different path on another CPU (its matmul kernels round differently):
    # the logits agree to about 1e-3 there, so the test compares what the score uses, the probabilities and the labels
    p_shipped, p_fitted = (c(x.reshape(-1, 64)).softmax(-1) for c in (shipped, classifier))
    torch.testing.assert_close(p_shipped, p_fitted, rtol=0, atol=2e-3)
    assert (p_shipped.argmax(-1) != p_fitted.argmax(-1)).sum() <= 2
    assert (shipped.weight - classifier.weight).abs().max() < 0.05 * classifier.weight.abs().max()
    back = load_digit_classifier(save_digit_classifier(classifier, tmp_path / "clf.pt"))
    assert all(torch.equal(p, q) for p, q in zip(back.parameters(), classifier.parameters())) and not back.weight.requires_grad
    with pytest.raises(FileNotFoundError, match="train_digits.py"):
        load_digit_classifier(tmp_path / "missing.pt")


def test_the_digits_are_scikit_learns():
    "The file scikit-learn's load_digits reads, parsed here line by line, and the class counts UCI publishes for it."
    import csv, gzip, importlib.util
    path = Path(importlib.util.find_spec("sklearn").origin).parent / "datasets" / "data" / "digits.csv.gz"
    with gzip.open(path, "rt") as f: rows = [[float(v) for v in row] for row in csv.reader(f)]
    x, y = load_digits_data("all")
    assert torch.equal(x, torch.tensor([r[:-1] for r in rows], dtype=torch.float32).reshape(-1, 1, 8, 8) / 8 - 1)
    assert y.tolist() == [int(r[-1]) for r in rows]
    # the test part of UCI's Optical Recognition of Handwritten Digits (optdigits.tes), as its description counts it
    assert torch.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


@pytest.fixture(scope="module")
def models():
    return {name: load_digits_model(name) for name in DIGITS_MODELS}


def test_committed_weights_are_small_float16_and_load_as_float32(models):
    assert set(models) == {"EPS", "V_PREDICTION", "CONST"}
    for name, den in models.items():
        path = Path(sched_nb.__file__).parent / "data" / f"digits_{name.lower()}.pt"
        assert path.stat().st_size < 400 * 1024, path
        saved = torch.load(path, weights_only=True)
        assert {v.dtype for v in saved["state"].values()} == {torch.float16}
        assert saved["info"]["name"] == name and saved["info"]["steps"] == 6000
        assert type(den.model_sampling) is type(digits_model_sampling(name))
        assert all(p.dtype == torch.float32 and not p.requires_grad for p in den.net.parameters())
        assert sum(p.numel() for p in den.net.parameters()) == sum(v.numel() for v in saved["state"].values())
        x = torch.randn(4, 1, 8, 8)
        for sigma in (den.model_sampling.sigma_max, den.model_sampling.sigma_min):
            out = den(x, sigma)
            assert out.shape == x.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
        assert den(x.double(), den.model_sampling.sigma_max).dtype == torch.float64


def test_the_data_and_the_classifier(classifier):
    x, y = load_digits_data("test")
    assert x.shape == (297, 1, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == -1 and x.max() == 1
    assert (classifier(x.reshape(-1, 64)).argmax(1) == y).double().mean() > 0.93
    assert digit_score(x, classifier)["score"] > 7.0


@pytest.mark.parametrize("name", list(DIGITS_MODELS))
def test_samples_score_far_above_noise(models, classifier, name):
    x = sample_digits(models[name], 300, "dpmpp_2m", 10)
    assert x.shape == (300, 1, 8, 8) and torch.isfinite(x).all()
    s = digit_score(x, classifier)
    assert s["score"] > THRESHOLD, (name, s)
    assert min(s["classes"]) > 0, (name, s["classes"])  # every digit occurs


def test_noise_and_untrained_networks_fail_the_threshold(classifier):
    "The threshold means something: noise and the same pipeline with untrained weights stay below it."
    train_x, _ = load_digits_data("train")
    gauss = torch.randn(300, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    pixels = train_x.mean(0) + train_x.std(0) * gauss
    for imgs in (gauss, pixels):
        assert digit_score(imgs, classifier)["score"] < THRESHOLD - 1.5
    for name in DIGITS_MODELS:
        ms = digits_model_sampling(name)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = DigitsNet(*ms.timestep(ms.sigmas[[0, -1]].double()).tolist()).requires_grad_(False)
        score = digit_score(sample_digits(Denoiser(net, ms), 300, "dpmpp_2m", 10), classifier)["score"]
        assert score < THRESHOLD - 1.0, (name, score)


def test_sampling_is_deterministic_and_leaves_global_state_alone(models):
    den = models["V_PREDICTION"]
    state = torch.random.get_rng_state()
    a = sample_digits(den, 8, "euler_ancestral", 5, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, sample_digits(den, 8, "euler_ancestral", 5, seed=3))
    assert not torch.equal(a, sample_digits(den, 8, "euler_ancestral", 5, seed=4))
    assert not torch.equal(a, sample_digits(den, 8, "euler_ancestral", 5, seed=3, eta=0.5))
    b = sample_digits(den, 8, "euler", 5, scheduler="karras")
    assert not torch.equal(b, sample_digits(den, 8, "euler", 5))      # normal is the default
    assert torch.equal(digits_sigmas("V_PREDICTION", 5), digits_sigmas("V_PREDICTION", 5, "normal"))


def test_training_is_deterministic_and_round_trips(tmp_path):
    threads = torch.get_num_threads()
    a = train_digits("CONST", steps=3, batch=16, progress=False)
    b = train_digits("CONST", steps=3, batch=16, progress=False)
    c = train_digits("CONST", steps=3, batch=16, seed=1, progress=False)
    assert torch.get_num_threads() == threads
    pa, pb, pc = (torch.cat([p.flatten() for p in d.net.parameters()]) for d in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert a.info["steps"] == 3 and a.info["loss"] > 0
    path = save_digits_model(a, tmp_path / "const.pt")
    back = load_digits_model("const", path=path)
    assert torch.equal(torch.cat([p.flatten() for p in back.net.parameters()]), pa.half().float())
    assert back.info == a.info


def test_explorer_update_with_other_values(models, classifier):
    ex = DigitsExplorer(models, classifier, model="EPS", sampler="dpmpp_2m", steps=6, seed=4)
    first = ex.render()
    ex.update(model="CONST", sampler="euler_ancestral", scheduler="karras", steps=7, eta=0.5, s_noise=0.8, seed=9)
    want = sample_digits(models["CONST"], 100, "euler_ancestral", 7, "karras", seed=9, eta=0.5, s_noise=0.8)
    assert torch.equal(ex.result["x"], want)
    assert ex.result["calls"] == 7 and len(ex.result["xs"]) == 7
    assert ex.controls["eta"].value == 0.5 and ex.controls["s_noise"].value == 0.8
    assert ex.render() != first and "digit score" in ex.readout.value and "eta=0.5" in ex.readout.value
    assert f"{digit_score(want, classifier)['score']:.4f}" in ex.readout.value
    ex.controls["steps"].value = 3                     # a control calls update
    assert ex.values["steps"] == 3 and ex.result["calls"] == 3
    ex.controls["sampler"].value = "heun"              # its own options only
    assert ex.result["calls"] == 5 and "eta" not in ex.controls
    assert sorted(k for k in ex.values if k in ex.controls and k not in ("model", "seed", "sampler", "scheduler", "steps")) == sorted(sampler_options("heun"))
    with pytest.raises(TypeError, match="no setting 'cfg'"):
        ex.update(cfg=3.0)
    with pytest.raises(ValueError, match="model must be one of"):
        ex.update(model="EDM")


def test_bad_input_is_refused(models):
    with pytest.raises(ValueError, match="name must be one of"):
        load_digits_model("edm")
    with pytest.raises(FileNotFoundError, match="train_digits.py"):
        load_digits_model("eps", path="/nonexistent/weights.pt")
    with pytest.raises(ValueError, match="split must be one of"):
        load_digits_data("validation")
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        sample_digits(models["EPS"], 0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        sample_digits(models["EPS"], 2, "no_such_sampler")
    with pytest.raises(TypeError, match="has no option 'eta'"):
        sample_digits(models["EPS"], 2, "euler", eta=0.3)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        train_digits("eps", steps=0, progress=False)
    with pytest.raises(ValueError, match="ncol must be an integer >= 1"):
        digit_mosaic(torch.zeros(2, 1, 8, 8), ncol=0)



@pytest.mark.parametrize("steps", [1, 2, 20])
def test_short_digit_runs_train(steps):
    den = train_digits("EPS", steps=steps, batch=4, progress=False)
    assert den.info["steps"] == steps and math.isfinite(den.info["loss"])
