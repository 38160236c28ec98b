"""The hot operations of sched_nb beside their baselines, measured in one run: rows of a table.

Each row times one sched_nb operation and, where there is one, its baseline in the same process, in
turns (see `measure.py`), and gives the speed-up `baseline time / sched_nb time` (above 1: sched_nb is
faster) against the target the project set for it. Families or functions that are not importable yet are
reported as skipped rows, never as errors.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import platform
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass, field

import torch

from . import baselines as B
from . import sampler_baselines as SB
from .measure import compare_times, peak_memories

PRESETS = {
    # sizes of the look-ups; the argmin rule is run up to `argmin_max` values (its matrix is T x N floats)
    "full": dict(lookup_sizes=(1_000, 100_000, 200_000, 1_000_000), argmin_max=200_000, family_size=1_000_000,
                 latent=(4, 4, 128, 128), euler_latents=((1, 4, 64, 64), (1, 4, 8, 8)), steps=30,
                 turns=7, target_s=0.02, budget_s=3.0, slow_turns=3, imports=True, import_runs=2,
                 sampler_latents=((1, 4, 64, 64), (1, 4, 8, 8)), samplers=SB.SAMPLER_ROWS,
                 stochastic=SB.STOCHASTIC_ROWS, brownian_latents=((1, 4, 64, 64), (1, 4, 8, 8))),
    "quick": dict(lookup_sizes=(1_000, 200_000), argmin_max=200_000, family_size=100_000,
                  latent=(4, 4, 128, 128), euler_latents=((1, 4, 64, 64),), steps=30,
                  turns=3, target_s=0.01, budget_s=1.0, slow_turns=1, imports=True, import_runs=1,
                  sampler_latents=((1, 4, 8, 8),), samplers=SB.SAMPLER_ROWS,
                  stochastic=SB.STOCHASTIC_ROWS, brownian_latents=((1, 4, 8, 8),)),
    # a smoke test of the machinery only (seconds): the figures mean nothing at these sizes
    "tiny": dict(lookup_sizes=(100, 1_000), argmin_max=1_000, family_size=1_000,
                 latent=(2, 4, 16, 16), euler_latents=((1, 4, 8, 8),), steps=5,
                 turns=1, target_s=0.001, budget_s=0.2, slow_turns=1, imports=False, import_runs=1,
                 sampler_latents=((1, 4, 8, 8),), samplers=("euler", "dpm_fast", "lms", "uni_pc"),
                 stochastic=("euler_ancestral", "dpmpp_2m_sde", "sa_solver"), brownian_latents=((1, 4, 8, 8),)),
}

HEAVY_MODULES = ("matplotlib", "ipywidgets", "diffusers")


@dataclass
class Row:
    "One line of the table: a sched_nb operation, its baseline, and the speed-up."
    group: str                      # the kind of operation, e.g. "timestep(sigma)"
    operation: str                  # what sched_nb runs
    size: str                       # the input size
    ours_s: float | None = None     # seconds per call of sched_nb (None: skipped)
    ours_mem: int | None = None     # peak bytes of sched_nb
    baseline: str = ""              # what it is compared with ("" for none)
    base_s: float | None = None     # seconds per call of the baseline
    base_mem: int | None = None     # peak bytes of the baseline
    target: float | None = None     # the speed-up (base_s / ours_s) the project asks for, if any
    note: str = ""

    @property
    def speedup(self) -> float | None:
        return self.base_s / self.ours_s if self.base_s and self.ours_s else None

    @property
    def holds(self) -> bool | None:
        return None if self.target is None or self.speedup is None else self.speedup >= self.target


@dataclass
class Report:
    "The rows, the machine they were measured on, and the agreement checks of the baselines."
    machine: dict
    rows: list = field(default_factory=list)
    checks: list = field(default_factory=list)   # (what, passed, detail)

    def to_json(self) -> str:
        rows = [{**asdict(r), "speedup": r.speedup, "holds": r.holds} for r in self.rows]
        return json.dumps({"machine": self.machine, "rows": rows, "checks": self.checks}, indent=1)


# --- helpers ------------------------------------------------------------------------------------------------
def _optional(module: str, *names):
    "The named attributes of sched_nb.`module`, or None when that module is not importable yet."
    try: mod = importlib.import_module(f"sched_nb.{module}")
    except ImportError: return None
    try: return tuple(getattr(mod, n) for n in names) if len(names) > 1 else getattr(mod, names[0])
    except AttributeError: return None


def _n(n: int) -> str: return f"N={n:,}"


def _shape(shape) -> str: return "[" + ", ".join(map(str, shape)) + "]"


def machine_info(device) -> dict:
    "CPU model, cores, threads, versions and device: where the figures come from."
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration): pass
    try: import diffusers; dv = diffusers.__version__
    except ImportError: dv = None
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "diffusers": dv, "python": platform.python_version(), "device": str(device)}
    if torch.device(device).type == "cuda": info["gpu"] = torch.cuda.get_device_name(device)
    return info


class Bench:
    "Measures rows with one preset on one device."
    def __init__(self, preset="full", device="cpu"):
        self.p, self.device = PRESETS[preset], torch.device(device)
        self.report = Report(machine_info(self.device))
        self.pending = []   # (row, attribute, function) whose peak memory is still to be measured
        self.summaries = []   # (summary row, the rows it summarises): its peak memory is theirs

    # measurement shortcuts
    def times(self, fns: dict, slow=False) -> dict:
        p = self.p
        return compare_times(fns, self.device, turns=p["slow_turns"] if slow else p["turns"], target_s=p["target_s"],
                             budget_s=p["budget_s"])

    def later(self, row: Row, attr: str, fn):
        "Measure `fn`'s peak memory into `row.attr` with the others of this part (one profiler session)."
        self.pending.append((row, attr, fn))

    def flush_memory(self):
        peaks = peak_memories({str(i): fn for i, (_, _, fn) in enumerate(self.pending)}, self.device)
        for i, (row, attr, _) in enumerate(self.pending): setattr(row, attr, peaks[str(i)])
        self.pending = []
        for row, rows in self.summaries:   # a summary's peak memory is the largest of its rows'
            row.ours_mem = max(r.ours_mem for r in rows)
            row.base_mem = max((r.base_mem for r in rows if r.base_mem is not None), default=None)
        self.summaries = []

    def row(self, group, operation, size, ours=None, baseline="", base=None, target=None, note="", slow=False,
            base_memory=True):
        "Time `ours` and `base` (functions of no argument) in turns and add the row; their memory is measured later."
        fns = {k: f for k, f in (("ours", ours), ("base", base)) if f is not None}
        t = self.times(fns, slow=slow) if fns else {}
        r = Row(group, operation, size, t.get("ours"), None, baseline, t.get("base"), None, target, note)
        if ours is not None: self.later(r, "ours_mem", ours)
        if base is not None and base_memory: self.later(r, "base_mem", base)
        self.report.rows.append(r)
        return r

    def skip(self, group, operation, size="", why="not importable yet", baseline=""):
        self.report.rows.append(Row(group, operation, size, baseline=baseline, note=f"skipped: {why}"))

    def check(self, what: str, passed: bool, detail: str = ""):
        self.report.checks.append((what, bool(passed), detail))

    # --- the operations ---------------------------------------------------------------------------------------
    def imports(self):
        "`import sched_nb` and its first use, in a fresh process, beside importing diffusers' scheduler."
        if not self.p["imports"]: return
        group = "import (fresh process, torch already imported)"
        steps = ["import sched_nb", "from sched_nb import model_sampling, sample_euler"]
        ours = import_in_fresh_process(steps, self.p["import_runs"])
        base = import_in_fresh_process(["from diffusers import EulerDiscreteScheduler"], 1) if _has_diffusers() else None
        if ours is None: self.skip(group, steps[0], why="the import fails"); return
        for code, res in zip(steps, ours):
            heavy = res["heavy"]
            self.check(f"`{code}` imports none of {', '.join(HEAVY_MODULES)}", not heavy,
                       f"loaded: {', '.join(heavy)}" if heavy else "none loaded")
            label = code if code == steps[0] else f"then {code}"
            self.report.rows.append(Row(group, label, "", res["seconds"], res["rss"],
                                        "from diffusers import EulerDiscreteScheduler" if base else "",
                                        base[0]["seconds"] if base else None, base[0]["rss"] if base else None,
                                        note="memory: growth of the resident set; heavy modules loaded: "
                                             + (", ".join(heavy) or "none")))

    def construction(self):
        "Every model sampling built with its defaults, beside diffusers' scheduler and the scalar cascade loop."
        group = "construction"
        classes = [("discrete", "ModelSamplingDiscrete", {}), ("discrete", "ModelSamplingDiscrete", {"zsnr": True}),
                   ("discrete", "ModelSamplingDiscreteDistilled", {}), ("discrete", "ModelSamplingDiscreteEDM", {}),
                   ("continuous", "ModelSamplingContinuousEDM", {}), ("continuous", "ModelSamplingContinuousV", {}),
                   ("cascade", "StableCascadeSampling", {}), ("cascade", "StableCascadeSampling", {"shift": 2.0}),
                   ("flow", "ModelSamplingDiscreteFlow", {}), ("flow", "ModelSamplingFlux", {})]
        for module, name, cfg in classes:
            label = f"{name}({cfg})" if cfg else f"{name}()"
            cls = _optional(module, name)
            if cls is None: self.skip(group, label); continue
            if name == "ModelSamplingDiscrete" and "zsnr" in cfg: ours = lambda cls=cls: cls(zsnr=True)
            else: ours = lambda cls=cls, cfg=cfg: cls(cfg or None)
            if name == "ModelSamplingDiscrete" and not cfg and _has_diffusers():
                self.row(group, label, "1000 steps", ours, "diffusers EulerDiscreteScheduler(SD config)",
                         B.diffusers_scheduler)
            elif name == "StableCascadeSampling":
                loop, shift = _cascade_loop(), cfg.get("shift", 1.0)
                if loop is None: self.row(group, label, "10000 steps", ours, note="scalar loop not importable")
                elif shift != 1.0: self.row(group, label, "10000 steps", ours)   # the target is about the default
                else:
                    self.check_cascade(ours(), loop(shift), shift)
                    self.row(group, label, "10000 steps", ours, "seed: scalar loop of 10000 sigma(t) calls",
                             lambda shift=shift: loop(shift), target=50.0, slow=True, base_memory=False,
                             note="the loop's memory is not measured: profiling its 10000 iterations takes ~20 s")
            else: self.row(group, label, "", ours)
        model_sampling = _optional("compose", "model_sampling")
        label = 'model_sampling("discrete", "v_prediction", zsnr=True)'
        if model_sampling is None: self.skip(group, label)
        else: self.row(group, label, "1000 steps", lambda: model_sampling("discrete", "v_prediction", zsnr=True))

    def check_cascade(self, ours, loop, shift):
        rel = ((ours.sigmas.double() - loop.sigmas.double()).abs() / loop.sigmas.double()).max().item()
        self.check(f"scalar cascade loop (shift {shift}) and StableCascadeSampling give the same sigmas within 2e-3",
                   rel <= 2e-3, f"max relative difference {rel:.1e}")

    def lookups(self):
        "timestep(sigma) and sigma(t) of the discrete schedule at every size, and of every family at one size."
        Discrete = _optional("discrete", "ModelSamplingDiscrete")
        if Discrete is None:
            self.skip("timestep(sigma)", "ModelSamplingDiscrete.timestep"); return
        ms = Discrete().to(self.device)
        for n in self.p["lookup_sizes"]: self.discrete_timestep(ms, n)
        later = []   # the sigma(t) rows, after all timestep(sigma) rows
        for n in self.p["lookup_sizes"]:
            later.append(lambda n=n: self.discrete_sigma(ms, n))
        n = self.p["family_size"]
        for module, name in (("discrete", "ModelSamplingDiscreteDistilled"), ("discrete", "ModelSamplingDiscreteEDM"),
                             ("continuous", "ModelSamplingContinuousEDM"), ("continuous", "ModelSamplingContinuousV"),
                             ("cascade", "StableCascadeSampling"), ("flow", "ModelSamplingDiscreteFlow"),
                             ("flow", "ModelSamplingFlux")):
            cls = _optional(module, name)
            if cls is None:
                self.skip("timestep(sigma)", f"{name}.timestep", _n(n)); self.skip("sigma(t)", f"{name}.sigma", _n(n))
                continue
            later.append(self.family_lookups(name, cls().to(self.device), n))
        for measure in later: measure()

    def family_lookups(self, name, m, n):
        "Time `m.timestep` on `n` sigmas across its table now; return the function that times `m.sigma` later."
        lo, hi = (float(v) for v in m.sigmas[[0, -1]].log())
        sig = torch.empty(n, device=self.device).uniform_(lo, hi, generator=_generator(self.device)).exp_()
        t = m.timestep(sig)
        self.row("timestep(sigma)", f"{name}.timestep", _n(n), lambda: m.timestep(sig), slow=True)
        return lambda: self.row("sigma(t)", f"{name}.sigma", _n(n), lambda: m.sigma(t), slow=True)

    def discrete_timestep(self, ms, n):
        "timestep(sigma) of the discrete schedule on `n` sigmas, beside the seed's argmin (up to argmin_max values)."
        T = len(ms.log_sigmas)
        sig = B.log_uniform_sigmas(n, self.device)
        ours, baseline = (lambda: ms.timestep(sig)), f"seed: argmin over the [{T}, N] distance matrix"
        if n > self.p["argmin_max"]:
            self.row("timestep(sigma)", "ModelSamplingDiscrete.timestep", _n(n), ours, baseline,
                     note=f"argmin not run: its matrix alone would be {_bytes(4 * T * n)}")
            return
        same = torch.equal(ms.timestep(sig), B.argmin_timestep(ms.log_sigmas, sig))
        self.check(f"argmin rule and ModelSamplingDiscrete.timestep give the same timesteps ({_n(n)})", same)
        self.row("timestep(sigma)", "ModelSamplingDiscrete.timestep", _n(n), ours, baseline,
                 lambda: B.argmin_timestep(ms.log_sigmas, sig), target=20.0 if n == 200_000 else None, slow=n >= 100_000)

    def discrete_sigma(self, ms, n):
        "sigma(t) of the discrete schedule on `n` timesteps, beside the seed's interpolation."
        T = len(ms.log_sigmas)
        t = torch.rand(n, generator=torch.Generator().manual_seed(1)).mul_(T - 1).to(self.device)
        ref, got = B.interp_sigma(ms.log_sigmas, t), ms.sigma(t)
        rel = ((got.double() - ref.double()).abs() / ref.double()).max().item()
        self.check(f"seed interpolation and ModelSamplingDiscrete.sigma agree within 2e-5 ({_n(n)})", rel <= 2e-5,
                   f"max relative difference {rel:.1e}")
        self.row("sigma(t)", "ModelSamplingDiscrete.sigma", _n(n), lambda: ms.sigma(t),
                 "seed: clamp, floor/ceil, interpolate", lambda: B.interp_sigma(ms.log_sigmas, t))

    def denoised(self):
        "calculate_denoised of each parameterization on one latent, beside the seed's formula and the fused-pass floor."
        P = _optional("parameterizations", "EPS", "V_PREDICTION", "EDM", "X0", "CONST", "LCM")
        if P is None: self.skip("calculate_denoised", "every parameterization"); return
        shape = self.p["latent"]
        g = _generator(self.device)
        x = torch.randn(shape, device=self.device, generator=g)
        out = torch.randn(shape, device=self.device, generator=g)
        sigma = torch.logspace(-1, 1.2, shape[0], device=self.device)
        params = dict(zip(("EPS", "V_PREDICTION", "EDM", "X0", "CONST"), P[:5]))
        c = -sigma.view(-1, *(1,) * (len(shape) - 1))
        fns = {"clone": lambda: x.clone(), "addcmul": lambda: torch.addcmul(x, out, c)}
        for name, cls in params.items():
            p = cls()
            got, ref = p.calculate_denoised(sigma, out, x), B.seed_denoised(name, sigma, out, x)
            rel = ((got - ref).abs().max() / ref.abs().max()).item()
            self.check(f"seed formula and {name}.calculate_denoised agree within 2e-5 {_shape(shape)}", rel <= 2e-5,
                       f"max difference {rel:.1e} of the largest value")
            fns[name] = lambda p=p: p.calculate_denoised(sigma, out, x)
            fns["seed " + name] = lambda name=name: B.seed_denoised(name, sigma, out, x)
        Distilled = _optional("discrete", "ModelSamplingDiscreteDistilled")
        if Distilled is not None:
            lcm = type("ModelSamplingDiscreteDistilled_LCM", (Distilled, P[5]), {})().to(self.device)
            fns["LCM"] = lambda: lcm.calculate_denoised(sigma, out, x)
        t = self.times(fns)
        floor = B.fused_pass_seconds(t["clone"], tensors_read=2)
        bound = f"one fused pass: 3 tensors at x.clone()'s bandwidth ({_seconds(floor)})"
        r = Row("calculate_denoised", "torch.addcmul(x, F, c) alone (eager's one-kernel limit)", _shape(shape), t["addcmul"],
                None, bound, floor, None, note="what EPS and CONST call; for comparison")
        self.later(r, "ours_mem", fns["addcmul"])
        self.report.rows.append(r)
        for name in [*params, "LCM"]:
            if name not in t: self.skip("calculate_denoised", f"{name}.calculate_denoised", _shape(shape)); continue
            if name in params:
                r = Row("calculate_denoised", f"{name}.calculate_denoised", _shape(shape), t[name], None,
                        "seed formula", t["seed " + name], None)
                self.later(r, "ours_mem", fns[name]); self.later(r, "base_mem", fns["seed " + name])
                self.report.rows.append(r)
            r = Row("calculate_denoised", f"{name}.calculate_denoised", _shape(shape), t[name], None, bound, floor, None,
                    target=None if name == "X0" else 1 / 1.5,
                    note="X0 returns the model output itself" if name == "X0" else
                         "LCM includes its timestep(sigma) look-up" if name == "LCM" else "")
            self.later(r, "ours_mem", fns[name])
            self.report.rows.append(r)

    def euler(self):
        "A whole Euler sampling loop with a no-op network, sched_nb's sample_euler beside diffusers' loop."
        sample_euler, Denoiser = _optional("samplers", "sample_euler", "Denoiser") or (None, None)
        model_sampling = _optional("compose", "model_sampling")
        steps = self.p["steps"]
        group = f"Euler sampling, {steps} steps, no-op network"
        if sample_euler is None or model_sampling is None or not _has_diffusers():
            self.skip(group, "sample_euler", why="sample_euler, model_sampling or diffusers not importable"); return
        sched = B.diffusers_scheduler()
        sched.set_timesteps(steps, device=self.device)
        sigmas = sched.sigmas.to(self.device)
        model = Denoiser(B.no_op_net, model_sampling("discrete", "eps")).to(self.device)
        one_steps = [self.euler_at(shape, group, steps, sched, sigmas, model, sample_euler) for shape in self.p["euler_latents"]]
        for measure in one_steps: measure()   # after every loop row, so that each group is one block of the table

    def euler_at(self, shape, group, steps, sched, sigmas, model, sample_euler):
        "Time the Euler loop on a latent of `shape` now; return the function that times one step later."
        host_sigmas = sigmas.cpu()
        x = torch.randn(shape, device=self.device, generator=_generator(self.device))
        ours = lambda: sample_euler(model, x, host_sigmas, disable=True)
        base = lambda: B.diffusers_euler_loop(sched, B.no_op_net, x)
        a, b = ours(), base()
        rel = ((a - b).abs().max() / b.abs().max()).item()
        self.check(f"sample_euler and diffusers' Euler loop give the same latent {_shape(shape)}", rel <= 1e-4,
                   f"max difference {rel:.1e} of the largest value")
        r = self.row(group, "sample_euler(Denoiser(net, discrete eps))", _shape(shape), ours,
                     "diffusers loop: scale_model_input + net + step", base, target=1.0)
        r.note = f"per step: {_seconds(r.ours_s / steps)} vs {_seconds(r.base_s / steps)}"
        i = steps // 2   # one step alone: what the loop does at step steps // 2
        sig_i, ratio = sigmas[i].expand(shape[0]), float(host_sigmas[i + 1] / host_sigmas[i])
        return lambda: self.row("one Euler step, no-op network", "Denoiser call + lerp", _shape(shape),
                                lambda: torch.lerp(model(x, sig_i), x, ratio), "diffusers scale_model_input + net + step",
                                lambda: B.diffusers_one_step(sched, B.no_op_net, x, i), target=1.0)

    def samplers(self):
        "Every deterministic sampler, 30 steps with a no-op network, beside k-diffusion's function of the same name."
        model_sampling, calculate_sigmas = _optional("compose", "model_sampling"), _optional("schedulers", "calculate_sigmas")
        SAMPLERS, Denoiser = _optional("samplers", "SAMPLERS", "Denoiser") or (None, None)
        steps = self.p["steps"]
        group = f"samplers, {steps} steps, no-op network"
        if SAMPLERS is None or model_sampling is None or calculate_sigmas is None:
            self.skip(group, "every sampler", why="sched_nb.samplers, compose or schedulers not importable"); return
        K = SB.k_diffusion()
        model = Denoiser(B.no_op_net, model_sampling("discrete", "eps")).to(self.device)
        sigmas = calculate_sigmas(model.model_sampling, "karras", steps).to(self.device)
        for shape in self.p["sampler_latents"]:
            x = torch.randn(shape, device=self.device, generator=_generator(self.device))
            one_pass = self.times({"pass": lambda: x.mul(0.5)})["pass"]
            summary = []
            for name in self.p["samplers"]:
                if name not in SAMPLERS: self.skip(group, f"sample_{name}", _shape(shape)); continue
                r = self.sampler_row(group, name, shape, model, x, sigmas, SAMPLERS[name], K, one_pass)
                if r.speedup: summary.append(r)
            if summary:
                gm = lambda v: math.exp(sum(math.log(u) for u in v) / len(v))
                r = Row(group, f"geometric mean of the {len(summary)} speed-ups above", _shape(shape), gm([r.ours_s for r in summary]),
                        None, "k-diffusion, same samplers", gm([r.base_s for r in summary]), None,
                        target=1.3 if shape[-1] <= 8 else None, note="ratio of the geometric means of the times")
                self.summaries.append((r, summary))
                self.report.rows.append(r)

    def sampler_row(self, group, name, shape, model, x, sigmas, fn, K, one_pass):
        "One sampler's row: its time, network calls and per-step overhead, beside k-diffusion's when it has the name."
        host = sigmas.cpu()
        seen = []
        fn(lambda x, sigma, **extra: seen.append(1) or model(x, sigma, **extra), x, host, disable=True)
        nfe, steps = len(seen), len(host) - 1
        s_b, t_b = sigmas[:1].expand(shape[0]), model.timesteps(sigmas[:1]).expand(shape[0])
        fns = {"ours": lambda: fn(model, x, host, disable=True),
               "calls": lambda: [model.denoise(x, s_b, t_b, {}) for _ in range(nfe)]}   # the network's share of the run
        baseline = ""
        if name in SB.IN_K_DIFFUSION and not isinstance(K, str):
            theirs = SB.k_diffusion_sampler(K, name)
            fns["base"], baseline = (lambda: theirs(model, x, sigmas)), f"k-diffusion sample_{name}"
            # k-diffusion's lms takes its step to 0 as a polynomial step where ComfyUI's lands on D: compare above 0;
            # dpm_adaptive's float32 error estimate cancels differently in each (step sizes then differ by 1e-4): float64
            dt = torch.float64 if name == "dpm_adaptive" else x.dtype
            check = (sigmas[:-1] if name == "lms" else sigmas).to(dt)
            a, b = fn(model, x.to(dt), check.cpu(), disable=True), theirs(model, x.to(dt), check)
            rel = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
            self.check(f"sched_nb and k-diffusion {name} give the same latent {_shape(shape)}" + (" (float64)" if dt != x.dtype else ""),
                       rel <= 1e-4, f"max difference {rel:.1e} of the largest value")
        elif name in SB.IN_K_DIFFUSION: baseline = f"k-diffusion not loaded: {K}"
        t = self.times(fns)
        r = Row(group, f"sample_{name}", _shape(shape), t["ours"], None, baseline, t.get("base"), None,
                target=1.0 if "base" in t else None)
        self.later(r, "ours_mem", fns["ours"])
        if "base" in fns: self.later(r, "base_mem", fns["base"])
        self.report.rows.append(r)
        r.note = (f"{nfe} calls; per step {_seconds(t['ours'] / steps)}, of which sampler overhead "
                  f"{_seconds(max(t['ours'] - t['calls'], 0.0) / steps)}; one elementwise pass {_seconds(one_pass)}")
        return r

    def stochastic(self):
        "Every stochastic sampler with a no-op network and one fixed noise tensor, beside k-diffusion's; the Brownian tree apart."
        model_sampling, calculate_sigmas = _optional("compose", "model_sampling"), _optional("schedulers", "calculate_sigmas")
        SAMPLERS, Denoiser = _optional("samplers", "SAMPLERS", "Denoiser") or (None, None)
        steps = self.p["steps"]
        group = f"stochastic samplers, {steps} steps, no-op network, the same fixed noise"
        if SAMPLERS is None or model_sampling is None or calculate_sigmas is None or "dpmpp_2m_sde" not in SAMPLERS:
            self.skip(group, "every stochastic sampler", why="sched_nb.sde, compose or schedulers not importable"); return
        K = SB.k_diffusion()
        model = Denoiser(B.no_op_net, model_sampling("discrete", "eps")).to(self.device)
        sigmas = calculate_sigmas(model.model_sampling, "karras", steps).to(self.device)
        for shape in self.p["sampler_latents"]:
            x = torch.randn(shape, device=self.device, generator=_generator(self.device))
            z = torch.randn(shape, device=self.device, generator=_generator(self.device))
            noise = (lambda z: lambda sigma, sigma_next: z)(z)   # the same cheap noise for both: the rows time the samplers
            one_pass = self.times({"pass": lambda: x.mul(0.5)})["pass"]
            for name in self.p["stochastic"]:
                if name not in SAMPLERS: self.skip(group, f"sample_{name}", _shape(shape)); continue
                self.stochastic_row(group, name, shape, model, x, sigmas, SAMPLERS[name], K, noise, one_pass)
        self.brownian(model, sigmas, SAMPLERS, K)

    def stochastic_row(self, group, name, shape, model, x, sigmas, fn, K, noise, one_pass):
        "One stochastic sampler's row, and its agreement with k-diffusion's before timing."
        host = sigmas.cpu()
        kw = {"tau_func": lambda s: 1.0} if name.startswith("sa_solver") else {}   # sched_nb's default for a plain model
        seen = []
        fn(lambda x, sigma, **extra: seen.append(1) or model(x, sigma, **extra), x, host, noise_sampler=noise, disable=True, **kw)
        nfe, steps = len(seen), len(host) - 1
        s_b, t_b = sigmas[:1].expand(shape[0]), model.timesteps(sigmas[:1]).expand(shape[0])
        fns = {"ours": lambda: fn(model, x, host, noise_sampler=noise, disable=True, **kw),
               "calls": lambda: [model.denoise(x, s_b, t_b, {}) for _ in range(nfe)]}
        baseline = ""
        if name in SB.STOCHASTIC_IN_K_DIFFUSION and not isinstance(K, str):
            theirs = SB.k_diffusion_stochastic(K, name)
            fns["base"], baseline = (lambda: theirs(model, x, sigmas, noise)), f"k-diffusion sample_{name.removesuffix('_heun')}"
            a, b = fns["ours"](), fns["base"]()
            rel = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
            self.check(f"sched_nb and k-diffusion {name} give the same latent with the same noise {_shape(shape)}", rel <= 1e-4,
                       f"max difference {rel:.1e} of the largest value")
        elif name in SB.STOCHASTIC_IN_K_DIFFUSION: baseline = f"k-diffusion not loaded: {K}"
        t = self.times(fns)
        r = Row(group, f"sample_{name}", _shape(shape), t["ours"], None, baseline, t.get("base"), None,
                target=1.0 if "base" in t else None)
        self.later(r, "ours_mem", fns["ours"])
        if "base" in fns: self.later(r, "base_mem", fns["base"])
        self.report.rows.append(r)
        r.note = (f"{nfe} calls; per step {_seconds(t['ours'] / steps)}, of which sampler overhead "
                  f"{_seconds(max(t['ours'] - t['calls'], 0.0) / steps)}; one elementwise pass {_seconds(one_pass)}")

    def brownian(self, model, sigmas, SAMPLERS, K):
        "The Brownian tree's cost per step: one query, sched_nb's tree per image beside k-diffusion's, and whole runs."
        BT = _optional("sde", "BrownianTreeNoiseSampler")
        group = "Brownian-tree noise (torchsde), per query"
        if BT is None or isinstance(K, str): self.skip(group, "BrownianTreeNoiseSampler", why="sched_nb.sde or k-diffusion missing"); return
        host = sigmas.cpu()
        lo, hi, steps = host[host > 0].min(), host.max(), len(host) - 1
        levels = host.tolist()
        for shape in self.p["brownian_latents"]:
            x = torch.randn(shape, device=self.device)
            @_quiet
            def ours():
                tree = BT(x, lo, hi, seed=1, cpu=True)
                for i in range(steps - 1): tree(levels[i], levels[i + 1])
            @_quiet
            def theirs():
                tree = K.BrownianTreeNoiseSampler(x.cpu(), lo, hi, seed=1)
                for i in range(steps - 1): tree(host[i], host[i + 1]).to(x.device)
            t = self.times({"ours": ours, "base": theirs}, slow=True)
            r = Row(group, f"{steps - 1} queries of a new tree, per query", _shape(shape), t["ours"] / (steps - 1), None,
                    "k-diffusion BrownianTreeNoiseSampler", t["base"] / (steps - 1), None,
                    note="the tree on the CPU, queried at the schedule's sigmas; torchsde's search is all of it")
            self.later(r, "ours_mem", ours); self.later(r, "base_mem", theirs)
            self.report.rows.append(r)
            fn = SAMPLERS["dpmpp_2m_sde"]
            seeded = _quiet(lambda: fn(model, x, host, noise_sampler=BT(x, lo, hi, seed=1, cpu=True), disable=True))
            base = _quiet(lambda: K.sample_dpmpp_2m_sde(model, x, sigmas, disable=True,
                                                        noise_sampler=K.BrownianTreeNoiseSampler(x, lo.to(x.device), hi.to(x.device), seed=1)))
            self.row(group, "sample_dpmpp_2m_sde, default Brownian noise", _shape(shape), seeded,
                     "k-diffusion sample_dpmpp_2m_sde with its tree, same seed", base, slow=True,
                     note=f"{steps} steps, a batch of one: the tree's cost dominates")

    def diffusers_setup(self):
        "Making the inference sigmas: diffusers' set_timesteps beside sched_nb's step schedules."
        if not _has_diffusers(): self.skip("inference sigmas", "set_timesteps", why="diffusers not installed"); return
        steps, group = self.p["steps"], "inference sigmas"
        sched = B.diffusers_scheduler()
        base = lambda: sched.set_timesteps(steps, device=self.device)
        diffusers_sigmas = _optional("interop", "diffusers_sigmas")
        diffusers_timesteps = _optional("interop", "diffusers_timesteps")
        calculate_sigmas = _optional("schedulers", "calculate_sigmas")
        model_sampling = _optional("compose", "model_sampling")
        label = f"{steps} steps"
        if diffusers_sigmas is None: self.skip(group, "diffusers_sigmas(config, steps)", label)
        else:
            sched.set_timesteps(steps)
            got = torch.as_tensor(diffusers_sigmas(B.DIFFUSERS_SD_CONFIG, steps), dtype=torch.float64).cpu()
            rel = ((got - sched.sigmas.double()).abs() / sched.sigmas.double().clamp_min(1e-12)).max().item()
            self.check(f"diffusers_sigmas and diffusers' set_timesteps give the same sigmas ({steps} steps)", rel <= 1e-6,
                       f"max relative difference {rel:.1e}")
            if diffusers_timesteps is not None:
                same = torch.equal(diffusers_timesteps(B.DIFFUSERS_SD_CONFIG, steps).cpu(), sched.timesteps.cpu())
                self.check(f"diffusers_timesteps and diffusers' set_timesteps give the same timesteps ({steps} steps)", same)
            self.row(group, "diffusers_sigmas(config, steps)", label, lambda: diffusers_sigmas(B.DIFFUSERS_SD_CONFIG, steps),
                     "diffusers set_timesteps", base, target=1.0,
                     note="the config's training tables are computed once and cached, as a server reuses its scheduler")
        if calculate_sigmas is None or model_sampling is None: self.skip(group, 'calculate_sigmas(ms, "normal", steps)', label)
        else:
            ms = model_sampling("discrete", "eps").to(self.device)
            for name in ("normal", "karras"):
                self.row(group, f'calculate_sigmas(ms, "{name}", steps)', label, lambda name=name: calculate_sigmas(ms, name, steps),
                         "diffusers set_timesteps", base, target=1.0 if name == "normal" else None)

    def run(self, progress=None) -> Report:
        for part in (self.imports, self.construction, self.lookups, self.denoised, self.euler, self.samplers, self.stochastic,
                     self.diffusers_setup):
            if progress: progress(part.__doc__.split(":")[0].split(",")[0])
            with torch.no_grad():
                part()
                self.flush_memory()
        return self.report


# --- small utilities ----------------------------------------------------------------------------------------
_DIFFUSERS = None


def _has_diffusers() -> bool:
    global _DIFFUSERS
    if _DIFFUSERS is None:
        try: import diffusers  # noqa: F401
        except ImportError: _DIFFUSERS = False
        else: _DIFFUSERS = True
    return _DIFFUSERS


def _cascade_loop():
    "A function `shift -> scalar-loop StableCascade module`, or None when it cannot be imported."
    try: cls = B.cascade_loop_class()
    except ImportError: return None
    return lambda shift=1.0: cls(shift)


def _quiet(fn):
    "`fn` without torchsde's warning that the schedule's ends lie a rounding outside its tree."
    def run():
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Should have", UserWarning)
            return fn()
    return run


def _generator(device):
    return torch.Generator(device=device).manual_seed(0)


_IMPORT_SCRIPT = r"""
import json, sys, time, torch
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS"))
out = []
for code in {steps!r}:
    before, t0 = rss(), time.perf_counter()
    exec(code)
    seconds = time.perf_counter() - t0
    out.append({{"seconds": seconds, "rss": rss() - before, "heavy": [m for m in {heavy!r} if m in sys.modules]}})
print(json.dumps(out))
"""


def import_in_fresh_process(steps: list, runs: int = 1) -> list | None:
    "For each import statement in `steps`, run in turn in a fresh process: seconds, resident-set growth, heavy modules."
    script = _IMPORT_SCRIPT.format(steps=steps, heavy=HEAVY_MODULES)
    best = None
    for _ in range(runs):   # the fastest of `runs` processes
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        if proc.returncode != 0: return None
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        if best is None or sum(r["seconds"] for r in res) < sum(r["seconds"] for r in best): best = res
    return best


def _seconds(s: float | None) -> str:
    if s is None: return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale: return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _bytes(b: int | None) -> str:
    if b is None: return "—"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(b) >= scale: return f"{b / scale:.3g} {unit}"
    return f"{b} B"


def markdown(report: Report) -> str:
    "The report as a markdown table, the machine above it and the checks below."
    m = report.machine
    head = (f"Machine: {m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch thread(s); torch {m['torch']}, "
            f"diffusers {m['diffusers']}, Python {m['python']}; device {m['device']}" + (f" ({m['gpu']})" if "gpu" in m else ""))
    lines = [head, "",
             "| operation | size | sched_nb | peak mem | baseline | baseline time | peak mem | speed-up | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    group = None
    for r in report.rows:
        if r.group != group:
            group = r.group
            lines.append(f"| **{group}** | | | | | | | | |")
        speed = f"{r.speedup:.3g}x" if r.speedup else "—"
        if r.target is None: target = ""
        else:
            verdict = "holds" if r.holds else ("misses" if r.holds is False else "")
            target = f"≥ {r.target:.3g}x {verdict}".strip()
        cell_ours = _seconds(r.ours_s) if r.ours_s is not None else (r.note or "—")
        note = f" ({r.note})" if r.note and r.ours_s is not None else ""
        lines.append(f"| {r.operation}{note} | {r.size} | {cell_ours} | {_bytes(r.ours_mem)} | {r.baseline or '—'} | "
                     f"{_seconds(r.base_s)} | {_bytes(r.base_mem)} | {speed} | {target} |")
    lines += ["", targets_markdown(report)]
    if report.checks:
        lines += ["", "Baselines checked against sched_nb before timing:"]
        lines += [f"- {'ok' if ok else 'FAILED'}: {what}" + (f" ({detail})" if detail else "") for what, ok, detail in report.checks]
    return "\n".join(lines)


def targets_markdown(report: Report) -> str:
    "The rows that carry a target, as a short markdown table: whether each holds, and by how much it misses."
    lines = ["| sched_nb | size | target | sched_nb time | baseline time | speed-up | holds |", "|---|---|---|---|---|---|---|"]
    for r in report.rows:
        if r.target is None: continue
        goal = (f"≥ {r.target:.3g}x faster than {r.baseline}" if r.target >= 1 else
                f"at most {1 / r.target:.3g}x the time of {r.baseline.split(' (')[0]}")
        if r.speedup is None: verdict, speed = "not measured", "—"
        else:
            speed = f"{r.speedup:.3g}x"
            verdict = "yes" if r.holds else f"no: {r.target / r.speedup:.2f}x short"
        lines.append(f"| {r.operation} | {r.size} | {goal} | {_seconds(r.ours_s)} | {_seconds(r.base_s)} | {speed} | {verdict} |")
    return "\n".join(lines)
