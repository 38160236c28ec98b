"""The `sched_nb` command: the atlas (figure and table) and the Voila explorer server."""
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from sched_nb.cli import atlas_table, explorer_notebook, free_port, main, voila_command
from sched_nb.compose import model_sampling
from sched_nb.plots import ATLAS, atlas_models

ROOT = Path(__file__).resolve().parents[1]


def sched_nb_command():
    "The installed console script, or the module run by this Python when the script is not on PATH."
    exe = shutil.which("sched_nb")
    return [exe] if exe else [sys.executable, "-c", "import sys; from sched_nb.cli import main; sys.exit(main())"]


def parse_table(text):
    rows = {}
    for line in text.splitlines()[2:]:
        if line.startswith("wrote "): break
        label = line[:line.index("ModelSampling") if "ModelSampling" in line else line.index("StableCascade")].strip()
        rows[label] = [float(v) for v in line.split()[-3:]]
    return rows


def test_atlas_command_writes_a_large_figure_and_prints_the_table(tmp_path):
    out = tmp_path / "sub" / "atlas.png"
    r = subprocess.run(sched_nb_command() + ["atlas", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    w, h = Image.open(out).size
    assert w >= 800 and h >= 500
    colours = Image.open(out).convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 50, "the figure is not blank"
    rows = parse_table(r.stdout)
    assert list(rows) == list(ATLAS)
    for label, (name, settings, _) in ATLAS.items():
        ms = model_sampling(name, **settings)
        lo, hi = ms.sigmas[0].item(), ms.sigmas[-1].item()
        flow = name in ("discrete_flow", "flux")
        assert rows[label][0] == pytest.approx(lo, rel=1e-3) and rows[label][1] == pytest.approx(hi, rel=1e-3)
        assert rows[label][2] == (0.0 if flow else pytest.approx(1 / hi ** 2, rel=1e-3))
    # the published numbers: SD 1.x ends at sigma 14.61, continuous EDM spans 0.002 .. 120
    assert rows["discrete"][1] == pytest.approx(14.6146, rel=1e-3)
    assert rows["continuous_edm"][:2] == [pytest.approx(0.002), pytest.approx(120.0)]
    assert f"wrote {out}" in r.stdout


def test_main_arguments(tmp_path, capsys):
    assert main(["atlas", "--out", str(tmp_path / "a.png"), "--dpi", "70"]) == 0
    assert Image.open(tmp_path / "a.png").size == (840, 385)
    assert main([]) == 2
    with pytest.raises(SystemExit) as e: main(["atlas", "--dpi", "x"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e: main(["explore", "--port", "no"])
    assert e.value.code == 2


def test_atlas_table_columns():
    text = atlas_table({"flux": atlas_models()["flux"]})
    head, rule, row = text.splitlines()
    assert head.split() == ["family", "class", "sigma_min", "sigma_max", "terminal", "SNR"]
    assert row.split()[:2] == ["flux", "ModelSamplingFlux_CONST"] and row.split()[-1] == "0"


def test_the_committed_atlas_image():
    w, h = Image.open(ROOT / "nbs" / "images" / "atlas.png").size
    assert w >= 800 and h >= 500


def test_voila_command_listens_on_localhost_only():
    cmd = voila_command(8123)
    # kernels of closed pages are culled within a minute; JupyterLab-only extensions stay out of the page
    idle = int(next(c for c in cmd if c.startswith("--MappingKernelManager.cull_idle_timeout=")).split("=")[1])
    every = int(next(c for c in cmd if c.startswith("--MappingKernelManager.cull_interval=")).split("=")[1])
    assert idle + every <= 60 and "--MappingKernelManager.cull_connected=False" in cmd
    assert "--VoilaConfiguration.extension_denylist=jupyterlab-jupytext" in cmd and "--template=sched_nb" in cmd
    assert cmd[:3] == [sys.executable, "-m", "voila"] and cmd[3] == str(explorer_notebook())
    assert "--Voila.ip=127.0.0.1" in cmd and "--port=8123" in cmd and "--no-browser" in cmd
    assert 1024 <= free_port() < 65536


def test_explorer_notebook_ships_in_the_wheel(tmp_path):
    src = tmp_path / "src"  # a copy, so the build leaves nothing in the working tree
    for name in ("setup.py", "settings.ini", "README.md"): (src / name).parent.mkdir(exist_ok=True); shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "sched_nb", src / "sched_nb", ignore=shutil.ignore_patterns("__pycache__"))
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(src)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("sched_nb-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "sched_nb/explorer.ipynb" in names and "sched_nb/cli.py" in names
    assert "sched_nb/share/voila/templates/sched_nb/index.html.j2" in names  # the Voila template the app is served with
    entry = [n for n in names if n.endswith("entry_points.txt")][0]
    assert "sched_nb = sched_nb.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


@pytest.mark.slow
def test_explore_serves_the_explorer_on_localhost():
    port = free_port()
    proc = subprocess.Popen(sched_nb_command() + ["explore", "--port", str(port), "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/" in first
        deadline, page = time.time() + 120, None
        while time.time() < deadline and page is None:
            assert proc.poll() is None, "the server stopped"
            try: page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60).read().decode()
            except OSError: time.sleep(0.5)
        assert page is not None and "voila" in page.lower()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try: proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL); proc.wait()


def test_explore_without_voila_says_how_to_get_it(monkeypatch, capsys):
    import sched_nb.cli as cli
    real = cli.importlib.util.find_spec
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name, *a: None if name == "voila" else real(name, *a))
    assert cli.main(["explore", "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert 'pip install "sched_nb[explore]"' in err  # an installed package
    assert 'pip install -e ".[explore]"' in err  # a clone of the repository


@pytest.mark.slow
def test_explore_refuses_a_port_in_use():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); s.listen()
        port = s.getsockname()[1]
        proc = subprocess.Popen(sched_nb_command() + ["explore", "--port", str(port), "--no-browser"], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try: out, _ = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert proc.returncode != 0
    assert f"http://127.0.0.1:{port}/" in out and "already in use" in out.lower()
