"""dtypes and devices: half-precision inputs computed in float32, buffers that never downcast, `.to(device)`,
state_dict and pickle round trips, torch.compile; every test runs on each device of the `device` fixture."""
import copy
import io
import pickle

import pytest
import torch

from sched_nb.compose import model_sampling

FAMILIES = ["discrete", "discrete_distilled", "discrete_edm", "continuous_edm", "continuous_v",
            "stable_cascade", "discrete_flow", "flux", "cosmos_rflow"]
PARAMS = ["eps", "v_prediction", "edm", "x0", "const", "img_to_img"]
HALF = [torch.float16, torch.bfloat16]
ULP = {torch.float16: 2 ** -10, torch.bfloat16: 2 ** -7, torch.float32: 2 ** -23}
INDEX_TIME = ("discrete", "discrete_distilled")
# settings whose float32 table a half-precision cast would turn into inf (sigma_max beyond 65504)
HUGE = {"discrete": {"beta_schedule": "sqrt", "linear_start": 1e-4, "linear_end": 0.02},
        "discrete_distilled": {"beta_schedule": "sqrt", "linear_start": 1e-4, "linear_end": 0.02},
        "discrete_edm": {"beta_schedule": "sqrt", "linear_start": 1e-4, "linear_end": 0.02},
        "continuous_edm": {"sigma_max": 1e6}, "continuous_v": {"sigma_max": 1e6}, "cosmos_rflow": {"sigma_max": 1e6}}


def inside(ms, n=7):
    "Noise levels spread over the table (float32, on the buffers' device)."
    idx = torch.linspace(0, len(ms.sigmas) - 1, n).round().long()
    return ms.sigmas[idx.to(ms.sigmas.device)]


def times(ms, n=7):
    return ms.timestep(inside(ms, n)).float()


def close_to_float64(result, reference64, dtype):
    "Within one rounding of `dtype` (two ulps) of the float64 computation: what float32 arithmetic gives."
    tol = 2 * ULP[dtype]
    torch.testing.assert_close(result.double(), reference64.to(dtype).double(), rtol=tol, atol=0, equal_nan=True)


# --- dtypes in, dtypes out ---

@pytest.mark.parametrize("dtype", HALF + [torch.float64])
@pytest.mark.parametrize("family", FAMILIES)
def test_conversions_answer_in_the_input_dtype(family, dtype, device):
    ms = model_sampling(family).to(device)
    sig = inside(ms)
    t = ms.timestep(sig.to(dtype))
    if family in INDEX_TIME:
        assert t.dtype == torch.int64
        if dtype == torch.float64:
            assert torch.equal(t, ms.timestep(sig.double()))
    else:
        assert t.dtype == dtype
        close_to_float64(t, ms.timestep(sig.to(dtype).double()), dtype if dtype != torch.float64 else torch.float32)
    tt = times(ms).to(dtype)
    s = ms.sigma(tt)
    # a discrete sigma is the reference's `timestep.float()` arithmetic: float32 for every time but a float64 one
    wanted = torch.float32 if family in INDEX_TIME and dtype != torch.float64 else dtype
    assert s.dtype == wanted and s.device.type == device.type
    close_to_float64(s, ms.sigma(tt.double()), dtype if wanted != torch.float64 else torch.float32)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("family", ["discrete_edm", "continuous_edm", "continuous_v", "stable_cascade", "discrete_flow", "flux"])
def test_half_time_is_computed_in_float32_or_better(family, dtype, device):
    "The exact answer rounded once: half-precision arithmetic would round every intermediate step."
    ms = model_sampling(family).to(device)
    sig = torch.rand(2000, device=device, generator=None) * (ms.sigmas[-1] - ms.sigmas[0]) + ms.sigmas[0]
    x = sig.to(dtype)
    exact = ms.timestep(x.double()).to(dtype)
    got = ms.timestep(x)
    # float32 arithmetic rounds once more than float64 before the final rounding: rarely one ulp apart
    mismatch = (got.double() - exact.double()).abs() > 1.01 * ULP[dtype] * exact.double().abs()
    assert mismatch.float().mean().item() < 0.01


def reference_dtype(name, param, sigma, x):
    "The dtype of the reference's expression: PyTorch's promotion of the latent with sigma as its reshape leaves it."
    s = sigma.view(()) if sigma.numel() == 1 else sigma.view(-1, *(1,) * (x.ndim - 1))
    if name == "inverse_noise_scaling" and param != "const": return x.dtype          # the latent, returned as it is
    if name == "calculate_input" and param in ("const", "img_to_img"): return x.dtype
    if name == "calculate_denoised" and param in ("x0", "img_to_img"): return x.dtype  # the model output itself
    return (x * s).dtype


@pytest.mark.parametrize("batch", [3, 1])
@pytest.mark.parametrize("dtype", HALF + [torch.float64])
@pytest.mark.parametrize("param", PARAMS)
def test_parameterizations_answer_in_the_references_dtype(param, dtype, batch, device):
    "A float32 [B] sigma promotes a half latent to float32; the 0-d sigma of a batch of one does not; float64 wins."
    ms = model_sampling("continuous_edm" if param != "const" else "discrete_flow", param, sigma_data=0.5) \
        if param != "const" else model_sampling("discrete_flow", param)
    sig = torch.tensor([0.01, 0.3, 0.9] if param == "const" else [0.01, 1.0, 4500.0], device=device)[:batch]
    x = torch.randn(batch, 4, 2, 2, device=device).to(dtype)
    out = torch.randn(batch, 4, 2, 2, device=device).to(dtype)
    for name, result, reference in (
        ("calculate_input", ms.calculate_input(sig, x), ms.calculate_input(sig.double(), x.double())),
        ("calculate_denoised", ms.calculate_denoised(sig, out, x), ms.calculate_denoised(sig.double(), out.double(), x.double())),
        ("noise_scaling", ms.noise_scaling(sig, out, x), ms.noise_scaling(sig.double(), out.double(), x.double())),
        ("inverse_noise_scaling", ms.inverse_noise_scaling(sig, x), ms.inverse_noise_scaling(sig.double(), x.double())),
    ):
        wanted = reference_dtype(name, param, sig, x)
        assert result.dtype == wanted, name
        assert result.device.type == device.type, name
        assert torch.isfinite(result).all(), f"{name} overflowed in {dtype}"
        if wanted in HALF: close_to_float64(result, reference, wanted)   # computed wider, rounded once
        else:   # float32 or float64 arithmetic: within float32 rounding, cancellation included (c_skip x + c_out F)
            torch.testing.assert_close(result.double(), reference.double(), rtol=1e-5, atol=1e-6 * reference.abs().max().item())


def test_zsnr_sigma_squared_does_not_overflow_half(device):
    "4519 squared is 2e7, far past float16's 65504: the arithmetic must not happen in float16."
    ms = model_sampling("discrete", "v_prediction", zsnr=True).to(device)
    for sig in (ms.sigmas[-1:].expand(2), ms.sigmas[-1:]):   # a batch of sigmas (float32 answer), a single one (float16)
        x = torch.randn(len(sig), 4, device=device, dtype=torch.float16)
        wanted = torch.float32 if len(sig) > 1 else torch.float16
        for result in (ms.calculate_input(sig, x), ms.calculate_denoised(sig, x, x), ms.noise_scaling(sig, x, x, max_denoise=True)):
            assert result.dtype == wanted and torch.isfinite(result).all()


# --- buffers keep their dtype and move with the module ---

CASTS = {
    "half": lambda m: m.half(), "bfloat16": lambda m: m.bfloat16(), "double": lambda m: m.double(),
    "to-float16": lambda m: m.to(torch.float16), "to-dtype-kw": lambda m: m.to(dtype=torch.bfloat16),
    "type": lambda m: m.type(torch.float16), "float": lambda m: m.float(),
}


def all_tensors(module):
    "Every tensor a model sampling holds: buffers (persistent or not), parameters, and plain tensor attributes."
    seen = dict(module.named_buffers())
    seen.update(module.named_parameters())
    for m_name, m in module.named_modules():
        for k, v in vars(m).items():
            if isinstance(v, torch.Tensor):
                seen[f"{m_name}.{k}" if m_name else k] = v
    return seen


@pytest.mark.parametrize("cast", list(CASTS))
@pytest.mark.parametrize("family", FAMILIES)
def test_casts_never_downcast_the_buffers(family, cast, device):
    ms = model_sampling(family, **HUGE.get(family, {})).to(device)
    before = {k: v.clone() for k, v in ms.named_buffers()}
    CASTS[cast](ms)
    for name, value in ms.named_buffers():
        assert value.dtype == before[name].dtype == torch.float32 or not value.is_floating_point(), name
        assert torch.equal(value, before[name]), name
    assert torch.isfinite(ms.sigmas).all()
    x = torch.rand(3, device=device).to(torch.float16)
    assert ms.sigma(ms.timestep(x).float() if family in INDEX_TIME else ms.timestep(x)).device.type == device.type


class Holder(torch.nn.Module):
    "A network holding its model sampling as a submodule, as a diffusion model does."
    def __init__(self, ms):
        super().__init__()
        self.net = torch.nn.Linear(4, 4)
        self.model_sampling = ms


@pytest.mark.parametrize("cast", ["half", "bfloat16", "to-float16", "double"])
@pytest.mark.parametrize("family", FAMILIES)
def test_casting_the_owner_keeps_the_model_samplings_buffers(family, cast, device):
    holder = Holder(model_sampling(family, **HUGE.get(family, {}))).to(device)
    CASTS[cast](holder)
    wanted = {"half": torch.float16, "bfloat16": torch.bfloat16, "to-float16": torch.float16, "double": torch.float64}[cast]
    assert holder.net.weight.dtype == wanted                      # the network is cast ...
    for name, value in holder.model_sampling.named_buffers():      # ... its schedule is not
        assert value.dtype == torch.float32, name
    assert torch.isfinite(holder.model_sampling.sigmas).all()


def test_denoiser_cast_keeps_the_schedule(device):
    from sched_nb.samplers import Denoiser
    d = Denoiser(torch.nn.Linear(4, 4), model_sampling("discrete", "v_prediction", zsnr=True)).to(device).half()
    assert d.net.weight.dtype == torch.float16 and d.model_sampling.sigmas.dtype == torch.float32
    x = torch.randn(2, 4, device=device, dtype=torch.float16)
    sigma = d.model_sampling.sigmas[[-1, 0]]
    out = Denoiser(lambda x_in, t: x_in, d.model_sampling)(x, sigma)   # an identity network: the wrapper's arithmetic
    assert out.dtype == torch.float32 and torch.isfinite(out).all()     # a float32 [B] sigma promotes, as in the reference


@pytest.mark.parametrize("family", FAMILIES)
def test_to_device_moves_everything(family, device):
    ms = model_sampling(family, "v_prediction").to(device)
    for name, value in all_tensors(ms).items():
        assert value.device.type == device.type, name
    back = ms.to("cpu")
    for name, value in all_tensors(back).items():
        assert value.device.type == "cpu", name


@pytest.mark.parametrize("family", FAMILIES)
def test_results_come_back_on_the_inputs_device(family, device):
    "On the module's device, and for an input on another device than the module (CPU module, `device` input)."
    for where in (device, torch.device("cpu")):
        ms = model_sampling(family).to(where)
        sig = inside(ms).to(device)
        assert ms.timestep(sig).device.type == device.type
        assert ms.sigma(ms.timestep(sig).float()).device.type == device.type
        x = torch.randn(len(sig), 3, device=device)
        assert ms.calculate_denoised(sig, x, x).device.type == device.type
    assert model_sampling(family).sigma(0.5).device.type == "cpu"   # a Python number answers on the CPU


# --- state_dict and pickle ---

def assert_same_model_sampling(a, b, device):
    assert type(a) is type(b)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.equal(sa[k].cpu(), sb[k].cpu()), k
    for k in ("shift", "multiplier", "sigma_data", "num_timesteps", "skip_steps", "zsnr", "beta_schedule", "original_timesteps"):
        assert getattr(a, k, None) == getattr(b, k, None), k
    sig = inside(a).to(device)
    assert torch.equal(a.timestep(sig), b.timestep(sig))
    t = a.timestep(sig).float()
    assert torch.equal(a.sigma(t), b.sigma(t))
    assert a.percent_to_sigma(0.37) == b.percent_to_sigma(0.37)
    if hasattr(a, "calculate_denoised"):
        x = torch.randn(len(sig), 3, device=device)
        assert torch.equal(a.calculate_denoised(sig, x, x), b.calculate_denoised(sig, x, x))


SETTINGS = {"discrete": {"zsnr": True}, "discrete_distilled": {"original_timesteps": 25}, "discrete_edm": {"beta_schedule": "cosine"},
            "continuous_edm": {"sigma_max": 80.0, "sigma_data": 0.5}, "continuous_v": {"sigma_min": 0.03},
            "stable_cascade": {"shift": 2.0}, "discrete_flow": {"shift": 3.0}, "flux": {"shift": 0.5},
            "cosmos_rflow": {"sigma_max": 80.0}}


@pytest.mark.parametrize("family", FAMILIES)
def test_state_dict_round_trip_through_bytes(family, device):
    ms = model_sampling(family, "v_prediction", **SETTINGS[family]).to(device)
    buf = io.BytesIO()
    torch.save(ms.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True, map_location=device)
    fresh = model_sampling(family, "v_prediction", **SETTINGS[family]).to(device)
    fresh.load_state_dict(state)   # strict
    assert_same_model_sampling(ms, fresh, device)


@pytest.mark.parametrize("family", FAMILIES)
def test_pickle_round_trip_is_exact(family, device):
    for param in (None, "v_prediction"):
        ms = model_sampling(family, param, **SETTINGS[family]).to(device)
        back = pickle.loads(pickle.dumps(ms))
        assert_same_model_sampling(ms, back, device)
        assert back.sigmas.device.type == device.type
        assert_same_model_sampling(ms, copy.deepcopy(ms), device)
        buf = io.BytesIO()
        torch.save(ms, buf)
        buf.seek(0)
        assert_same_model_sampling(ms, torch.load(buf, weights_only=False), device)


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_classes_pickle_too(family, device):
    from sched_nb.compose import SCHEDULES
    ms = SCHEDULES[family](SETTINGS[family] if family != "discrete" else None).to(device)
    assert_same_model_sampling(ms, pickle.loads(pickle.dumps(ms)), device)


# --- torch.compile ---

@pytest.fixture
def fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


@pytest.mark.parametrize("family", FAMILIES)
def test_compile_conversions_fullgraph(family, device, fresh_dynamo):
    ms = model_sampling(family).to(device)
    sig = inside(ms)
    t = ms.timestep(sig)
    for fn, arg in ((ms.timestep, sig), (ms.sigma, t.float())):
        compiled = torch.compile(fn, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(arg), fn(arg), rtol=0, atol=0)
        torch.testing.assert_close(compiled(arg.double()), fn(arg.double()), rtol=0, atol=0)


@pytest.mark.parametrize("param", PARAMS + ["lcm"])
def test_compile_parameterizations_fullgraph(param, device, fresh_dynamo):
    ms = model_sampling("discrete_distilled" if param == "lcm" else "discrete_flow" if param == "const" else "discrete", param).to(device)
    sig = inside(ms, 3)
    x = torch.randn(3, 4, 2, 2, device=device)
    out = torch.randn(3, 4, 2, 2, device=device)
    calls = [(ms.calculate_input, (sig, x)), (ms.calculate_denoised, (sig, out, x)),
             (ms.noise_scaling, (sig, out, x)), (ms.inverse_noise_scaling, (sig, x))]
    for fn, args in calls:
        compiled = torch.compile(fn, backend="eager", fullgraph=True)
        torch.testing.assert_close(compiled(*args), fn(*args))


@pytest.mark.parametrize("family", ["discrete", "continuous_v", "flux"])
def test_compile_with_aot_autograd(family, device, fresh_dynamo):
    "Beyond tracing: AOTAutograd's functionalised graph of the conversions and a denoising step."
    ms = model_sampling(family).to(device)
    sig = inside(ms, 4)
    x = torch.randn(4, 3, device=device)

    def step(sigma, x):
        return ms.calculate_denoised(sigma, x * 0.5, ms.calculate_input(sigma, x)), ms.sigma(ms.timestep(sigma).float())

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    for got, want in zip(compiled(sig, x), step(sig, x)):
        torch.testing.assert_close(got, want)


# --- CUDA: no host synchronisation ---

@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("param", ["eps", "v_prediction", "const"])
def test_no_synchronisation_on_cuda(family, param, device):
    if device.type != "cuda":
        pytest.skip("synchronisation is a CUDA matter")
    ms = model_sampling("discrete_distilled" if param == "lcm" else family, param).to(device)
    sig = inside(ms, 8)
    x = torch.randn(8, 4, device=device)
    ms.timestep(sig); ms.sigma(sig); ms.calculate_denoised(sig, x, x)   # warm up lazy initialisation
    torch.cuda.set_sync_debug_mode("error")
    try:
        t = ms.timestep(sig)
        ms.sigma(t.float())
        ms.calculate_input(sig, x)
        ms.calculate_denoised(sig, x, x)
        ms.noise_scaling(sig, x, x)
        ms.inverse_noise_scaling(sig, x)
    finally:
        torch.cuda.set_sync_debug_mode("default")
