"""Adversarial inputs for the public API: arbitrary Python objects and bad tensors thrown at each public function.

A `Target` is one public function: a strategy of good values for each of its arguments (so that a call gets past
its first checks with only some arguments bad) and what a result must satisfy. Each example draws good values,
replaces a random non-empty subset of them by `anything()`, calls the function, and asserts that it either returns
a result that `check` accepts, or raises a TypeError or ValueError whose message names one of its parameters (as a
word: `steps`, `rho`, a config key, ...). Any other exception fails the example, and so does an argument that the
call changed (a dict, list, tensor or module is compared before and after).

Another module plugs its functions in with one entry each in `TARGETS`:

    TARGETS.append(Target("model_sampling", compose.model_sampling, {"schedule": st.sampled_from(["discrete"])}))

and `tests/test_adversarial.py` runs every entry, derandomized, `examples` examples each.
"""
import dataclasses
import decimal
import fractions
import inspect
import math
import re

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# --- what an adversary passes ------------------------------------------------------------------------------------------

MAGNITUDES = [0.0, -0.0, 5e-324, 1e-310, 1e-300, 1e-45, 1.2e-38, 1e-8, 0.5, 1.0, 3.0, 999.0, 1e9, 3e17, 3.4e38, 1e38,
              1e39, 1e300, math.inf, -math.inf, math.nan, -1.0, -1e-300, -1e39, 2.0 ** 31, 2.0 ** 63]
INTEGERS = [0, 1, 2, 3, 10, 999, 1000, 1001, 10_000, 10_001, -1, -10, 2 ** 31, 10 ** 12, 2 ** 63, 10 ** 30]


class _Opaque:
    "An object with no numeric meaning."
    def __repr__(self): return "<opaque>"


class _Numberish:
    "An object that converts to a number (__float__, __index__) without being one."
    def __float__(self): return 3.0
    def __index__(self): return 3
    def __repr__(self): return "<numberish>"


def _tensors():
    mag = st.sampled_from(MAGNITUDES)
    small_int = st.sampled_from(INTEGERS[:10])
    return st.one_of(
        mag.map(torch.tensor), mag.map(lambda v: torch.tensor(v, dtype=torch.float64)),
        mag.map(lambda v: torch.tensor([v])), mag.map(lambda v: torch.tensor([v, 1.0, 0.5])),
        mag.map(lambda v: torch.tensor(v, requires_grad=True)), mag.map(lambda v: torch.tensor([v, 2.0], requires_grad=True)),
        mag.map(lambda v: torch.tensor(v, dtype=torch.float16)), mag.map(lambda v: torch.tensor(v, dtype=torch.bfloat16)),
        small_int.map(torch.tensor), small_int.map(lambda v: torch.tensor([v, v])), st.booleans().map(torch.tensor),
        mag.map(lambda v: torch.tensor(complex(v, 1.0))), mag.map(lambda v: torch.tensor(complex(v, 0.0))),
        st.just(torch.tensor([])), st.just(torch.zeros(0, 3)), st.just(torch.zeros(2, 2)), st.just(torch.ones(3, 1, 2)),
    )


def _numpy():
    mag = st.sampled_from(MAGNITUDES)
    return st.one_of(
        mag.map(np.float32), mag.map(np.float64), mag.map(np.float16), st.sampled_from(INTEGERS[:13]).map(np.int64),
        st.sampled_from([0, 1, 5]).map(np.int32), st.booleans().map(np.bool_), mag.map(lambda v: np.complex128(complex(v, 1.0))),
        mag.map(np.array), mag.map(lambda v: np.array([v])), mag.map(lambda v: np.array([v, 2.0])), st.just(np.zeros(0)),
        st.just(np.array(["a"])), st.just(np.zeros((2, 2))),
    )


def anything():
    "Any kind of Python object an adversary might pass where a number, name, tensor or config is expected."
    return st.one_of(
        st.none(), st.booleans(), st.sampled_from(MAGNITUDES), st.sampled_from(INTEGERS),
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-10 ** 6, 10 ** 6),
        st.complex_numbers(allow_nan=True, allow_infinity=True), st.sampled_from([1j, 2 + 0j, complex(1, 1e-30)]),
        st.text(max_size=6), st.sampled_from(["10", "1.0", "nan", "karras", "", "EPS", "sd15", "linear", "inf"]),
        st.binary(max_size=3), _tensors(), _numpy(),
        st.lists(st.sampled_from(MAGNITUDES), max_size=4), st.lists(st.lists(st.floats(0, 1), max_size=2), max_size=2),
        st.tuples(st.floats(0, 10), st.floats(0, 10)),
        st.dictionaries(st.sampled_from(["a", "shift", "beta_start", "_class_name", "sampling_settings"]),
                        st.sampled_from(MAGNITUDES[:6] + [None, "x"]), max_size=3),
        st.sampled_from([object(), _Opaque(), _Numberish(), int, float, str, len, fractions.Fraction(1, 3),
                         decimal.Decimal("1.5"), decimal.Decimal("nan"), Ellipsis, set(), frozenset({1}), range(3)]),
    )


# --- one public function -----------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Target:
    "A public function, good values for its arguments, and what its result must satisfy."
    id: str                          # the test id
    fn: object                       # the function
    args: dict                       # argument name -> strategy of good values (passed by keyword)
    check: object = None             # fn(result, kwargs) -> None, or a string saying what is wrong
    names: tuple = ()                # more words that name a parameter (config keys, options under **kwargs)
    examples: int = 50               # hypothesis examples
    optional: dict = dataclasses.field(default_factory=dict)   # keyword arguments drawn only sometimes (options)

    def words(self, kwargs) -> set:
        "The words a refusal may name."
        try: params = set(inspect.signature(self.fn).parameters)
        except (TypeError, ValueError): params = set()
        return params | set(self.names) | set(kwargs) | set(self.args)


def _snapshot(value):
    "A picture of an argument to compare after the call: a dict's keys and values (by identity, tensors by content), a module's state."
    if isinstance(value, torch.nn.Module):
        state = tuple((k, v.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if v.numel() else b"")
                      for k, v in value.state_dict().items())
        return state, tuple(sorted((k, repr(v)) for k, v in vars(value).items() if not k.startswith("_") and k != "training"))
    if isinstance(value, torch.Tensor):
        return value.dtype, tuple(value.shape), value.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes() if value.numel() else b""
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, dict):
        return tuple((k, id(v), _snapshot(v) if isinstance(v, (torch.Tensor, np.ndarray, list, dict)) else None) for k, v in value.items())
    if isinstance(value, list):
        return tuple((id(v), _snapshot(v) if isinstance(v, (torch.Tensor, np.ndarray, list, dict)) else None) for v in value)
    return None


def _names_one(message:str, words) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


def call(target:Target, kwargs:dict):
    "Call `target` with `kwargs`; fail unless it returns a good result or refuses by name, and leaves its arguments as they were."
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    shown = ", ".join(f"{k}={v!r}"[:120] for k, v in kwargs.items())
    try:
        result = target.fn(**kwargs)
    except (TypeError, ValueError) as e:
        assert _names_one(str(e), target.words(kwargs)), f"{target.id}({shown}) refused without naming a parameter: {e!r}"
    else:
        problem = target.check(result, kwargs) if target.check is not None else None
        assert problem is None, f"{target.id}({shown}) returned a bad result: {problem}"
    for k, v in kwargs.items():
        assert _snapshot(v) == before[k], f"{target.id}({shown}) changed its argument {k}"


def run(target:Target):
    "Run `target.examples` derandomized examples of good arguments with some of them replaced by anything()."
    names = list(target.args)

    @settings(max_examples=target.examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def examples(data):
        kwargs = {k: data.draw(s, label=k) for k, s in target.args.items()}
        for k, s in target.optional.items():
            if data.draw(st.booleans(), label=f"pass {k}"): kwargs[k] = data.draw(s, label=k)
        keys = names + list(target.optional)
        bad = data.draw(st.lists(st.sampled_from(keys), min_size=0 if target.optional else 1, max_size=len(keys), unique=True), label="bad")
        for k in bad: kwargs[k] = data.draw(anything(), label=f"bad {k}")
        call(target, kwargs)

    examples()


TARGETS = []   # every Target the suite runs (tests/test_adversarial.py); the step-schedule entries are added below


# --- checks on results -------------------------------------------------------------------------------------------------

def schedule_problem(s, kwargs=None, allow_empty:bool=False):
    "None if `s` is a step schedule: a float32 1-D tensor, finite, > 0 up to its final 0, never rising, that check_sigmas accepts."
    from sched_nb.samplers import check_sigmas
    if not isinstance(s, torch.Tensor): return f"a {type(s).__name__}, not a tensor"
    if allow_empty and s.shape == (0,): return None
    if s.dtype != torch.float32 or s.ndim != 1 or len(s) < 2: return f"dtype {s.dtype}, shape {tuple(s.shape)}"
    c = s.detach().cpu()
    if not torch.isfinite(c).all(): return f"not finite: {c.tolist()[:6]}"
    if c[-1] != 0: return f"ends in {c[-1].item()}, not 0"
    if not (c[:-1] > 0).all(): return f"a sigma <= 0 before the end: {c.tolist()[:6]}"
    if (c[1:] > c[:-1]).any(): return f"rises: {c.tolist()[:6]}"
    try: check_sigmas(c)
    except ValueError as e: return f"check_sigmas refuses it: {e}"
    return None


def inference_problem(s, kwargs=None):
    "None if `s` is what diffusers' set_timesteps gives: a 1-D tensor, finite."
    if not isinstance(s, torch.Tensor) or s.ndim != 1 or len(s) == 0: return f"not a 1-D tensor: {s!r}"[:200]
    if not torch.isfinite(s.double()).all(): return f"not finite: {s.tolist()[:6]}"
    return None


def finite_float(x, kwargs=None):
    return None if type(x) is float and math.isfinite(x) else f"{x!r} is not a finite Python float"


def model_sampling_problem(ms, kwargs=None):
    from sched_nb.core import ScheduleBase
    if not isinstance(ms, ScheduleBase): return f"a {type(ms).__name__}"
    return None if torch.isfinite(ms.sigmas).all() and (ms.sigmas >= 0).all() else f"a table {ms.sigmas.tolist()[:4]}..."
