import pytest
import torch

from helpers import load_golden


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (needs chromium and playwright)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    # diffusers' schedulers pass tensors to np.array, which NumPy 2 warns about on every call: a hundred thousand lines
    config.addinivalue_line("filterwarnings", r"ignore:__array_wrap__ must accept context:DeprecationWarning")
    config.addinivalue_line("filterwarnings", r"ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    "Each device the tests can run on: the CPU, and CUDA when it is available."
    return torch.device(request.param)


@pytest.fixture(scope="session")
def golden():
    "The reference implementation's expected values (tests/data/golden_public.json.gz)."
    return load_golden()
