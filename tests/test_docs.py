"""tools/build_docs.py: every page has the navigation, every plot of its notebook, its own scripts and stylesheets (nothing
from the network), readable signatures and parameter tables, and no live-widget leftovers."""
import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from docs_site import built_site, load_build_docs

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site():
    return built_site()  # the whole site, every notebook; built once for this file and the browser tests


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
        assert re.findall(r'<a (?:class="current" href="([^"]+)"|href="([^"]+)" class="?current"?)>', nav) in (
            [(f"{name}.html", "")], [("", f"{name}.html")]), f"{name}: the current page is not marked"
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
    assert 'type="application/vnd.jupyter.widget' not in html  # no widget view or state left in the page
    assert "class DiscreteExplorer" not in html and "DiscreteExplorer" in html  # exported code shown as show_doc
    assert "<h1 class=\"title\">Widgets</h1>" in html


def live_widget_outputs(nb_path):
    "How many live widgets the notebook's saved outputs display."
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code"
               for o in c.get("outputs", []) if "application/vnd.jupyter.widget-view+json" in o.get("data", {}))


def test_live_widgets_are_replaced_by_a_note(site):
    "Each live widget a notebook displays becomes its static picture and a note; pages without one get no note."
    shown = [p for p in NOTEBOOKS if live_widget_outputs(p)]
    assert shown, "no notebook displays a live widget: nothing exercises the replacement"
    for nb_path in NOTEBOOKS:
        html = (site / f"{nb_path.stem}.html").read_text(encoding="utf-8")
        assert 'type="application/vnd.jupyter.widget' not in html, nb_path.stem
        assert html.count('class="sched-nb-live"') == live_widget_outputs(nb_path), nb_path.stem


def test_unknown_notebook_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="no notebook nbs/99_nothing.ipynb"):
        load_build_docs().main(["--out", str(tmp_path), "99_nothing"])


def test_links_to_the_api_stay_on_the_site(site):
    "nbdev links names in backticks to the hosted docs; the built site points them at its own pages."
    html = (site / "07_compose.html").read_text(encoding="utf-8")
    assert "sched-nb.github.io" not in html
    linked = set(re.findall(r'href="(\d\d_\w+\.html)#', html))
    assert "03_discrete.html" in linked and linked <= {f"{p.stem}.html" for p in NOTEBOOKS}


def page_html(site, name): return (site / f"{name}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_resource_is_served_by_the_site(site, nb_path):
    "Scripts, stylesheets and images come from the site itself (or are inline data): nothing is fetched from a CDN."
    html = page_html(site, nb_path.stem)
    refs = re.findall(r'<(?:script|img|link|iframe|source)\b[^>]*?\b(?:src|href)="([^"]*)"', html)
    assert refs, "the page loads nothing?"
    outside = [r for r in refs if re.match(r"(?:[a-z]+:)?//", r) and not r.startswith("data:")]
    assert outside == [], f"{nb_path.stem} loads {outside[:3]}"
    for r in refs:
        if r.startswith("data:"): continue
        assert (site / r.split("?")[0].split("#")[0]).is_file(), f"{nb_path.stem} refers to {r}, which the site lacks"
    assert "require.js" not in html and "cdnjs" not in html and "font-awesome" not in html.lower()
    assert 'src="static/mathjax/MathJax.js?config=' in html


def test_mathjax_is_copied_from_the_installed_package(site):
    mathjax = site / "static" / "mathjax"
    assert (mathjax / "MathJax.js").stat().st_size > 10_000
    config = load_build_docs().MATHJAX_CONFIG
    assert (mathjax / "config" / f"{config}.js").is_file()
    assert list((mathjax / "fonts" / "HTML-CSS" / "STIX-Web" / "woff").glob("*.woff")), "the web fonts MathJax asks for"


def test_signatures_read_as_python_and_docments_are_a_table(site):
    html = page_html(site, "03_discrete")
    assert "NoneType" not in html
    sig = re.search(r'<pre class="sig"><code><b>ModelSamplingDiscrete</b>(.*?)</code></pre>', html, re.S).group(1)
    assert sig.replace("\n", "").replace(" ", "") == "(model_config=None,zsnr:bool|None=None)"
    plots = page_html(site, "18_plots")
    table = re.search(r'<h3 id="plot_sigma">.*?<table class="params">(.*?)</table>', plots, re.S).group(1)
    rows = re.findall(r"<tr><td><code>(.*?)</code></td>", table)
    assert rows == ["ms", "ax", "label", "logy", "**kwargs"]
    assert "legend label" in table and "<code>str | None</code>" in table  # a docment, and the type as written


def test_titles_and_subtitles_render_their_markdown(site):
    html = page_html(site, "03_discrete")
    desc = re.search(r'<p class="description">(.*?)</p>', html, re.S).group(1)
    assert "`" not in desc and "<code>ModelSamplingDiscrete</code>" in desc
    cli = page_html(site, "20_cli")
    assert "`" not in re.search(r'<h1 class="title">(.*?)</h1>', cli).group(1)
    assert "<title>The sched_nb command - sched_nb</title>" in cli
    assert re.search(r'<a class="current" href="20_cli.html">The sched_nb command</a>', cli)


def test_anchors_of_links_between_pages_exist(site):
    ids = {p.stem: set(re.findall(r'\bid="([^"]+)"', page_html(site, p.stem))) for p in NOTEBOOKS}
    broken = []
    for p in NOTEBOOKS:
        for page, anchor in re.findall(r'href="(\w+)\.html#([^"]+)"', page_html(site, p.stem)):
            if page in ids and anchor not in ids[page]: broken.append(f"{p.stem} -> {page}#{anchor}")
    assert broken == []


def test_captions_come_from_fig_cap_or_the_opening_comment():
    split = load_build_docs().split_caption
    assert split("# Left: sigma, $t/(T-1)$\n# right: percent\nplt.plot()", {}) == ("Left: sigma, $t/(T-1)$ right: percent", "plt.plot()")
    assert split("plt.plot()  # a comment", {}) == (None, "plt.plot()  # a comment")
    assert split("plt.plot()", {"fig-cap": '"the schedule"'}) == ("the schedule", "plt.plot()")
    assert split("# only a comment", {}) == (None, "# only a comment")


def test_narrow_screens_get_a_contents_toggle(site):
    html = page_html(site, "index")
    assert 'class="toggle-box"' in html and 'class="toggle"' in html
    css = (site / "static" / "sched_nb.css").read_text()
    assert re.search(r"@media \(max-width: 800px\).*\.sched-nb-page \{ margin-left: 0", css, re.S)


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_saved_small_and_without_widget_state(nb_path):
    "Executing a notebook saves its widgets' state in the notebook's metadata: tens of KB that nothing reads."
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    assert "widgets" not in nb.get("metadata", {}), f"{nb_path.name} carries saved widget state: strip metadata.widgets"
    assert nb_path.stat().st_size < 300_000, f"{nb_path.name} is {nb_path.stat().st_size:,} bytes"
