"""One build of the docs site per test run, shared by tests/test_docs.py and the browser tests."""
import atexit
import importlib.util
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_build_docs():
    "tools/build_docs.py as a module."
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=1)
def built_site() -> Path:
    "The whole site (every notebook of nbs/), built once into a temporary folder removed at exit."
    out = Path(tempfile.mkdtemp(prefix="sched_nb_docs_"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    load_build_docs().main(["--out", str(out)])
    return out
