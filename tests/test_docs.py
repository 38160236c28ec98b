"""tools/build_docs.py: every page has the navigation, every plot of its notebook, and no live-widget leftovers."""
import base64
import importlib.util
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))


def load_build_docs():
    spec = importlib.util.spec_from_file_location("build_docs", ROOT / "tools" / "build_docs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("docs")
    load_build_docs().main(["--out", str(out)])  # the whole site: every notebook
    return out


def image_outputs(nb_path):
    "How many plots the notebook's saved outputs hold (widget views excepted)."
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code" and not "".join(c["source"]).lstrip().startswith("#| hide")
               for o in c.get("outputs", []) if "image/png" in o.get("data", {}))


def test_every_page_is_written_with_navigation_to_every_notebook(site):
    names = [p.stem for p in NOTEBOOKS]
    for name in names:
        html = (site / f"{name}.html").read_text(encoding="utf-8")
        nav = re.search(r'<nav class="sched-nb-nav">(.*?)</nav>', html, re.S).group(1)
        links = re.findall(r'href="([^"]+)"', nav)
        assert set(f"{n}.html" for n in names) <= set(links), f"{name}: navigation misses pages"
        assert f'<a href="{name}.html" class=current>' in nav
        assert "sched-nb-prevnext" in html


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_plot_is_embedded(site, nb_path):
    html = (site / f"{nb_path.stem}.html").read_text(encoding="utf-8")
    data = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    assert len(data) == image_outputs(nb_path)
    for d in data:
        w, h = Image.open(io.BytesIO(base64.b64decode(d))).size
        assert w > 100 and h > 100


def test_markdown_images_are_copied(site):
    assert 'src="images/atlas.png"' in (site / "18_plots.html").read_text(encoding="utf-8")
    assert Image.open(site / "images" / "atlas.png").size[0] >= 800


def test_processing_hides_what_nbdev_hides(site):
    html = (site / "19_widgets.html").read_text(encoding="utf-8")
    assert "nbdev_export()" not in html  # the #| hide cell
    assert "#| export" not in html and "#| echo" not in html
    assert "application/vnd.jupyter.widget" not in html
    assert "sched-nb-live" in html  # the live widget is replaced by a note under its static picture
    assert "class DiscreteExplorer" not in html and "DiscreteExplorer" in html  # exported code shown as show_doc
    assert "<h1 class=\"title\">Widgets</h1>" in html


def test_unknown_notebook_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no notebook nbs/99_nothing.ipynb"):
        load_build_docs().main(["--out", str(tmp_path), "99_nothing"])


def test_links_to_the_api_stay_on_the_site(site):
    "nbdev links names in backticks to the hosted docs; the built site points them at its own pages."
    html = (site / "07_compose.html").read_text(encoding="utf-8")
    assert "sched-nb.github.io" not in html
    linked = set(re.findall(r'href="(\d\d_\w+\.html)#', html))
    assert "03_discrete.html" in linked and linked <= {f"{p.stem}.html" for p in NOTEBOOKS}
