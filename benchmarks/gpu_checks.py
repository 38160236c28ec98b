"""Checks that need a compiler or a GPU: torch.compile(fullgraph=True) and a CUDA-graph-captured Euler loop.

    python -m benchmarks.gpu_checks [--device cpu|cuda] [--backend inductor|eager] [--json FILE]

- torch.compile(fullgraph=True) of every parameterization's methods, of timestep(sigma) and sigma(t) of every
  model sampling, and of one Euler step (denoiser + update): a graph break fails the function. Each compiled
  function is compared with its eager result; calculate_denoised is timed compiled against eager and against
  the one-fused-pass floor. `--backend eager` checks only for graph breaks (no code generation: fast).
- With CUDA: a 30-step Euler loop (no-op network) run once under `torch.cuda.set_sync_debug_mode("error")`
  (any host synchronisation raises), captured with torch.cuda.CUDAGraph and replayed (compared with eager,
  and timed against it); then an attempt to capture `sample_euler` as a whole. Without CUDA these are skipped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from . import baselines as B
from .measure import compare_times, synchronize

PARAMETERIZATIONS = ("EPS", "V_PREDICTION", "EDM", "X0", "CONST")
SCHEDULES = ("discrete", "discrete_distilled", "discrete_edm", "continuous_edm", "continuous_v", "stable_cascade",
             "discrete_flow", "flux")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]


def compile_targets(device) -> list:
    "(name, function, arguments) of everything that must compile with fullgraph=True."
    import sched_nb
    from sched_nb import model_sampling
    from sched_nb.samplers import Denoiser
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(2, 4, 16, 16, device=device, generator=g)
    out = torch.randn(2, 4, 16, 16, device=device, generator=g)
    sigma = torch.tensor([0.3, 7.0], device=device)
    sigma_b = sigma.view(2, 1, 1, 1)
    targets = []
    for name in PARAMETERIZATIONS:
        p = getattr(sched_nb, name)(sigma_data=0.5 if name == "EDM" else None)
        targets += [(f"{name}.calculate_input", p.calculate_input, (sigma, x)),
                    (f"{name}.calculate_denoised", p.calculate_denoised, (sigma, out, x)),
                    (f"{name}.noise_scaling", p.noise_scaling, (sigma_b, out, x)),
                    (f"{name}.inverse_noise_scaling", p.inverse_noise_scaling, (torch.tensor([0.3, 0.7], device=device).view(2, 1, 1, 1) if name == "CONST" else sigma_b, x))]
    lcm = model_sampling("discrete_distilled", "lcm").to(device)
    targets.append(("LCM.calculate_denoised (discrete_distilled)", lcm.calculate_denoised, (sigma, out, x)))
    for name in SCHEDULES:
        m = model_sampling(name).to(device)
        lo, hi = (float(v) for v in m.sigmas[[0, -1]])
        sig = torch.tensor([lo * 1.5, (lo * hi) ** 0.5, hi * 0.9], device=device)
        targets += [(f"{type(m).__name__}.timestep", m.timestep, (sig,)),
                    (f"{type(m).__name__}.sigma", m.sigma, (m.timestep(sig),))]
    big = B.log_uniform_sigmas(200_000, device)
    targets.append(("ModelSamplingDiscrete.timestep (N=200,000)", model_sampling("discrete").to(device).timestep, (big,)))
    model = Denoiser(B.no_op_net, model_sampling("discrete", "eps")).to(device)
    targets.append(("Euler step: Denoiser(no-op net, discrete eps) + lerp",
                    lambda x, s: torch.lerp(model(x, s), x, 0.9), (x, sigma)))
    return targets


def check_compile(device, backend: str) -> list:
    "Compile each target with fullgraph=True and compare it with eager: a list of result dicts."
    results = []
    for name, fn, args in compile_targets(device):
        torch._dynamo.reset()
        t0 = time.perf_counter()
        try:
            got = torch.compile(fn, fullgraph=True, backend=backend, dynamic=False)(*args)
            expected = fn(*args)
            if expected.is_floating_point(): torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
            else: assert torch.equal(got, expected), "different integers"
            results.append({"name": name, "ok": True, "seconds": time.perf_counter() - t0, "error": ""})
        except Exception as e:   # a graph break (fullgraph=True) or a different result
            results.append({"name": name, "ok": False, "seconds": time.perf_counter() - t0, "error": _first_line(e)})
    return results


def time_compiled_denoised(device, backend: str, shape=(4, 4, 128, 128)) -> list:
    "calculate_denoised eager and compiled, beside the one-fused-pass floor (x.clone()'s bandwidth)."
    import sched_nb
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(shape, device=device, generator=g)
    out = torch.randn(shape, device=device, generator=g)
    sigma = torch.logspace(-1, 1.2, shape[0], device=device)
    fns = {"clone": lambda: x.clone()}
    for name in ("EPS", "V_PREDICTION", "EDM", "CONST"):
        p = getattr(sched_nb, name)()
        torch._dynamo.reset()
        compiled = torch.compile(p.calculate_denoised, fullgraph=True, backend=backend, dynamic=False)
        compiled(sigma, out, x)
        fns[name] = lambda p=p: p.calculate_denoised(sigma, out, x)
        fns[name + " compiled"] = lambda c=compiled: c(sigma, out, x)
    t = compare_times(fns, device, turns=7, target_s=0.02)
    floor = B.fused_pass_seconds(t["clone"], tensors_read=2)
    return [{"name": name, "eager_s": t[name], "compiled_s": t[name + " compiled"], "floor_s": floor,
             "eager_over_floor": t[name] / floor, "compiled_over_floor": t[name + " compiled"] / floor}
            for name in ("EPS", "V_PREDICTION", "EDM", "CONST")]


def cuda_graph_euler(steps: int = 30, shape=(1, 4, 64, 64)) -> dict:
    "A `steps`-step Euler loop with no host synchronisation, captured as a CUDA graph and replayed."
    from sched_nb import model_sampling, sample_euler
    from sched_nb.samplers import Denoiser
    device = torch.device("cuda")
    ms = model_sampling("discrete", "eps")
    model = Denoiser(B.no_op_net, ms).to(device)
    host = torch.cat([ms.sigma(torch.linspace(999, 0, steps, dtype=torch.float64)).double(), torch.zeros(1, dtype=torch.float64)])
    sig, ratio = host.to(device, torch.float32), (host[1:] / host[:-1]).tolist()

    def loop(x):   # what sample_euler does at each step, with the schedule already on the device
        for i in range(steps):
            x = torch.lerp(model(x, sig[i].expand(x.shape[0])), x, ratio[i])
        return x

    res = {"steps": steps, "shape": list(shape)}
    x_static = torch.randn(shape, device=device, generator=torch.Generator(device=device).manual_seed(0))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():   # warm-up before capture, as CUDA graphs require
        for _ in range(3): loop(x_static)
    torch.cuda.current_stream().wait_stream(side)
    try:   # any synchronising call inside the loop raises here
        torch.cuda.set_sync_debug_mode("error")
        with torch.no_grad(): eager = loop(x_static)
        res["host_sync_in_loop"] = "none"
    except RuntimeError as e: res["host_sync_in_loop"] = _first_line(e); eager = None
    finally: torch.cuda.set_sync_debug_mode("default")
    try:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph), torch.no_grad(): y_static = loop(x_static)
        graph.replay()
        torch.cuda.synchronize()
        with torch.no_grad(): eager = loop(x_static)
        res["captured"] = True
        res["max_abs_difference"] = (y_static - eager).abs().max().item()
        with torch.no_grad():
            t = compare_times({"eager": lambda: loop(x_static), "graph": graph.replay}, device, turns=7, target_s=0.05)
        res.update(eager_loop_s=t["eager"], graph_replay_s=t["graph"], speedup=t["eager"] / t["graph"],
                   eager_per_step_s=t["eager"] / steps, graph_per_step_s=t["graph"] / steps)
    except Exception as e:
        res["captured"], res["capture_error"] = False, _first_line(e)
    # sample_euler as a whole: its preamble checks the schedule on the host and copies it to the device
    try:
        whole = torch.cuda.CUDAGraph()
        with torch.cuda.graph(whole), torch.no_grad(): sample_euler(model, x_static, host, disable=True)
        res["sample_euler_captured_whole"] = "yes"
    except Exception as e: res["sample_euler_captured_whole"] = f"no: {_first_line(e)}"
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.gpu_checks", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--backend", default="inductor", help="torch.compile backend (eager: graph breaks only, fast)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    report = {"torch": torch.__version__, "device": str(device), "backend": args.backend,
              "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None}
    print(f"torch {torch.__version__}, device {device}" + (f" ({report['gpu']})" if report["gpu"] else "")
          + f", torch.compile backend {args.backend}")

    print("\n## torch.compile(fullgraph=True)")
    report["compile"] = check_compile(device, args.backend)
    for r in report["compile"]:
        print(f"- {'ok  ' if r['ok'] else 'FAIL'} {r['name']} ({r['seconds']:.1f} s)" + (f": {r['error']}" if r["error"] else ""))
    if args.backend != "eager":
        print("\n## calculate_denoised [4, 4, 128, 128]: eager and compiled, against one fused pass")
        report["compiled_denoised"] = time_compiled_denoised(device, args.backend)
        for r in report["compiled_denoised"]:
            print(f"- {r['name']}: eager {r['eager_s'] * 1e6:.1f} µs ({r['eager_over_floor']:.2f}x the floor), "
                  f"compiled {r['compiled_s'] * 1e6:.1f} µs ({r['compiled_over_floor']:.2f}x), floor {r['floor_s'] * 1e6:.1f} µs")

    print("\n## CUDA graph of a 30-step Euler loop")
    if device.type != "cuda": report["cuda_graph"] = None; print("- skipped: no CUDA device")
    else:
        report["cuda_graph"] = g = cuda_graph_euler()
        for k, v in g.items(): print(f"- {k}: {v}")
    if args.json:
        with open(args.json, "w") as f: json.dump(report, f, indent=1)
    failed = [r["name"] for r in report["compile"] if not r["ok"]]
    if report.get("cuda_graph") and not report["cuda_graph"].get("captured"): failed.append("cuda graph")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
