"""The benchmark runs and reports what it says, and its baselines compute what sched_nb computes.

Nothing here asserts a speed: the benchmark reports speed as ratios. The one property checked in a
fresh process is a correctness property: importing sched_nb loads none of the heavy optional packages.
"""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))   # `benchmarks` sits beside `tests`, not installed

from benchmarks import baselines as B  # noqa: E402
from benchmarks.__main__ import main
from benchmarks.measure import compare_times, peak_memories, peak_memory
from benchmarks.suite import HEAVY_MODULES, PRESETS, Report, Row, markdown

import sched_nb
from sched_nb.samplers import Denoiser


def _loaded_heavy(code: str) -> list:
    "The heavy modules in sys.modules after running `code` in a fresh interpreter."
    script = f"import sys\n{code}\nprint(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


@pytest.mark.parametrize("code", [
    "import sched_nb",
    "from sched_nb import model_sampling, sample_euler, EPS, V_PREDICTION, ModelSamplingDiscrete",
])
def test_import_sched_nb_loads_no_heavy_module(code):
    assert _loaded_heavy(code) == []


DRAWING = {"plots", "widgets"}   # modules that exist to draw: they may load matplotlib and ipywidgets


def test_every_computing_module_loads_no_heavy_module():
    code = ("import importlib, sched_nb\n"
            f"for module in set(sched_nb._PUBLIC) - {DRAWING!r}:\n"
            "    try: importlib.import_module('sched_nb.' + module)\n"
            "    except ImportError: pass\n")
    assert _loaded_heavy(code) == []


# --- the benchmark as a whole, at a size that takes seconds ---------------------------------------------------
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    "`python -m benchmarks --tiny --json FILE`, run in this process: (printed table, JSON report, exit code)."
    import contextlib
    import io
    path = tmp_path_factory.mktemp("bench") / "report.json"
    out = io.StringIO()
    threads = torch.get_num_threads()
    try:
        with contextlib.redirect_stdout(out): code = main(["--tiny", "--threads", "0", "--json", str(path)])
    finally: torch.set_num_threads(threads)
    return out.getvalue(), json.loads(path.read_text()), code


def test_tiny_run_succeeds_and_every_check_passes(tiny_run):
    text, report, code = tiny_run
    failed = [c for c in report["checks"] if not c[1]]
    assert failed == [] and code == 0
    assert len(report["checks"]) >= 8


def test_table_has_every_group_and_well_formed_rows(tiny_run):
    text, report, _ = tiny_run
    rows = report["rows"]
    groups = {r["group"] for r in rows}
    for group in ("construction", "timestep(sigma)", "sigma(t)", "calculate_denoised"):
        assert group in groups
    assert any(g.startswith("Euler sampling") for g in groups)
    for r in rows:
        if r["ours_s"] is None:   # a skipped row says why
            assert r["note"].startswith("skipped:"), r
            continue
        assert r["ours_s"] > 0 and r["ours_mem"] is not None and r["ours_mem"] >= 0, r
        if r["base_s"] is not None:
            assert r["baseline"] and r["speedup"] == pytest.approx(r["base_s"] / r["ours_s"])
        if r["target"] is not None and r["speedup"] is not None:
            assert r["holds"] == (r["speedup"] >= r["target"])


def test_every_model_sampling_family_is_constructed(tiny_run):
    _, report, _ = tiny_run
    built = {r["operation"].split("(")[0] for r in report["rows"] if r["group"] == "construction" and r["ours_s"]}
    for name in ("ModelSamplingDiscrete", "ModelSamplingDiscreteDistilled", "ModelSamplingDiscreteEDM",
                 "ModelSamplingContinuousEDM", "ModelSamplingContinuousV", "StableCascadeSampling",
                 "ModelSamplingDiscreteFlow", "ModelSamplingFlux"):
        assert name in built, f"{name} missing from the construction rows"


def test_targets_are_on_the_rows_they_belong_to(tiny_run):
    _, report, _ = tiny_run
    targets = {(r["group"], r["operation"]): r["target"] for r in report["rows"] if r["target"] is not None}
    assert targets[("construction", "StableCascadeSampling()")] == 50.0
    assert targets[("calculate_denoised", "V_PREDICTION.calculate_denoised")] == pytest.approx(1 / 1.5)
    assert any(g.startswith("Euler sampling") and t == 1.0 for (g, _), t in targets.items())


def test_printed_table_is_markdown_with_the_machine(tiny_run):
    text, report, _ = tiny_run
    lines = text.splitlines()
    assert lines[0].startswith("Machine: ") and torch.__version__ in lines[0]
    header = lines.index("| operation | size | sched_nb | peak mem | baseline | baseline time | peak mem | speed-up | target |")
    end = lines.index("", header)
    table = lines[header:end]
    assert len(table) > 20 and all(l.count("|") == 10 for l in table), [l for l in table if l.count("|") != 10]
    targets = lines.index("| sched_nb | size | target | sched_nb time | baseline time | speed-up | holds |")
    assert targets > end and lines[targets + 2].count("|") == 8
    assert report["machine"]["preset"] == "tiny" and report["machine"]["cpu"]


def test_presets_full_and_quick_measure_the_target_sizes():
    for preset in ("full", "quick"):
        p = PRESETS[preset]
        assert 200_000 in p["lookup_sizes"] and p["argmin_max"] >= 200_000
        assert p["latent"] == (4, 4, 128, 128) and p["steps"] == 30
    assert {1_000, 100_000, 1_000_000} <= set(PRESETS["full"]["lookup_sizes"])


def test_markdown_of_a_skipped_and_a_missed_row():
    report = Report({"cpu": "x", "cores": 2, "torch_threads": 1, "torch": "t", "diffusers": "d", "python": "p",
                     "device": "cpu"})
    report.rows = [Row("g", "op", "N=1", 2e-3, 1024, "base", 1e-3, 10, target=1.0),
                   Row("g", "later", "", note="skipped: not importable yet")]
    text = markdown(report)
    assert "0.5x | ≥ 1x misses |" in text and "skipped: not importable yet" in text and "1 KiB" in text


# --- the baselines compute what sched_nb computes -----------------------------------------------------------
@pytest.mark.parametrize("zsnr", [False, True])
@pytest.mark.parametrize("n", [1, 4, 600, 5000])   # the distance-matrix, direct-search and table ways of timestep
def test_argmin_rule_gives_the_timesteps_of_timestep(zsnr, n, device):
    ms = sched_nb.ModelSamplingDiscrete(zsnr=zsnr).to(device)
    sig = B.log_uniform_sigmas(n, device, low=1e-3, high=5e3, seed=n)
    sig[: min(n, 3)] = ms.sigmas[[0, 500, -1]][: min(n, 3)]   # table entries themselves
    assert torch.equal(ms.timestep(sig), B.argmin_timestep(ms.log_sigmas, sig))


def test_argmin_rule_gives_the_timesteps_of_the_distilled_schedule():
    ms = sched_nb.ModelSamplingDiscreteDistilled()
    sig = B.log_uniform_sigmas(3000, seed=3)
    assert torch.equal(ms.timestep(sig), B.argmin_timestep(ms.log_sigmas, sig) * ms.skip_steps + ms.skip_steps - 1)


def test_seed_interpolation_gives_the_sigmas_of_sigma(device):
    ms = sched_nb.ModelSamplingDiscrete().to(device)
    t = torch.cat([torch.arange(1000.0), torch.rand(5000) * 999, torch.tensor([-3.0, 1e4])]).to(device)
    ref, got = B.interp_sigma(ms.log_sigmas, t), ms.sigma(t)
    assert ((got - ref).abs() / ref).max().item() <= 2e-5


@pytest.mark.parametrize("shift", [1.0, 2.0])
def test_scalar_cascade_loop_gives_the_stable_cascade_sigmas(shift):
    loop = B.cascade_loop_class()(shift)
    ours = sched_nb.StableCascadeSampling({"shift": shift})
    rel = ((ours.sigmas.double() - loop.sigmas.double()).abs() / loop.sigmas.double()).max().item()
    assert rel <= 2e-3


@pytest.mark.parametrize("name", ["EPS", "V_PREDICTION", "EDM", "X0", "CONST"])
@pytest.mark.parametrize("sigma_data", [1.0, 0.5])
def test_seed_formula_gives_calculate_denoised(name, sigma_data, device):
    g = torch.Generator().manual_seed(0)
    x, out = torch.randn(3, 4, 8, 8, generator=g).to(device), torch.randn(3, 4, 8, 8, generator=g).to(device)
    sigma = torch.tensor([0.03, 1.0, 14.6], device=device)
    got = getattr(sched_nb, name)(sigma_data=sigma_data).calculate_denoised(sigma, out, x)
    ref = B.seed_denoised(name, sigma, out, x, sigma_data)
    assert (got - ref).abs().max().item() <= 2e-5 * ref.abs().max().item()


@pytest.mark.parametrize("steps", [1, 10, 30])
def test_sample_euler_and_the_diffusers_loop_agree_with_the_same_no_op_network(steps, device):
    pytest.importorskip("diffusers")
    sched = B.diffusers_scheduler()
    sched.set_timesteps(steps, device=device)
    model = Denoiser(B.no_op_net, sched_nb.model_sampling("discrete", "eps")).to(device)
    x = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(steps)).to(device)
    ours = sched_nb.sample_euler(model, x, sched.sigmas.cpu(), disable=True)
    theirs = B.diffusers_euler_loop(sched, B.no_op_net, x)
    assert (ours - theirs).abs().max().item() <= 1e-4 * theirs.abs().max().item()
    # and the loop can run again (the scheduler is rewound, not exhausted)
    torch.testing.assert_close(B.diffusers_euler_loop(sched, B.no_op_net, x), theirs)


def test_one_diffusers_step_is_the_loops_step():
    pytest.importorskip("diffusers")
    sched = B.diffusers_scheduler()
    sched.set_timesteps(5)
    x = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    sched_copy = B.diffusers_scheduler()
    sched_copy.set_timesteps(5)
    B.restart(sched_copy)
    y = x
    for i, t in enumerate(sched_copy.timesteps[:3]):
        y = sched_copy.step(B.no_op_net(sched_copy.scale_model_input(y, t), t), t, y, return_dict=False)[0]
        if i == 1: before_third = y
    torch.testing.assert_close(B.diffusers_one_step(sched, B.no_op_net, before_third, 2), y)


# --- the measuring tools --------------------------------------------------------------------------------------
def test_fused_pass_floor_is_bytes_over_clone_bandwidth():
    # clone moves 2 tensors (read + write) in 1 s, so 3 tensors take 1.5 s
    assert B.fused_pass_seconds(1.0, tensors_read=2) == 1.5
    assert B.fused_pass_seconds(2.0, tensors_read=1) == 2.0


def test_peak_memory_counts_what_is_live_at_once():
    x = torch.zeros(250_000)   # 1 MB
    def two_at_once():
        a, b = x + 1, x + 2
        return a.add_(b)
    def one_after_another():
        a = x + 1
        del a
        return x + 2
    peaks = peak_memories({"two": two_at_once, "one": one_after_another, "none": lambda: None})
    assert 2_000_000 <= peaks["two"] < 2_100_000
    assert 1_000_000 <= peaks["one"] < 1_100_000
    assert 0 <= peaks["none"] < 10_000
    assert peak_memory(lambda: torch.empty(1000, dtype=torch.float64).fill_(1)) >= 8000


def test_compare_times_times_every_function():
    t = compare_times({"a": lambda: sum(range(100)), "b": lambda: None}, turns=2, target_s=0.001)
    assert set(t) == {"a", "b"} and all(v > 0 and math.isfinite(v) for v in t.values())


# --- the compiler and GPU checks ------------------------------------------------------------------------------
def test_parameterizations_and_conversions_compile_without_graph_breaks():
    "torch.compile(fullgraph=True) raises on any graph break; the eager backend checks that without generating code."
    from benchmarks.gpu_checks import check_compile
    failed = [f"{r['name']}: {r['error']}" for r in check_compile(torch.device("cpu"), "eager") if not r["ok"]]
    assert failed == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_euler_loop_has_no_host_sync_and_captures_as_a_cuda_graph():
    from benchmarks.gpu_checks import cuda_graph_euler
    res = cuda_graph_euler(steps=5, shape=(2, 4, 16, 16))
    assert res["host_sync_in_loop"] == "none"
    assert res["captured"] and res["max_abs_difference"] <= 1e-5
