import pytest
import torch

from helpers import load_golden


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (needs chromium and playwright)")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    "Each device the tests can run on: the CPU, and CUDA when it is available."
    return torch.device(request.param)


@pytest.fixture(scope="session")
def golden():
    "The reference implementation's expected values (tests/data/golden_public.json.gz)."
    return load_golden()
