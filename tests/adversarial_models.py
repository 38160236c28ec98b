"""Arbitrary Python objects thrown at every public call of the model samplings (sched_nb.core ... sched_nb.compose).

`CALLS` lists each public function and method with the parameter that receives the arbitrary value; `attempt` runs
one call and sorts what happens into an outcome:

- "refused": a TypeError/ValueError whose message names the parameter (the only acceptable failure);
- "unnamed": a TypeError/ValueError that does not name it (torch's or Python's own message);
- "foreign": any other exception (RuntimeError, AttributeError, OverflowError, IndexError, ...);
- "nonfinite": an answer holding NaN or infinity although every input was finite and valid-looking;
- "complex_lost": a complex input answered by a real tensor;
- "negative": a negative noise level answered for a non-negative input;
- "shape": an answer whose shape is not the one the input asks for;
- "junk_accepted": a value of no sensible kind (str, None, dict, object, ...) accepted without error;
- "changed": the object changed although the call was refused;
- "ok": accepted, with a sensible answer.

Run `python tests/adversarial_models.py N` for a count of N random inputs per call (the figures of the report);
tests/test_properties.py draws from `values()` with hypothesis.
"""
import math
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import torch

import sched_nb
from sched_nb import betas, compose, core, discrete, flow
from sched_nb.compose import model_sampling

F32 = torch.finfo(torch.float32)
MAGNITUDES = [0.0, -0.0, 5e-324, 1e-300, 1e-45, 1e-30, 1e-8, 0.5, 1.0, 2.0, 999.5, 1e19, 1e38, 1e39, 1e300,
              math.inf, -math.inf, math.nan, -1.0, -1e-8, -1e39]
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8,
          torch.bool, torch.complex64, torch.complex128]
SHAPES = [(), (0,), (1,), (3,), (3, 1), (2, 3), (3, 1, 1, 1), (1, 1, 1, 1), (3, 4, 2, 2), (5, 4, 2, 2), (0, 4, 2, 2)]


class Thing:
    "An object of no numeric kind."
    def __repr__(self): return "Thing()"


class Fake:
    "An object that claims attributes it does not have the right kind of."
    sampling_settings = [("shift", 2.0)]
    ndim, shape, dtype = 2, (3, 1), "float32"


JUNK = ["", "0.5", "abc", None, Thing(), Fake(), {}, {"a": 1}, [], [[1.0], [2.0, 3.0]], ["a"], (1.0, "b"),
        b"1", Ellipsis, slice(1), print, torch.float32, torch.device("cpu"), object, range(3), {1.0, 2.0}]
SCALARS = [True, False, 0, 1, -1, 3, 10 ** 400, -(10 ** 400), 1j, complex(0.5, 0.0), complex(math.nan, 1),
           np.float32(0.5), np.float64(1e39), np.int64(7), np.bool_(True), np.complex64(1 + 1j), np.float16(0.5)]


def make_tensor(dtype, shape, magnitude, grad=False, kind="torch"):
    "A tensor (or numpy array) of `shape` filled with `magnitude` where the dtype can hold it."
    try:
        base = torch.full(shape, magnitude, dtype=torch.float64)
        if dtype.is_complex: t = (base + 1j * 0.5).to(dtype)
        elif dtype == torch.bool: t = base.ne(0)
        elif not dtype.is_floating_point: t = base.nan_to_num(0, 0, 0).clamp(-1e9, 1e9).to(dtype)
        else: t = base.to(dtype)
    except (RuntimeError, OverflowError):
        t = torch.zeros(shape, dtype=dtype)
    if kind == "numpy":
        return t.numpy() if dtype not in (torch.bfloat16,) else t.float().numpy()
    if grad and (dtype.is_floating_point or dtype.is_complex): t.requires_grad_(True)
    return t


def describe(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"tensor({v.dtype}, {tuple(v.shape)}, {v.flatten()[:1].tolist() if v.numel() else []}{', grad' if v.requires_grad else ''})"
    if isinstance(v, np.ndarray): return f"ndarray({v.dtype}, {v.shape})"
    r = repr(v)
    return r if len(r) < 40 else r[:37] + "..."


def is_finite_input(v) -> bool:
    "Whether `v` is a real number or real tensor with only finite values (an input that deserves a finite answer)."
    if isinstance(v, bool) or isinstance(v, np.bool_): return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        try: return math.isfinite(float(v))
        except OverflowError: return False
    if isinstance(v, np.ndarray): v = torch.as_tensor(v) if v.dtype.kind in "fiu" else None
    if isinstance(v, torch.Tensor):
        return not v.dtype.is_complex and v.dtype != torch.bool and bool(torch.isfinite(v.detach().double()).all())
    return False


def is_junk(v) -> bool:
    "Whether `v` is of no kind a numeric parameter could sensibly accept."
    return isinstance(v, (str, bytes, type(None), Thing, Fake, dict, set, type, slice, range, torch.dtype, torch.device)) \
        or v is Ellipsis or callable(v) and not isinstance(v, torch.Tensor)


# --- the public calls ---------------------------------------------------------------------------------------------

X = lambda: torch.randn(3, 4, 2, 2, generator=torch.Generator().manual_seed(0))
SIG = lambda: torch.tensor([0.5, 1.0, 2.0])
FAMILIES = list(compose.SCHEDULES)


OTHER_SETTINGS = {"discrete": {"linear_end": 0.013}, "discrete_distilled": {"original_timesteps": 40},
                  "discrete_edm": {"linear_start": 0.0009}, "continuous_edm": {"sigma_max": 80.0, "sigma_data": 0.5},
                  "continuous_v": {"sigma_data": 0.5}, "cosmos_rflow": {"sigma_max": 80.0, "sigma_data": 0.5},
                  "stable_cascade": {"shift": 2.0}, "discrete_flow": {"shift": 3.0, "multiplier": 500}, "flux": {"shift": 0.7}}


def fresh(family, param=None, **s):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model_sampling(family, param, **s)


def _state(ms):
    "What a refused call must leave as it was: buffers and plain attributes."
    buf = {k: v.detach().clone() for k, v in ms.state_dict(keep_vars=True).items()}
    buf.update({f"buffer:{k}": v.detach().clone() for k, v in ms.named_buffers()})
    attrs = {k: v for k, v in vars(ms).items() if not k.startswith("_") or k in ("_s", "_last_drop")}
    return buf, attrs


def _same(a, b) -> bool:
    (ba, aa), (bb, ab) = a, b
    if ba.keys() != bb.keys() or aa.keys() != ab.keys(): return False
    for k in ba:
        x, y = ba[k], bb[k]
        if x.shape != y.shape or x.dtype != y.dtype or not torch.equal(x.nan_to_num(7.0), y.nan_to_num(7.0)): return False
    return all(type(aa[k]) is type(ab[k]) and (aa[k] == ab[k] or aa[k] != aa[k]) for k in aa
               if isinstance(aa[k], (int, float, str, bool, type(None))))


class Call:
    "One public call with a slot for the arbitrary value: `run(v)` answers the result; `target()` the object it may change."
    def __init__(self, name, param, fn, kind="value", obj=None, also=()):
        self.name, self.param, self.fn, self.kind, self.obj, self.also = name, param, fn, kind, obj, tuple(also)

    def __repr__(self): return f"{self.name}[{self.param}]"


def _calls():
    calls = []
    add = lambda *a, **k: calls.append(Call(*a, **k))
    classes = {name: cls for name, cls in compose.SCHEDULES.items()}
    for family, cls in classes.items():
        keys = list(cls.setting_defaults)
        add(f"{cls.__name__}()", "model_config", lambda v, cls=cls: cls(v), "config")
        for k in keys:
            add(f"{cls.__name__}({{{k!r}: v}})", k, lambda v, cls=cls, k=k: cls({k: v}), "setting")
            add(f"{cls.__name__}(config.{k})", k, lambda v, cls=cls, k=k: cls(SimpleNamespace(sampling_settings={k: v})), "setting")
            add(f"model_sampling({family!r}, {k}=v)", k, lambda v, family=family, k=k: fresh(family, **{k: v}), "setting")
        if "zsnr" in cls.__init__.__code__.co_varnames:
            add(f"{cls.__name__}(zsnr=v)", "zsnr", lambda v, cls=cls: cls(zsnr=v), "flag")
        # methods on a built instance, of settings other than the defaults (so that a half-applied call shows)
        obj = lambda family=family: fresh(family, **OTHER_SETTINGS.get(family, {}))
        add(f"{family}.timestep", "sigma", lambda v, ms: ms.timestep(v), "sigma", obj=obj)
        add(f"{family}.sigma", "timestep", lambda v, ms: ms.sigma(v), "timestep", obj=obj)
        add(f"{family}.percent_to_sigma", "percent", lambda v, ms: ms.percent_to_sigma(v), "percent", obj=obj)
        add(f"{family}.set_sigmas", "sigmas", lambda v, ms: ms.set_sigmas(v), "table", obj=obj)
        add(f"{family}.load_state_dict[sigmas]", "sigmas",
            lambda v, ms: ms.load_state_dict({**ms.state_dict(), "sigmas": v}), "table", obj=obj)
        if "log_sigmas" in fresh(family).state_dict():
            add(f"{family}.load_state_dict[log_sigmas]", "log_sigmas",
                lambda v, ms: ms.load_state_dict({**ms.state_dict(), "log_sigmas": v}), "table", obj=obj)
        if hasattr(cls, "set_parameters"):
            import inspect
            for p in list(inspect.signature(cls.set_parameters).parameters)[1:]:
                defaults = {"sigma_min": 0.002, "sigma_max": 120.0, "sigma_data": 1.0}
                def sp(v, ms, p=p, defaults=defaults, cls=cls):
                    if issubclass(cls, sched_nb.ModelSamplingContinuousEDM):
                        return ms.set_parameters(**{**defaults, p: v})
                    return ms.set_parameters(**{p: v})
                add(f"{family}.set_parameters({p}=v)", p, sp, "setting", obj=obj)
        if family in ("discrete", "discrete_distilled"):
            add(f"{family}.timestep(quantize=v)", "quantize", lambda v, ms: ms.timestep(SIG(), quantize=v), "flag", obj=obj)
    # parameterizations alone and combined with a schedule
    pairs = [(None, p) for p in compose.PARAMETERIZATIONS if p != "lcm"]
    pairs += [(f, p) for f in ("discrete", "continuous_edm", "discrete_flow", "stable_cascade")
              for p in compose.PARAMETERIZATIONS if p != "lcm"] + [("discrete_distilled", "lcm"), ("discrete", "lcm")]
    for family, p in pairs:
        pcls = compose.PARAMETERIZATIONS[p]
        obj = (lambda pcls=pcls: pcls()) if family is None else (lambda family=family, p=p: fresh(family, p))
        tag = pcls.__name__ if family is None else f"{family}+{p}"
        add(f"{tag}.calculate_input", "sigma", lambda v, m: m.calculate_input(v, X()), "sigma_b", obj=obj)
        add(f"{tag}.calculate_input", "noise", lambda v, m: m.calculate_input(SIG(), v), "latent", obj=obj, also=("sigma",))
        add(f"{tag}.calculate_denoised", "sigma", lambda v, m: m.calculate_denoised(v, X(), X()), "sigma_b", obj=obj)
        add(f"{tag}.calculate_denoised", "model_output", lambda v, m: m.calculate_denoised(SIG(), v, X()), "latent", obj=obj, also=("model_input", "sigma"))
        add(f"{tag}.calculate_denoised", "model_input", lambda v, m: m.calculate_denoised(SIG(), X(), v), "latent", obj=obj, also=("model_output", "sigma"))
        add(f"{tag}.noise_scaling", "sigma", lambda v, m: m.noise_scaling(v, X(), X()), "sigma_b", obj=obj)
        add(f"{tag}.noise_scaling", "noise", lambda v, m: m.noise_scaling(SIG(), v, X()), "latent", obj=obj, also=("latent_image", "sigma"))
        add(f"{tag}.noise_scaling", "latent_image", lambda v, m: m.noise_scaling(SIG(), X(), v), "latent", obj=obj, also=("noise", "sigma"))
        add(f"{tag}.noise_scaling", "max_denoise", lambda v, m: m.noise_scaling(SIG(), X(), X(), max_denoise=v), "flag", obj=obj)
        add(f"{tag}.inverse_noise_scaling", "sigma", lambda v, m: m.inverse_noise_scaling(v, X()), "sigma_b", obj=obj)
        add(f"{tag}.inverse_noise_scaling", "latent", lambda v, m: m.inverse_noise_scaling(SIG(), v), "latent", obj=obj, also=("sigma",))
        if family is None:
            add(f"{pcls.__name__}(sigma_data=v)", "sigma_data", lambda v, pcls=pcls: pcls(sigma_data=v), "setting")
    # module-level functions
    add("model_sampling(v)", "schedule", lambda v: model_sampling(v), "name")
    add("model_sampling('discrete', v)", "parameterization", lambda v: model_sampling("discrete", v), "name")
    add("combine(v, EPS)", "schedule_cls", lambda v: compose.combine(v, sched_nb.EPS), "name")
    add("combine(MSD, v)", "parameterization_cls", lambda v: compose.combine(sched_nb.ModelSamplingDiscrete, v), "name")
    for p, pos in (("schedule", 0), ("n_timestep", 1), ("linear_start", 2), ("linear_end", 3), ("cosine_s", 4)):
        args = ["linear", 1000, 1e-4, 2e-2, 8e-3]
        add(f"make_beta_schedule[{p}]", {"schedule": "beta_schedule", "n_timestep": "timesteps"}.get(p, p),
            lambda v, pos=pos, args=args: betas.make_beta_schedule(*args[:pos], v, *args[pos + 1:]), "name" if pos == 0 else "setting")
    add("alphas_cumprod_from_betas", "given_betas", lambda v: betas.alphas_cumprod_from_betas(v), "table")
    add("rescale_zero_terminal_snr_sigmas", "sigmas", lambda v: betas.rescale_zero_terminal_snr_sigmas(v), "table")
    add("reshape_sigma", "sigma", lambda v: core.reshape_sigma(v, 4), "sigma_b")
    add("reshape_sigma", "noise_dim", lambda v: core.reshape_sigma(SIG(), v), "count")
    add("broadcast_sigma", "sigma", lambda v: core.broadcast_sigma(v, X()), "sigma_b")
    add("broadcast_sigma", "like", lambda v: core.broadcast_sigma(SIG(), v), "latent", also=("sigma",))
    add("settings_from_config", "model_config", lambda v: core.settings_from_config(v), "config")
    add("time_snr_shift", "alpha", lambda v: flow.time_snr_shift(v, torch.tensor([0.0, 0.5, 1.0])), "setting")
    add("time_snr_shift", "t", lambda v: flow.time_snr_shift(3.0, v), "time")
    add("time_snr_shift(python t)", "alpha", lambda v: flow.time_snr_shift(v, 0.5), "setting")
    add("flux_time_shift", "mu", lambda v: flow.flux_time_shift(v, 1.0, torch.tensor([0.0, 0.5, 1.0])), "setting")
    add("flux_time_shift", "sigma", lambda v: flow.flux_time_shift(1.15, v, torch.tensor([0.0, 0.5, 1.0])), "setting")
    add("flux_time_shift", "t", lambda v: flow.flux_time_shift(1.15, 1.0, v), "time")
    add("check_number", "x", lambda v: core.check_number("x", v), "setting")
    add("check_int", "x", lambda v: core.check_int("x", v), "count")
    add("check_percent", "percent", lambda v: core.check_percent(v), "percent")
    add("check_sigma_table", "sigmas", lambda v: core.check_sigma_table(v, "the table"), "table")
    add("check_noise_levels", "x", lambda v: core.check_noise_levels("x", v), "sigma")
    add("nearest_index", "grid", lambda v: discrete.nearest_index(v, SIG()), "table")
    add("nearest_index", "x", lambda v: discrete.nearest_index(torch.tensor([0.1, 1.0, 10.0]), v), "sigma")
    return calls


CALLS = _calls()


# --- sorting an outcome -----------------------------------------------------------------------------------------

def _names(message: str, call: Call) -> bool:
    "Whether the message names the parameter given the value (or, for a mismatch between two, the other one)."
    return any(p in message for p in (call.param,) + call.also)


def _modest(v) -> bool:
    "A finite real input whose magnitudes float32 arithmetic holds with room to spare (|v| <= 1e30)."
    if not is_finite_input(v): return False
    if not isinstance(v, (torch.Tensor, np.ndarray)): return abs(float(v)) <= 1e30
    t = torch.as_tensor(v).detach().double() if not isinstance(v, torch.Tensor) else v.detach().double()
    return bool((t.abs() <= 1e30).all())


def _expected_shape(call, v):
    "The shape an accepted parameterization call must answer in, or None where any is fine."
    x = (3, 4, 2, 2)
    if call.kind == "sigma_b": return None if call.name in ("reshape_sigma", "broadcast_sigma") else x
    if call.kind == "latent" and call.name not in ("broadcast_sigma",):
        if call.param in ("model_output", "model_input", "latent_image"): return x
        return tuple(v.shape)   # noise, latent: the answer has its shape
    return None


def _negative_input(v) -> bool:
    if isinstance(v, (int, float)): return v < 0
    try: return bool((torch.as_tensor(v).double() < 0).any())
    except Exception: return False   # noqa: BLE001


def _answer_problem(call, v, out):
    "What is wrong with an accepted call's answer, or None."
    if is_junk(v) and call.kind not in ("config",) and not (call.kind == "flag" and v is None):
        return "junk_accepted"
    if call.kind in ("latent", "sigma", "sigma_b", "timestep", "time", "table") and (
            isinstance(v, bool) or isinstance(v, torch.Tensor) and v.dtype == torch.bool
            or isinstance(v, np.ndarray) and v.dtype == bool):
        return "bool_accepted"
    if call.kind == "latent" and not isinstance(v, torch.Tensor):
        return "junk_accepted"   # latents are tensors; a number or list where a latent goes is a mistake
    complex_in = (isinstance(v, complex) or isinstance(v, (np.complexfloating,))
                  or isinstance(v, torch.Tensor) and v.dtype.is_complex or isinstance(v, np.ndarray) and v.dtype.kind == "c")
    tensors = out if isinstance(out, (tuple, list)) else [out]
    for t in tensors:
        if isinstance(t, torch.Tensor):
            if complex_in and not t.dtype.is_complex: return "complex_lost"
            if _modest(v) and t.is_floating_point() and not torch.isfinite(t.detach()).all():
                if call.kind in ("sigma", "sigma_b") and _negative_input(v): return None   # no noise level: NaN documented
                if call.kind in ("sigma", "timestep"): return "documented_edge"   # EDM time of sigma 0, tan at t = 1
                return "nonfinite"
            want = _expected_shape(call, v)
            if want is not None and tuple(t.shape) != want: return "shape"
            if call.kind in ("latent", "sigma_b") and "." in call.name and not t.is_floating_point(): return "not_float"
        elif isinstance(t, float):
            if complex_in: return "complex_lost"
            if _modest(v) and not math.isfinite(t): return "nonfinite"
            if call.name.endswith("percent_to_sigma") and t < 0: return "negative"
    return None


def attempt(call: Call, v):
    "Run `call` with the value `v`: `(outcome, detail)`."
    target = call.obj() if call.obj is not None else None
    before = _state(target) if isinstance(target, torch.nn.Module) else None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = call.fn(v, target) if target is not None else call.fn(v)
    except (TypeError, ValueError) as e:
        if before is not None and not _same(before, _state(target)): return "changed", str(e)[:120]
        return ("refused" if _names(str(e), call) else "unnamed"), f"{type(e).__name__}: {str(e)[:160]}"
    except Exception as e:   # noqa: BLE001 - sorting every failure is the point
        if before is not None and not _same(before, _state(target)): return "changed", f"{type(e).__name__}: {str(e)[:120]}"
        return "foreign", f"{type(e).__name__}: {str(e)[:160]}"
    try: problem = _answer_problem(call, v, out)
    except Exception as e:   # noqa: BLE001 - an answer that cannot even be inspected
        return "bad_answer", f"{type(e).__name__}: {str(e)[:120]}"
    return (problem or "ok"), ""


# --- the values -----------------------------------------------------------------------------------------------

def values():
    "A hypothesis strategy over types, shapes, dtypes, devices and magnitudes."
    from hypothesis import strategies as st
    tensors = st.builds(make_tensor, st.sampled_from(DTYPES), st.sampled_from(SHAPES), st.sampled_from(MAGNITUDES),
                        st.booleans(), st.sampled_from(["torch", "torch", "numpy"]))
    numbers = st.one_of(st.sampled_from(MAGNITUDES), st.floats(allow_nan=True, allow_infinity=True),
                        st.integers(-10 ** 30, 10 ** 30), st.complex_numbers(max_magnitude=1e40))
    lists = st.lists(st.one_of(st.floats(-10, 1e3), st.integers(-5, 5)), max_size=4)
    return st.one_of(tensors, tensors, numbers, st.sampled_from(JUNK + SCALARS), lists, st.text(max_size=3))


def search(per_call=60, seed=0):
    "Draw `per_call` values for every call; count outcomes per call kind. Returns (counts, failures)."
    from hypothesis import strategies as st
    import random
    rng = random.Random(seed)
    pool = [values().example() for _ in range(0)]  # hypothesis' example() is slow; draw our own below
    counts, failures = {}, []
    for call in CALLS:
        for i in range(per_call):
            v = _draw(rng)
            outcome, detail = attempt(call, v)
            counts.setdefault(call.kind, {}).setdefault(outcome, 0)
            counts[call.kind][outcome] += 1
            if outcome not in ("ok", "refused"):
                failures.append((call, describe(v), outcome, detail))
    return counts, failures


def _draw(rng):
    "One arbitrary value (a plain-random counterpart of `values()`, fast enough for a census)."
    r = rng.random()
    if r < 0.5:
        return make_tensor(rng.choice(DTYPES), rng.choice(SHAPES), rng.choice(MAGNITUDES), rng.random() < 0.3,
                           "numpy" if rng.random() < 0.25 else "torch")
    if r < 0.7: return rng.choice(MAGNITUDES + [rng.uniform(-2, 2), rng.randint(-5, 2000)])
    if r < 0.92: return rng.choice(JUNK + SCALARS)
    return [rng.uniform(-1, 3) for _ in range(rng.randint(0, 3))]


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    counts, failures = search(n)
    total = sum(sum(c.values()) for c in counts.values())
    print(f"{len(CALLS)} calls, {total} inputs")
    for kind, c in sorted(counts.items()):
        print(f"  {kind:10s} {sum(c.values()):6d}  " + ", ".join(f"{k}={v}" for k, v in sorted(c.items())))
    seen = {}
    for call, v, outcome, detail in failures:
        key = (call.name, call.param, outcome, detail[:50])
        if key not in seen: seen[key] = (v, detail)
    by = {}
    for (name, param, outcome, _), (v, detail) in seen.items():
        by.setdefault(outcome, []).append(f"{name}[{param}] <- {v}: {detail}")
    for outcome, rows in sorted(by.items()):
        print(f"\n== {outcome}: {len(rows)} distinct")
        for r in rows[: int(sys.argv[2]) if len(sys.argv) > 2 else 40]: print("  ", r)
