"""Every entry of tests/adversarial.py's TARGETS under adversarial arguments: a good result or a refusal by name,
never another exception, never an argument changed (derandomized; `examples` examples each)."""
import math

import pytest
import torch
from hypothesis import strategies as st

from adversarial import OUTCOMES, TARGETS, Target, run, schedule_problem


@pytest.mark.parametrize("target", TARGETS, ids=[t.id for t in TARGETS])
def test_adversarial_arguments(target):
    run(target)


def test_every_public_function_of_the_step_schedules_interop_and_presets_is_a_target():
    ids = {t.id.split("[")[0] for t in TARGETS}
    assert {"calculate_sigmas", "align_your_steps", "gits_sigmas", "optimal_steps_sigmas", "from_diffusers", "diffusers_config",
            "diffusers_sigmas", "diffusers_timesteps", "to_diffusers", "scheduler_class", "preset", "flux_shift",
            "sd3_resolution_shift", "mu_from_seq_len"} <= ids
    from sched_nb.schedulers import SCHEDULER_NAMES
    assert {t.id for t in TARGETS if t.id.startswith("calculate_sigmas[")} == {f"calculate_sigmas[{n}]" for n in SCHEDULER_NAMES}


def _raising(exc, message):
    def fn(x): raise exc(message)
    return fn


def _mutating(config):
    if isinstance(config, dict): config["x"] = 1.0
    raise ValueError("config is refused")


@pytest.mark.parametrize("fn,check,caught", [
    (_raising(RuntimeError, "x is wrong"), None, RuntimeError),                    # another exception than TypeError/ValueError
    (_raising(ValueError, "something is wrong"), None, AssertionError),            # a refusal that names no parameter
    (lambda x: torch.tensor([math.nan, 0.0]), schedule_problem, AssertionError),   # a NaN schedule
    (lambda x: torch.tensor([1.0, 2.0, 0.0]), schedule_problem, AssertionError),   # a rising one
    (lambda x: torch.tensor([1.0, 1.0]), schedule_problem, AssertionError),        # one that does not end in 0
], ids=["foreign-exception", "unnamed-refusal", "nan-result", "rising-result", "no-final-zero"])
def test_the_harness_catches_each_class_of_failure(fn, check, caught):
    with pytest.raises(caught):
        run(Target("broken", fn, {"x": st.just(1.0)}, check=check, examples=5))


def test_the_harness_catches_an_argument_changed_by_a_refused_call():
    with pytest.raises(AssertionError, match="changed its argument config"):
        run(Target("broken", _mutating, {"config": st.builds(dict, a=st.just(1.0))}, examples=5))


def test_the_targets_both_return_and_refuse():
    "Each target's examples reach both outcomes (good arguments get results, bad ones refusals), so neither check is idle."
    for target in TARGETS:
        if not OUTCOMES[target.id, "returned"] and not OUTCOMES[target.id, "refused"]: run(target)
        assert OUTCOMES[target.id, "refused"] > 0, target.id
        assert OUTCOMES[target.id, "returned"] > 0, target.id
