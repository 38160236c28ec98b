"""The published step schedules: Align Your Steps, GITS and OptimalSteps give the published numbers at their own step
counts, log-linear interpolation (geometric means between published levels) elsewhere, and the img2img tail."""
import math

import pytest
import torch

import sched_nb
from sched_nb.compose import model_sampling
from sched_nb.schedulers import align_your_steps, calculate_sigmas, gits_sigmas, optimal_steps_sigmas

# Sabour et al. (2024), the Align Your Steps 10-step schedules as published
AYS = {"SD1": [14.6146412293, 6.4745760956, 3.8636745985, 2.6946151520, 1.8841921177, 1.3943805092, 0.9642583904,
               0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582],
       "SDXL": [14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141, 0.5550693289,
                0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582],
       "SVD": [700.00, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002]}
# Pei et al. (2025), OptimalSteps for FLUX (10 steps)
FLUX = [0.9968, 0.9886, 0.9819, 0.975, 0.966, 0.9471, 0.9158, 0.8287, 0.5512, 0.2808, 0.001]
# Chen et al. (2024), GITS for SD 1.5: three of its published schedules
GITS = {(1.20, 10): [14.61464119, 5.85520077, 2.84484982, 1.67050016, 1.08895338, 0.74807048, 0.50118381, 0.32104823,
                     0.19894916, 0.09824532, 0.02916753],
        (1.00, 5): [14.61464119, 7.11996698, 3.07277966, 1.56271636, 0.59516323, 0.02916753],
        (1.50, 20): [14.61464119, 2.45070267, 1.41535246, 0.95350921, 0.72133851, 0.57119018, 0.4783645, 0.43325692,
                     0.38853383, 0.36617002, 0.34370604, 0.32104823, 0.29807833, 0.27464288, 0.25053367, 0.22545385,
                     0.19894916, 0.17026083, 0.13792117, 0.09824532, 0.02916753]}


def _published(levels):
    "The published levels as the schedule holds them: float32, the last replaced by 0."
    return torch.tensor(levels[:-1] + [0.0], dtype=torch.float32)


@pytest.mark.parametrize("model_type", list(AYS))
def test_align_your_steps_published_and_interpolated(model_type):
    assert torch.equal(align_your_steps(model_type, 10), _published(AYS[model_type]))
    s = align_your_steps(model_type, 20).double()
    levels = torch.tensor(AYS[model_type], dtype=torch.float64)
    assert len(s) == 21 and s[-1] == 0
    torch.testing.assert_close(s[0:-1:2], levels[:-1], rtol=1e-6, atol=0)                     # every other step published
    torch.testing.assert_close(s[1:-1:2], (levels[:-1] * levels[1:]).sqrt(), rtol=1e-6, atol=0)  # geometric means between
    five = align_your_steps(model_type, 5).double()   # 6 points at x = i/5 on the 11 published ones at x = k/10
    torch.testing.assert_close(five[:-1], levels[0:-1:2], rtol=1e-6, atol=0)


def test_denoise_keeps_the_tail_as_the_node_does():
    full = align_your_steps("SD1", 10)
    assert torch.equal(align_your_steps("SD1", 10, denoise=0.6), torch.cat([full[4:-1], torch.zeros(1)]))
    assert len(align_your_steps("SDXL", 10, denoise=0.25)) == 3       # round(2.5) = 2 steps (round half to even)
    assert align_your_steps("SVD", 10, denoise=0.0).numel() == 0
    assert torch.equal(optimal_steps_sigmas("FLUX", 10, denoise=0.5)[:-1], torch.tensor(FLUX[5:-1], dtype=torch.float32))


def test_optimal_steps():
    assert torch.equal(optimal_steps_sigmas("FLUX", 10), _published(FLUX))
    for model_type, n in (("Wan", 20), ("Chroma", 40)):
        s = optimal_steps_sigmas(model_type, n)
        assert len(s) == n + 1 and s[-1] == 0 and (s.diff() <= 0).all()
    s = optimal_steps_sigmas("Wan", 30)
    assert s[0].item() == 1.0 and (s.diff() <= 0).all()


@pytest.mark.parametrize("key", list(GITS))
def test_gits_published_rows(key):
    coeff, steps = key
    assert torch.equal(gits_sigmas(coeff, steps), _published(GITS[key]))


def test_gits_every_row_and_beyond_twenty():
    for c in [0.8 + 0.05 * k for k in range(15)]:
        for steps in range(2, 21):
            s = gits_sigmas(c, steps)
            assert len(s) == steps + 1 and s[0].item() == pytest.approx(14.61464119) and (s.diff() < 0).all(), (c, steps)
    s, top = gits_sigmas(1.2, 40).double(), gits_sigmas(1.2, 20).double()   # 41 points along the 21 of the 20-step row
    assert len(s) == 41 and s[-1] == 0
    torch.testing.assert_close(s[0:-1:2], top[:-1], rtol=1e-6, atol=0)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="model_type must be one of 'SD1', 'SDXL', 'SVD'; got 'sd1'"):
        align_your_steps("sd1", 10)
    with pytest.raises(ValueError, match="model_type must be one of 'FLUX', 'Wan', 'Chroma'"):
        optimal_steps_sigmas("SD3", 10)
    with pytest.raises(ValueError, match="coeff must be one of 0.80"):
        gits_sigmas(2.0, 10)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        align_your_steps("SD1", 0)
    with pytest.raises(ValueError, match="denoise must be >= 0.0"):
        align_your_steps("SD1", 10, denoise=-0.5)
    with pytest.raises(TypeError, match="steps must be an integer"):
        gits_sigmas(1.2, "10")


def test_laplace_and_sd_turbo_in_the_registry():
    ms = model_sampling("discrete")
    s = calculate_sigmas(ms, "laplace", 20, mu=1.0, beta=0.3)
    x = 0.5 - torch.linspace(0, 1, 20, dtype=torch.float64)
    want = (1.0 - 0.3 * torch.sign(x) * torch.log(1 - 2 * x.abs() + 1e-5)).exp().clamp(float(ms.sigma_min), float(ms.sigma_max))
    torch.testing.assert_close(s[:-1].double(), want, rtol=2e-6, atol=0)
    t = calculate_sigmas(ms, "sd_turbo", 4, denoise=0.8)    # starts 10 - int(8) = 2 timesteps in: 799, 699, 599, 499
    assert torch.equal(t, torch.cat([ms.sigma(torch.tensor([799.0, 699.0, 599.0, 499.0])), torch.zeros(1)]))
    assert sched_nb.align_your_steps is align_your_steps and sched_nb.gits_sigmas is gits_sigmas
    assert sched_nb.optimal_steps_sigmas is optimal_steps_sigmas
