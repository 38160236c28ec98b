"""Train the four toy models of nbs/16_toy.ipynb with train_toy's defaults and save their weights (float16) where the
package loads them.

    python tools/train_toy.py                 # into sched_nb/data/toy_models.pt
    python tools/train_toy.py --out /tmp/toy.pt

One CPU thread and a fixed seed: the same weights on every run on the same torch build. Prints the training time.
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sched_nb of this checkout, wherever the package is installed


def main(argv=None):
    from sched_nb.toy import save_toy_models, toy_model_samplings, train_toy

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=None, help="the file to write; default: sched_nb/data/toy_models.pt")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    start = time.perf_counter()
    models = {name: train_toy(ms, progress=not args.quiet) for name, ms in toy_model_samplings().items()}
    path = save_toy_models(models, args.out)
    print(f"trained {len(models)} models in {time.perf_counter() - start:.1f} s; {path.stat().st_size / 1024:.0f} KiB -> {path}")


if __name__ == "__main__":
    main()
