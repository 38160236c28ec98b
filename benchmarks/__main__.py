"""`python -m benchmarks`: time and peak memory of sched_nb's hot operations beside their baselines."""
import argparse
import sys
import time

import torch

from .suite import PRESETS, Bench, markdown


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split(":", 1)[1].strip())
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="preset",
                      help="reduced sizes and fewer repeats (CI); the ratios are noisier")
    size.add_argument("--tiny", action="store_const", const="tiny", dest="preset",
                      help="a smoke test of the machinery only (seconds); its figures mean nothing")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads on the CPU (default 1: steadier ratios on a shared machine; 0 keeps torch's default)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows and the machine as JSON to FILE")
    args = ap.parse_args(argv)
    preset = args.preset or "full"
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available on this machine")
    if device.type == "cpu" and args.threads > 0: torch.set_num_threads(args.threads)
    start = time.perf_counter()
    report = Bench(preset, device).run(progress=lambda what: print(f"... {what}", file=sys.stderr, flush=True))
    report.machine["preset"], report.machine["seconds"] = preset, round(time.perf_counter() - start, 1)
    print(markdown(report))
    print(f"\n({preset} run, {report.machine['seconds']} s)")
    if args.json:
        with open(args.json, "w") as f: f.write(report.to_json())
    failed = [what for what, ok, _ in report.checks if not ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
