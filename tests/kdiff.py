"""k-diffusion's `sampling` module, the independent oracle the sampler tests compare with.

k-diffusion 0.1.1.post1 is installed with `pip install --no-deps k-diffusion==0.1.1.post1` (its declared
requirements would pull torchvision and another torch). Its package `__init__` and its `utils` module import
torchvision, PIL and training code; `sampling.py` needs only `utils.append_dims` from them. So this loads
`sampling.py` straight from the installed package, under a private package name, with a small stand-in for
`utils`. When k-diffusion is missing, `load()` fails with the command that installs it: the tests that
compare with it fail, they never skip.
"""
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

VERSION = "0.1.1.post1"
INSTALL = f"pip install --no-deps k-diffusion=={VERSION}"
_NAME = "_kdiffusion_oracle"


def _append_dims(x, target_dims):
    "k-diffusion's utils.append_dims: trailing singleton dimensions up to `target_dims`."
    dims = target_dims - x.ndim
    if dims < 0: raise ValueError(f"input has {x.ndim} dims but target_dims is {target_dims}, which is less")
    return x[(...,) + (None,) * dims]


def load():
    "k-diffusion's sampling module (loaded once), or a RuntimeError saying how to install k-diffusion."
    if f"{_NAME}.sampling" in sys.modules: return sys.modules[f"{_NAME}.sampling"]
    try:
        version = importlib.metadata.version("k-diffusion")
        spec = importlib.util.find_spec("k_diffusion")   # finds the package without running its __init__
    except importlib.metadata.PackageNotFoundError:
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"k-diffusion is not installed; the sampler parity tests need it: {INSTALL}")
    if version != VERSION:
        raise RuntimeError(f"k-diffusion {version} is installed, the parity tests are written for {VERSION}: {INSTALL}")
    path = Path(next(iter(spec.submodule_search_locations))) / "sampling.py"
    package = types.ModuleType(_NAME)
    package.__path__ = []
    utils = types.ModuleType(f"{_NAME}.utils")
    utils.append_dims = _append_dims
    sys.modules[_NAME], sys.modules[f"{_NAME}.utils"] = package, utils
    package.utils = utils
    spec = importlib.util.spec_from_file_location(f"{_NAME}.sampling", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as e:
        raise RuntimeError(f"k-diffusion's sampling module needs {e.name} (scipy, torchdiffeq, torchsde and tqdm "
                           f"are in the dev requirements): {e}") from e
    sys.modules[f"{_NAME}.sampling"] = module
    package.sampling = module
    return module
