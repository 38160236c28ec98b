"""Train the digits models of nbs/17_digits.ipynb and save their weights (float16) where the package loads them.

    python tools/train_digits.py                       # EPS, V_PREDICTION and CONST into sched_nb/data/
    python tools/train_digits.py --models CONST --steps 500 --out /tmp/digits   # a quick try elsewhere
    python tools/train_digits.py --classifier          # only the digit classifier (a second)

One CPU thread and a fixed seed: the same weights on every run on the same torch build. Prints each model's
training time and final loss (the moving average of the last hundred or so batches). The digit classifier that
scores the samples is fitted and saved too (sched_nb/data/digit_classifier.pt).
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the sched_nb of this checkout, wherever the package is installed


def main(argv=None):
    from sched_nb.digits import DIGITS_MODELS, save_digit_classifier, save_digits_model, train_digit_classifier, train_digits

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DIGITS_MODELS), help="names from DIGITS_MODELS")
    p.add_argument("--steps", type=int, default=6000, help="optimizer steps per model")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="a folder for digits_<name>.pt; default: sched_nb/data/")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--classifier", action="store_true", help="only fit and save the digit classifier")
    args = p.parse_args(argv)
    path = save_digit_classifier(train_digit_classifier(), None if args.out is None else args.out / "digit_classifier.pt")
    print(f"digit classifier -> {path}")
    if args.classifier: return
    start = time.perf_counter()
    for name in args.models:
        den = train_digits(name, steps=args.steps, seed=args.seed, progress=not args.quiet)
        path = save_digits_model(den, None if args.out is None else args.out / f"digits_{den.info['name'].lower()}.pt")
        print(f"{den.info['name']:13} {den.info['seconds']:6.1f} s   final loss {den.info['loss']:.4f}   "
              f"{path.stat().st_size / 1024:.0f} KiB -> {path}", flush=True)
    print(f"trained {len(args.models)} models in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
