"""One build of the docs site per test run, shared by tests/test_docs.py and the browser tests; the browser tests start it
in the background while their JupyterLab test runs."""
import atexit
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BUILD = {}  # the one build of this run: its folder, log and process


def load_build_docs():
    "tools/build_docs.py as a module."
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def start_build():
    "Start building the whole site (every notebook of nbs/) into a temporary folder, in another process; once per run."
    if _BUILD: return
    out = Path(tempfile.mkdtemp(prefix="sched_nb_docs_"))
    log = out.with_suffix(".log")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    atexit.register(log.unlink, missing_ok=True)
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "build_docs.py"), "--out", str(out)], stdout=f,
                                stderr=subprocess.STDOUT)
    atexit.register(lambda: proc.poll() is None and proc.kill())  # a run that stops early leaves no build behind
    _BUILD.update(out=out, log=log, proc=proc)


@lru_cache(maxsize=1)
def built_site() -> Path:
    "The whole site, built once (started here if nothing started it yet); removed at exit."
    start_build()
    if _BUILD["proc"].wait() != 0:
        raise RuntimeError("building the docs failed:\n" + _BUILD["log"].read_text(errors="replace")[-3000:])
    return _BUILD["out"]
