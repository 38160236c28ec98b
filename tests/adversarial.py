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
import collections
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


def _bytes(t:torch.Tensor) -> bytes:
    "The bytes of a tensor's values."
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _snapshot(value):
    "A picture of an argument to compare after the call: a dict's keys and values (by identity, tensors by content), a module's state."
    if isinstance(value, torch.nn.Module):
        state = tuple((k, _bytes(v)) for k, v in value.state_dict().items())
        return state, tuple(sorted((k, repr(v)) for k, v in vars(value).items() if not k.startswith("_") and k != "training"))
    if isinstance(value, torch.Tensor):
        return value.dtype, tuple(value.shape), _bytes(value)
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.shape, value.tobytes()
    if isinstance(value, dict):
        return tuple((k, id(v), _snapshot(v) if isinstance(v, (torch.Tensor, np.ndarray, list, dict)) else None) for k, v in value.items())
    if isinstance(value, list):
        return tuple((id(v), _snapshot(v) if isinstance(v, (torch.Tensor, np.ndarray, list, dict)) else None) for v in value)
    return None


def _names_one(message:str, words) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


OUTCOMES = collections.Counter()   # (target id, "returned" or "refused") -> how many calls


def call(target:Target, kwargs:dict):
    "Call `target` with `kwargs`; fail unless it returns a good result or refuses by name, and leaves its arguments as they were."
    before = {k: _snapshot(v) for k, v in kwargs.items()}
    shown = ", ".join(f"{k}={v!r}"[:120] for k, v in kwargs.items())
    try:
        result = target.fn(**kwargs)
    except (TypeError, ValueError) as e:
        assert _names_one(str(e), target.words(kwargs)), f"{target.id}({shown}) refused without naming a parameter: {e!r}"
        OUTCOMES[target.id, "refused"] += 1
    else:
        OUTCOMES[target.id, "returned"] += 1
        problem = target.check(result, kwargs) if target.check is not None else None
        assert problem is None, f"{target.id}({shown}) returned a bad result: {problem}"
    for k, v in kwargs.items():
        assert _snapshot(v) == before[k], f"{target.id}({shown}) changed its argument {k}"


def run(target:Target):
    "Run `target.examples` derandomized examples of good arguments, some (or none) of them replaced by anything()."
    names = list(target.args)

    @settings(max_examples=target.examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def examples(data):
        kwargs = {k: data.draw(s, label=k) for k, s in target.args.items()}
        for k, s in target.optional.items():
            if data.draw(st.booleans(), label=f"pass {k}"): kwargs[k] = data.draw(s, label=k)
        keys = names + list(target.optional)
        bad = data.draw(st.lists(st.sampled_from(keys), max_size=len(keys), unique=True), label="bad")   # none: all good
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


# --- step schedules, the diffusers interop and the presets -------------------------------------------------------------

# model samplings of every family, ordinary and extreme (those a model sampling refuses to build are left out)
SAMPLING_SPECS = [("discrete", {}), ("discrete", {"zsnr": True}), ("discrete", {"beta_schedule": "sqrt"}),
                  ("discrete", {"beta_schedule": "cosine", "timesteps": 50}), ("discrete", {"timesteps": 2}),
                  ("discrete_distilled", {}), ("discrete_edm", {}), ("continuous_edm", {}),
                  ("continuous_edm", {"sigma_min": 1.2e-38, "sigma_max": 3.4e38}), ("continuous_v", {"sigma_max": 1e7}),
                  ("continuous_v", {"sigma_max": 3e38}), ("cosmos_rflow", {}), ("stable_cascade", {}),
                  ("stable_cascade", {"shift": 1e30}), ("discrete_flow", {"shift": 3.0}), ("discrete_flow", {"shift": 1e-30}),
                  ("discrete_flow", {"shift": 1e30}), ("flux", {}), ("flux", {"shift": -20.0}), ("flux", {"shift": -70.0}),
                  ("flux", {"shift": 70.0}), ("flux", {"shift": -100.0}), ("flux", {"shift": 100.0})]
_POOL = []


def _pool() -> list:
    "The model samplings of SAMPLING_SPECS that build, built once."
    if not _POOL:
        import warnings
        from sched_nb.compose import model_sampling
        for schedule, settings_ in SAMPLING_SPECS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _POOL.append(model_sampling(schedule, **settings_))
            except ValueError: pass   # refused by the model sampling itself (its own range)
    return _POOL


samplings = st.deferred(lambda: st.sampled_from(_pool()))
good_steps = st.one_of(st.integers(1, 40), st.sampled_from([999, 1000, 1001, 10_000]))
SCHEDULER_OPTIONS = {  # good values of each scheduler's options (sampled, so that beta's quantiles are cached)
    "karras": {"rho": st.sampled_from([7.0, 3.0, 1.0, 0.5, 1000.0])}, "polyexponential": {"rho": st.sampled_from([1.0, 2.0, 0.3, 1e6])},
    "beta": {"alpha": st.sampled_from([0.6, 1.0, 0.1]), "beta": st.sampled_from([0.6, 2.0, 0.1])},
    "linear_quadratic": {"threshold_noise": st.sampled_from([0.025, 0.0, 0.3, 0.66, 1.0]), "linear_steps": st.integers(1, 30)},
    "laplace": {"mu": st.sampled_from([0.0, 1.0, -3.0, 50.0]), "beta": st.sampled_from([0.5, 0.05, 3.0, 1e30])},
    "vp": {"beta_d": st.sampled_from([19.9, 1e-3, 170.0, 178.0]), "beta_min": st.sampled_from([0.1, 0.0, 80.0]),
           "eps_s": st.sampled_from([1e-3, 1e-6, 0.5, 1e-30])},
    "sd_turbo": {"denoise": st.sampled_from([1.0, 0.5, 0.05, 0.0])},
}
SHORT = ("beta", "ddim_uniform", "sd_turbo")   # schedulers that may give fewer than steps + 1 sigmas


def _schedule_of(kwargs_steps:str="steps", exact_length:bool=True):
    def check(s, kwargs):
        problem = schedule_problem(s)
        if problem is None and exact_length and len(s) != kwargs[kwargs_steps] + 1: problem = f"{len(s)} sigmas for {kwargs[kwargs_steps]} steps"
        return problem
    return check


def _scheduler_targets():
    from sched_nb.schedulers import SCHEDULER_NAMES, calculate_sigmas
    for name in SCHEDULER_NAMES:
        steps = st.sampled_from([1, 2, 5, 10, 30, 1001]) if name == "beta" else good_steps   # beta's quantiles cached per steps
        yield Target(f"calculate_sigmas[{name}]", calculate_sigmas,
                     {"model_sampling": samplings, "name": st.just(name), "steps": steps},
                     check=_schedule_of(exact_length=name not in SHORT), optional=SCHEDULER_OPTIONS.get(name, {}), examples=25)


def _published(s, kwargs): return schedule_problem(s, allow_empty=True)


def _config_values():
    "Good values of the config keys sched_nb reads (each also the kind of value a shipped config holds)."
    return {"num_train_timesteps": st.sampled_from([1000, 500, 2]), "beta_start": st.sampled_from([0.00085, 1e-4, np.float64(1e-4)]),
            "beta_end": st.sampled_from([0.012, 0.02, np.float32(0.012)]), "beta_schedule": st.sampled_from(["linear", "scaled_linear", "squaredcos_cap_v2"]),
            "prediction_type": st.sampled_from(["epsilon", "v_prediction", "sample"]), "timestep_spacing": st.sampled_from(["linspace", "leading", "trailing"]),
            "steps_offset": st.sampled_from([0, 1]), "use_karras_sigmas": st.booleans(), "rescale_betas_zero_snr": st.booleans(),
            "final_sigmas_type": st.sampled_from(["zero", "sigma_min"]), "shift": st.sampled_from([1.0, 3.0, 1e-6, 1e30]),
            "use_dynamic_shifting": st.booleans(), "sigma_min": st.sampled_from([None, 0.002, 0.1]), "sigma_max": st.sampled_from([None, 80.0, 10.0]),
            "rho": st.sampled_from([7.0, 3.0]), "trained_betas": st.sampled_from([None, [0.1, 0.2, 0.3], [0.999] * 60]),
            "original_inference_steps": st.sampled_from([50, 10]), "invert_sigmas": st.booleans(), "shift_terminal": st.sampled_from([None, 0.1]),
            "time_shift_type": st.sampled_from(["exponential", "linear"]), "lambda_min_clipped": st.sampled_from([-math.inf, -5.1])}


def _configs():
    "Configs of every class: a few good keys, some of them replaced by anything()."
    from sched_nb.interop import SCHEDULER_DEFAULTS
    values = _config_values()
    def one(name):
        keys = [k for k in values if k in SCHEDULER_DEFAULTS[name]]
        good = st.fixed_dictionaries({"_class_name": st.just(name)}, optional={k: values[k] for k in keys})
        bad = st.dictionaries(st.sampled_from(keys + ["_class_name"]), anything(), max_size=2)
        return st.tuples(good, st.one_of(st.just({}), bad)).map(lambda gb: {**gb[0], **gb[1]})
    return st.sampled_from(list(SCHEDULER_DEFAULTS)).flatmap(one)


def _config_keys():
    from sched_nb.interop import SCHEDULER_DEFAULTS
    return tuple({k for d in SCHEDULER_DEFAULTS.values() for k in d} | {"_class_name"})


def _interop_targets():
    from sched_nb import interop as I
    mu = st.one_of(st.none(), st.sampled_from([0.8, 1.15, -3.0, 700.0]))
    keys = _config_keys()
    yield Target("from_diffusers", I.from_diffusers, {"config": _configs(), "mu": mu}, check=model_sampling_problem, names=keys, examples=30)
    yield Target("diffusers_config", I.diffusers_config, {"config": _configs()}, names=keys, examples=30)
    yield Target("scheduler_class", I.scheduler_class, {"config": _configs()}, names=keys, examples=15)
    steps = st.one_of(st.integers(1, 60), st.sampled_from([999, 1000, 1001, 10_000]))
    yield Target("diffusers_sigmas", I.diffusers_sigmas, {"config": _configs(), "num_inference_steps": steps, "mu": mu},
                 check=inference_problem, names=keys, examples=40)
    yield Target("diffusers_timesteps", I.diffusers_timesteps, {"config": _configs(), "num_inference_steps": steps, "mu": mu},
                 check=inference_problem, names=keys, examples=30)
    yield Target("to_diffusers", I.to_diffusers, {"ms": samplings, "scheduler": st.sampled_from(list(I.SCHEDULER_DEFAULTS))},
                 names=keys, examples=20)
    yield Target("flow_time_shift", I.flow_time_shift, {"mu": st.floats(-5, 5), "t": st.sampled_from([0.5, 1.0, np.linspace(0.01, 1, 5)]),
                 "time_shift_type": st.sampled_from(["exponential", "linear"])},
                 check=lambda r, kw: None if np.isfinite(np.asarray(r, dtype=np.float64)).all() else f"{r!r}", examples=15)


def _preset_targets():
    from sched_nb import presets as P
    yield Target("preset", P.preset, {"name": st.sampled_from(list(P.PRESETS))}, check=model_sampling_problem,
                 optional={"shift": st.sampled_from([3.0, 1.15]), "zsnr": st.booleans(), "sigma_max": st.sampled_from([80.0, 700.0])}, examples=20)
    size = st.sampled_from([512, 1024, 768.0, 1e-3, 1e150])
    yield Target("flux_shift", P.flux_shift, {"width": size, "height": size, "base_shift": st.just(0.5), "max_shift": st.just(1.15)},
                 check=finite_float, examples=15)
    yield Target("sd3_resolution_shift", P.sd3_resolution_shift, {"width": size, "height": size, "base_shift": st.just(3.0),
                 "base_width": st.just(1024), "base_height": st.just(1024)}, check=finite_float, examples=15)
    yield Target("mu_from_seq_len", P.mu_from_seq_len, {"seq_len": st.sampled_from([256, 4096.0, 1e300]), "base_seq_len": st.just(256),
                 "max_seq_len": st.just(4096), "base_shift": st.just(0.5), "max_shift": st.just(1.15)}, check=finite_float, examples=15)


def _published_targets():
    from sched_nb import schedulers as S
    steps, denoise = st.integers(1, 60), st.sampled_from([1.0, 0.5, 0.01, 0.0])
    yield Target("align_your_steps", S.align_your_steps, {"model_type": st.sampled_from(list(S.AYS_SIGMAS)), "steps": steps,
                 "denoise": denoise}, check=_published, examples=10)
    yield Target("optimal_steps_sigmas", S.optimal_steps_sigmas, {"model_type": st.sampled_from(list(S.OPTIMAL_STEPS_SIGMAS)),
                 "steps": steps, "denoise": denoise}, check=_published, examples=10)
    yield Target("gits_sigmas", S.gits_sigmas, {"coeff": st.sampled_from(sorted(S.GITS_TABLES)), "steps": st.integers(2, 40),
                 "denoise": denoise}, check=_published, examples=10)
    yield Target("beta_ppf", S.beta_ppf, {"p": st.sampled_from([0.5, torch.linspace(0, 1, 5)]), "a": st.sampled_from([0.6, 2.0]),
                 "b": st.sampled_from([0.6, 2.0])}, check=lambda r, kw: None if torch.isfinite(r).all() else f"{r}", examples=8)


for _make in (_scheduler_targets, _published_targets, _interop_targets, _preset_targets):
    TARGETS.extend(_make())
