"""Build the static HTML docs site from the notebooks: nbdev's notebook processing, then nbconvert's HTML exporter.

    python tools/build_docs.py                      # every notebook of nbs/ into _docs/
    python tools/build_docs.py --out site           # another folder
    python tools/build_docs.py 18_plots 19_widgets  # only these pages (the navigation still lists them all)
    python tools/build_docs.py --jobs 1             # one page at a time (default: one per CPU)

Each notebook becomes one page NAME.html (index.ipynb becomes index.html), with a sidebar listing every
notebook and previous/next links. The pages show the notebooks' saved outputs, so every plot is there as an
embedded image; exported code is shown as its signature, docstring and a table of its documented parameters
(nbdev's `show_doc`, rendered here), hidden cells are left out, and a live widget (which needs a running
kernel) is replaced by a note under its static picture.

The site needs no network: the formulas are typeset by MathJax 2.7 from the `jupyter-server-mathjax` package
(a development requirement), copied into `static/mathjax/`; stylesheets are files in `static/`; no other
script, stylesheet or font is loaded. Open `_docs/index.html` in a browser, or serve the folder:
`python -m http.server -d _docs`.
"""
import argparse
import hashlib
import html
import inspect
import json
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<p class=\"sched-nb-live\"><em>A live explorer is displayed here when the notebook runs in Jupyter; "
               "the picture above is its starting state. Run <code>sched_nb explore</code> for all explorers as a web app.</em></p>")
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"
# MathML variants whose MathJax styles name TeX web fonts (not in the package): drawn with the browser's fonts instead
MATHML_FONTS = ", ".join(f"'[{sel}]': {{\"font-family\": \"serif\"}}" for sel in (
    'class="MJX-tex-oldstyle"', 'class="MJX-tex-oldstyle-bold"', 'class="MJX-tex-caligraphic"', 'class="MJX-tex-caligraphic-bold"',
    'mathvariant="double-struck"', 'mathvariant="script"', 'mathvariant="fraktur"', 'mathvariant="bold-script"',
    'mathvariant="bold-fraktur"'))

CSS = """
body, body.jp-Notebook { margin: 0; padding: 0; }
.sched-nb-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 230px; overflow-y: auto; padding: 16px 12px;
  box-sizing: border-box; background: #f6f7f9; border-right: 1px solid #dde; font: 14px/1.4 system-ui, sans-serif; z-index: 10; }
.sched-nb-nav a { display: block; padding: 4px 6px; color: #234; text-decoration: none; border-radius: 4px; }
.sched-nb-nav a:hover { background: #e6e9ef; }
.sched-nb-nav a.current { background: #dbe4f3; font-weight: 600; }
.sched-nb-nav .site { font-weight: 700; font-size: 16px; margin-bottom: 10px; }
.sched-nb-nav .toggle, .sched-nb-nav .toggle-box { display: none; }
.sched-nb-page { margin-left: 230px; padding: 8px 24px 40px; max-width: 1100px; box-sizing: border-box; }
.sched-nb-page h1.title { margin-bottom: 4px; }
.sched-nb-page .description { font-size: 17px; color: #444; margin-top: 0; }
.sched-nb-prevnext { display: flex; justify-content: space-between; gap: 16px; margin-top: 32px; font: 14px system-ui, sans-serif; }
.sched-nb-page img { max-width: 100%; height: auto; }
/* fenced code in Markdown gets the same box as a code cell */
.jp-RenderedMarkdown pre, .jp-RenderedHTMLCommon .sched-nb-doc pre { background: var(--jp-cell-editor-background, #f7f7f7);
  border: 1px solid var(--jp-cell-editor-border-color, #e0e0e0); border-radius: 3px; padding: 6px 10px; overflow-x: auto; }
.jp-RenderedMarkdown pre code { background: none; padding: 0; }
/* tables wrap their text instead of pushing the page wider */
.jp-RenderedHTMLCommon table { table-layout: auto; max-width: 100%; }
.jp-RenderedHTMLCommon td, .jp-RenderedHTMLCommon th { white-space: normal; overflow-wrap: break-word; max-width: none; }
.jp-RenderedHTMLCommon td code { white-space: normal; }
.jp-OutputArea-output pre, .jp-RenderedText pre { overflow-x: auto; }
/* show_doc */
.sched-nb-doc { border-top: 1px solid #ccd; margin-top: 18px; padding-top: 4px; }
.sched-nb-doc h3 { margin-bottom: 6px; }
.sched-nb-doc .source { float: right; font-size: 13px; font-weight: normal; }
.sched-nb-doc pre.sig { font-size: 13px; white-space: pre-wrap; }
.sched-nb-doc pre.sig b { color: #1a4f8b; }
.sched-nb-doc .doc { font-style: italic; }
.sched-nb-doc table.params { font-size: 13px; margin: 6px 0 10px; }
.sched-nb-doc table.params th, .sched-nb-doc table.params td { text-align: left; vertical-align: top; padding: 3px 8px; }
.sched-nb-caption { font-size: 14px; color: #444; margin: -4px 0 10px 8px; }
.sched-nb-caption p { margin: 0; }
@media (max-width: 800px) {
  .sched-nb-nav { position: static; width: auto; border-right: none; border-bottom: 1px solid #dde; padding: 8px 12px; }
  .sched-nb-nav .site { display: inline-block; margin: 0 12px 0 0; }
  .sched-nb-nav .toggle { display: inline-block; cursor: pointer; padding: 2px 8px; border: 1px solid #bbc; border-radius: 4px; }
  .sched-nb-nav .links { display: none; margin-top: 8px; }
  .sched-nb-nav .toggle-box:checked ~ .links { display: block; }
  .sched-nb-page { margin-left: 0; padding: 8px 12px 32px; }
}
"""

TEMPLATE = r"""{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
  tex2jax: {inlineMath: [["$", "$"], ["\\(", "\\)"]], displayMath: [["$$", "$$"], ["\\[", "\\]"]],
            processEscapes: true, processEnvironments: true},
  "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null,
               linebreaks: {automatic: false},
               styles: {"@font-face": {"font-family": "MathJax_Blank", src: "local('MathJax_Blank')"}}},
  // the hidden MathML copy kept for screen readers would ask for MathJax's TeX web fonts, which are not shipped
  NativeMML: {styles: { {{ resources.sched_nb.mathml_fonts }} }},
  displayAlign: "center", messageStyle: "none", showMathMenu: false
});
MathJax.Hub.Queue(function () { document.documentElement.setAttribute("data-mathjax", "done"); });
</script>
<script src="static/mathjax/MathJax.js?config={{ resources.sched_nb.mathjax_config }}"></script>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}<link rel="stylesheet" href="static/sched_nb.css">{%- endblock html_head_css -%}
{#- the code is the notebooks' own, highlighted by pygments: no need to sanitize it (bleach took a third of the build) -#}
{% block input %}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
     <div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) }}
     </div>
</div>
{%- endblock input %}
{%- block body_header -%}
<body class="jp-Notebook" data-jp-theme-light="true" data-jp-theme-name="JupyterLab Light">
{{ resources.sched_nb.nav }}
<main class="sched-nb-page">
{{ resources.sched_nb.head }}
{%- endblock body_header -%}
{% block body_footer %}
{{ resources.sched_nb.prevnext }}
</main>
</body>
{% endblock body_footer %}
"""


def notebooks() -> list:
    "Every notebook of nbs/, index first, then by name."
    nbs = [p for p in sorted(NBS.glob("*.ipynb")) if not p.name.startswith(("_", "."))]
    return sorted(nbs, key=lambda p: (p.stem != "index", p.name))


def page_name(nb_path: Path) -> str:
    return nb_path.stem + ".html"


def title_of(nb_path: Path) -> str:
    "The notebook's `# Title` (its first level-1 heading), else its file name."
    for cell in json.loads(nb_path.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] == "markdown":
            m = re.search(r"^#\s+(.+)$", "".join(cell["source"]), re.M)
            if m: return m.group(1).strip()
    return nb_path.stem


def inline_markdown(text: str) -> str:
    "One line of Markdown as HTML: `code`, *emphasis* and **bold**; math ($...$) is left for MathJax."
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)


def plain(text: str) -> str:
    "A Markdown title as plain text (for the navigation and the browser tab)."
    return re.sub(r"[`*]", "", text).strip()


# ------------------------------------------------------------------------------------------------ show_doc

def markdown_html(text: str) -> str:
    "A docstring or docment (Markdown) as HTML, names in backticks linked to their docs as nbdev links them."
    from nbconvert.filters.markdown_mistune import markdown2html_mistune
    from nbdev.doclinks import NbdevLookup
    return markdown2html_mistune(NbdevLookup().linkify(text) or "").strip()


def _format_annotation(anno) -> str:
    return anno.strip("'\"") if isinstance(anno, str) else inspect.formatannotation(anno)


def _format_default(value) -> str:
    text = value.__name__ if inspect.isfunction(value) or inspect.isclass(value) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _signature(sym):
    "The signature of `sym` without `self`, or None where Python cannot give one."
    for kw in ({"eval_str": True}, {}):
        try: sig = inspect.signature(sym, **kw)
        except (TypeError, ValueError, NameError): continue
        params = list(sig.parameters.values())
        if params and params[0].name in ("self", "cls") and not inspect.isclass(sym): params = params[1:]
        return sig.replace(parameters=params)
    return None


def _param_text(p) -> str:
    "A parameter as written in Python: `name: type = default`, `name=default` without a type."
    star = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(p.kind, "")
    text = star + p.name
    if p.annotation is not inspect.Parameter.empty: text += ": " + _format_annotation(p.annotation)
    if p.default is not inspect.Parameter.empty:
        text += (" = " if p.annotation is not inspect.Parameter.empty else "=") + _format_default(p.default)
    return text


def _shown(sig) -> list:
    "The parameters a reader calls with: not the private ones (a leading underscore and a default), which are the package's own."
    return [p for p in sig.parameters.values() if not (p.name.startswith("_") and p.default is not inspect.Parameter.empty)]


class DocRenderer:
    "`show_doc` as HTML: the name, the signature as Python writes it, the docstring, and a table of the documented parameters."
    def __init__(self, sym, name=None, title_level=3, **_):
        sym = getattr(sym, "fget", None) or sym  # a property documents its getter
        if not hasattr(sym, "__signature__"): sym = getattr(sym, "__wrapped__", sym)
        self.sym, self.level = sym, title_level
        self.nm = name or getattr(sym, "__qualname__", None) or getattr(sym, "__name__", None) or repr(sym)

    def signature_html(self) -> str:
        sig = _signature(self.sym)
        name = f"<b>{html.escape(self.nm)}</b>"
        if sig is None: return name
        params = [_param_text(p) for p in _shown(sig)]
        ret = "" if sig.return_annotation is inspect.Signature.empty else " -> " + _format_annotation(sig.return_annotation)
        one_line = f"({', '.join(params)}){ret}"
        if len(self.nm) + len(one_line) <= 90: return name + html.escape(one_line)
        return name + html.escape("(\n" + "".join(f"    {p},\n" for p in params) + ")" + ret)

    def params_html(self) -> str:
        "The docments (a comment after each parameter) as a table: parameter, type, default, details."
        from fastcore.docments import docments
        try: dm = docments(self.sym, full=True)
        except Exception: return ""
        sig = _signature(self.sym)
        if sig is None or not any(v.get("docment") for k, v in dm.items() if k != "self"): return ""
        rows = []
        for p in _shown(sig):
            doc = (dm.get(p.name) or {}).get("docment") or ""
            star = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}.get(p.kind, "")
            anno = "" if p.annotation is inspect.Parameter.empty else _format_annotation(p.annotation)
            default = "" if p.default is inspect.Parameter.empty else _format_default(p.default)
            rows.append((star + p.name, anno, default, doc))
        ret = dm.get("return") or {}
        if ret.get("docment"):
            anno = "" if sig.return_annotation is inspect.Signature.empty else _format_annotation(sig.return_annotation)
            rows.append(("returns", anno, "", ret["docment"]))
        cell = lambda t: f"<code>{html.escape(t)}</code>" if t else ""
        body = "".join(f"<tr><td>{cell(n)}</td><td>{cell(a)}</td><td>{cell(d)}</td><td>{markdown_html(doc)}</td></tr>"
                       for n, a, d, doc in rows)
        return ('<table class="params"><thead><tr><th>parameter</th><th>type</th><th>default</th><th>details</th></tr></thead>'
                f"<tbody>{body}</tbody></table>")

    def _repr_html_(self) -> str:
        from nbdev.doclinks import NbdevLookup
        module, qual = getattr(self.sym, "__module__", None), getattr(self.sym, "__qualname__", self.nm)
        src = None
        for key in (qual, f"{module}.{qual}"):
            try: src = src or NbdevLookup().code(key)
            except Exception: pass
        if src and src.endswith("#LNone"): src = src[:-len("#LNone")]
        link = f'<a class="source" href="{html.escape(src)}">source</a>' if src else ""
        h = f"h{self.level}"
        doc = inspect.getdoc(self.sym) if not inspect.isclass(self.sym) or self.sym.__doc__ else None
        doc_html = f'<div class="doc">{markdown_html(doc)}</div>' if doc else ""
        return (f'<div class="sched-nb-doc"><{h} id="{html.escape(self.nm.lower())}">{link}{html.escape(self.nm)}</{h}>'
                f'<pre class="sig"><code>{self.signature_html()}</code></pre>{doc_html}{self.params_html()}</div>')

    def __repr__(self): return self.nm


# ------------------------------------------------------------------------------------------------ notebook processing

def docs_filter():
    "nbdev's docs processing, with a `show_doc` runner that leaves the saved outputs alone and renders with `DocRenderer`."
    import nbdev.showdoc
    from nbdev.processors import FilterDefaults, _do_eval, exec_show_docs
    nbdev.showdoc.BasicMarkdownRenderer = DocRenderer  # show_doc's default renderer, looked up when it runs

    class ShowDocs(exec_show_docs):
        "Run what `show_doc` needs; only `show_doc` cells get new outputs, and only their errors count."
        def __call__(self, cell):
            if not getattr(self.nb, "has_docs_", None) or not hasattr(self, "k") or not _do_eval(cell): return
            if "show_doc(" in cell.source: return super().__call__(cell)
            saved, imports = cell.get("outputs"), None if cell.directives_.keys() & {"export", "exports", "exporti"} else imports_of(cell.source)
            if imports is None: self.k.cell(cell)  # defines the names show_doc documents; a failure here is not the docs' concern
            else: self.k.run_cell(imports)       # a cell of examples that imports: its imports are all show_doc needs
            cell["outputs"], self.k.exc = saved, None

    class DocsFilter(FilterDefaults):
        def base_procs(self): return [ShowDocs if p is exec_show_docs else p for p in super().base_procs()]

    return DocsFilter()


def imports_of(source: str) -> str | None:
    "The import statements of a cell's code, on their own (None when it does not parse as Python)."
    import ast
    try: tree = ast.parse(source)
    except SyntaxError: return None
    return "\n".join(ast.get_source_segment(source, n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def as_nbformat(nb):
    "An execnb notebook as an nbformat node, its multi-line strings (lists of lines) joined as nbconvert expects."
    import nbformat
    for cell in nb.cells:
        if isinstance(cell.get("source"), list): cell["source"] = "".join(cell["source"])
        for o in cell.get("outputs", []):
            if isinstance(o.get("text"), list): o["text"] = "".join(o["text"])
            for k, v in o.get("data", {}).items():
                if isinstance(v, list): o["data"][k] = "".join(v)
    return nbformat.from_dict(dict(nb))


def split_caption(source: str, directives: dict) -> tuple:
    "`(caption or None, source)`: a figure's caption is its `#| fig-cap:` directive, else the comment lines that open the cell."
    if directives.get("fig-cap"): return directives["fig-cap"].strip("'\""), source
    lines = source.splitlines()
    n = next((i for i, l in enumerate(lines) if not l.startswith("#")), len(lines))
    if n == 0 or n == len(lines): return None, source
    return " ".join(l.lstrip("#").strip() for l in lines[:n]), "\n".join(lines[n:]).strip()


def processed(nb_path: Path):
    "The notebook after nbdev's processing for docs, as an nbformat node, with its front matter."
    import nbformat
    from execnb.nbio import read_nb
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    nb = read_nb(nb_path)
    cwd = os.getcwd()
    os.chdir(NBS)  # the notebook's own directory, as when it runs
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Found cells containing imports")
            docs_filter()(nb)
    finally: os.chdir(cwd)
    fm = getattr(nb, "frontmatter_", {}) or {}
    nb = as_nbformat(nb)
    nb.metadata.pop("widgets", None)
    cells = []
    for cell in nb.cells:
        if cell.get("source") is None or cell.cell_type == "raw": continue  # hidden, exported, or front matter
        if not cell.source.strip() and not cell.get("outputs"): continue
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\(((?:\d\d_)?\w+)\.ipynb(#[^)]*)?\)", r"](\1.html\2)", cell.source)
        if cell.cell_type == "code":
            directives = dict(re.findall(r"^#\|\s*([\w-]+):?\s*(.*?)\s*$", cell.source, re.M))
            cell.source = re.sub(r"^#\|.*\n?", "", cell.source, flags=re.M).strip()
            has_figure = any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
            caption = None
            if has_figure: caption, cell.source = split_caption(cell.source, directives)
            if directives.get("echo") == "false" or not cell.source:
                cell.metadata["transient"] = {"remove_source": True}  # nbconvert's way to show only the outputs
            outs = []
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                if WIDGET_VIEW in data:  # a live widget: keep its static picture, if it has one, and say what is missing
                    if "image/png" in data:
                        outs.append(nbformat.v4.new_output("display_data", data={"image/png": data["image/png"]}))
                    outs.append(nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE}))
                    continue
                if "text/markdown" in data:  # show_doc's Markdown carries Quarto attributes: drop them
                    data["text/markdown"] = re.sub(r"\{(?:target|\.|#)[^}\n]*\}", "", data["text/markdown"])
                outs.append(o)
            if caption:
                outs.append(nbformat.v4.new_output("display_data", data={
                    "text/html": f'<div class="sched-nb-caption">{markdown2html_mistune(caption)}</div>'}))
            cell.outputs = outs
        cells.append(cell)
    nb.cells = cells
    return nb, fm


# ------------------------------------------------------------------------------------------------ pages

def nav_html(pages: list, current: str) -> str:
    links = "".join(f'<a href="{html.escape(name)}"{" class=current" if name == current else ""}>{html.escape(plain(title))}</a>'
                    for name, title in pages)
    return ('<nav class="sched-nb-nav"><div class="site"><a href="index.html">sched_nb</a></div>'
            '<input type="checkbox" id="sched-nb-toggle" class="toggle-box" aria-label="show the contents">'
            '<label for="sched-nb-toggle" class="toggle">Contents</label>'
            f'<div class="links">{links}</div></nav>')


def local_links(body: str, pages: list) -> str:
    "Point nbdev's links to the hosted docs (`<doc_host><doc_baseurl>/<name>.html`) at this site's pages."
    from nbdev.config import get_config
    cfg = get_config()
    host = re.escape(cfg.doc_host.rstrip("/") + "/" + cfg.doc_baseurl.strip("/") + "/")
    local = {re.sub(r"^\d+_", "", Path(name).stem): name for name, _ in pages}
    return re.sub(host + r"(\w+)\.html", lambda m: local.get(m.group(1), m.group(0)), body)


def shared_styles(body: str, out: Path) -> str:
    "Move each inline stylesheet of the page head into `out/static/` (one file per distinct sheet, shared by every page)."
    head_end = body.index("</head>")
    head, rest = body[:head_end], body[head_end:]
    def move(m):
        css = m.group(1).strip()
        name = f"nb-{hashlib.sha1(css.encode()).hexdigest()[:12]}.css"
        path = out / "static" / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(css, encoding="utf-8"); tmp.replace(path)  # atomic: pages are built in parallel
        return f'<link rel="stylesheet" href="static/{name}">'
    return re.sub(r'<style type="text/css">(.*?)</style>', move, head, flags=re.S) + rest


def fix_anchors(out: Path, names: list):
    "Links to a name the target page does not document: to its class (`#cls` for `#cls.method`), else unlinked."
    pages = {Path(n).stem: out / n for n in names if (out / n).exists()}
    ids = {stem: set(re.findall(r'\bid="([^"]+)"', p.read_text(encoding="utf-8"))) for stem, p in pages.items()}
    def fix(m):
        page, anchor, text = m.group(1), m.group(2), m.group(3)
        if page not in ids or anchor in ids[page]: return m.group(0)
        owner = anchor.split(".")[0]
        if "." in anchor and owner in ids[page]: return f'<a href="{page}.html#{owner}">{text}</a>'
        return text
    for stem, path in pages.items():
        body = path.read_text(encoding="utf-8")
        new = re.sub(r'<a href="(\w+)\.html#([^"]+)">(.*?)</a>', fix, body, flags=re.S)
        if new != body: path.write_text(new, encoding="utf-8")


def render(nb_path: Path, pages: list, out: Path) -> str:
    "One page: the processed notebook through nbconvert's HTML exporter, with the sidebar and prev/next links."
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    nb, fm = processed(nb_path)
    name = page_name(nb_path)
    title = fm.get("title") or title_of(nb_path)
    head = f'<h1 class="title">{inline_markdown(title)}</h1>'
    if fm.get("description"): head += f'<p class="description">{inline_markdown(fm["description"])}</p>'
    names = [n for n, _ in pages]
    i = names.index(name)
    prev = f'<a href="{pages[i - 1][0]}">&larr; {html.escape(plain(pages[i - 1][1]))}</a>' if i > 0 else "<span></span>"
    nxt = f'<a href="{pages[i + 1][0]}">{html.escape(plain(pages[i + 1][1]))} &rarr;</a>' if i + 1 < len(pages) else "<span></span>"
    nb.metadata["title"] = f"{plain(title)} - sched_nb"
    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"sched_nb_docs.html.j2": TEMPLATE})],
                            template_file="sched_nb_docs.html.j2", exclude_input_prompt=True, exclude_output_prompt=True)
    resources = {"sched_nb": {"nav": nav_html(pages, name), "head": head, "mathjax_config": MATHJAX_CONFIG, "mathml_fonts": MATHML_FONTS,
                              "prevnext": f'<div class="sched-nb-prevnext">{prev}{nxt}</div>'}}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return shared_styles(local_links(body, pages), out)


def mathjax_dir() -> Path:
    "MathJax 2.7's files as the `jupyter-server-mathjax` package installs them."
    try: import jupyter_server_mathjax
    except ImportError:
        raise SystemExit("building the docs needs MathJax from the jupyter-server-mathjax package: "
                         "pip install jupyter-server-mathjax (or, in a clone, pip install -e \".[dev]\")") from None
    path = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (path / "MathJax.js").exists(): raise SystemExit(f"no MathJax.js in {path}: reinstall jupyter-server-mathjax")
    return path


def _link_or_copy(src, dst):
    "A hard link to `src` where the file system allows one (MathJax's 800 files in a moment), else a copy."
    try: os.link(src, dst)
    except OSError: shutil.copy2(src, dst)


def copy_assets(out: Path):
    "The site's own files: images of nbs/, MathJax, and the site's stylesheet."
    static = out / "static"
    static.mkdir(parents=True, exist_ok=True)
    if (NBS / "images").is_dir(): shutil.copytree(NBS / "images", out / "images", dirs_exist_ok=True)
    src = mathjax_dir()
    if not (static / "mathjax" / "MathJax.js").exists() or (static / "mathjax" / "MathJax.js").stat().st_size != (src / "MathJax.js").stat().st_size:
        shutil.copytree(src, static / "mathjax", dirs_exist_ok=True, copy_function=_link_or_copy,
                        ignore=shutil.ignore_patterns("*.py", "__pycache__", "test*", "etc"))
    (static / "sched_nb.css").write_text(CSS.strip() + "\n", encoding="utf-8")


def build(out: Path, only: list = (), jobs: int | None = None, _assets: bool = True) -> list:
    "Write the site into `out` (rendering `jobs` pages at a time, default one per CPU); return the pages written."
    out.mkdir(parents=True, exist_ok=True)
    nbs = notebooks()
    pages = [(page_name(p), "Home" if p.stem == "index" else title_of(p)) for p in nbs]
    if only:
        missing = [o for o in only if not (NBS / f"{o}.ipynb").exists()]
        if missing: raise SystemExit(f"no notebook nbs/{missing[0]}.ipynb; notebooks are: {', '.join(p.stem for p in nbs)}")
        nbs = [p for p in nbs if p.stem in only]
    if _assets: copy_assets(out)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(nbs)))
    if jobs > 1:  # split the pages between `jobs` processes running this script
        import subprocess
        procs = [subprocess.Popen([sys.executable, __file__, "--jobs", "1", "--no-assets", "--out", str(out)]
                                  + [p.stem for p in nbs[i::jobs]]) for i in range(jobs)]
        if any(p.wait() for p in procs): raise SystemExit("building the docs failed (see the messages above)")
        if _assets: fix_anchors(out, [n for n, _ in pages])
        return [out / page_name(p) for p in nbs]
    written = []
    for p in nbs:
        path = out / page_name(p)
        path.write_text(render(p, pages, out), encoding="utf-8")
        written.append(path)
        print(f"wrote {path}", flush=True)
    if _assets: fix_anchors(out, [n for n, _ in pages])
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the HTML docs site from nbs/*.ipynb.")
    ap.add_argument("only", nargs="*", help="notebook names to build (default: all)")
    ap.add_argument("--out", default=str(ROOT / "_docs"), help="output folder (default: _docs)")
    ap.add_argument("--jobs", type=int, default=None, help="pages rendered in parallel (default: one per CPU)")
    ap.add_argument("--no-assets", action="store_true", help=argparse.SUPPRESS)  # the pages only (parallel builds)
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    build(Path(args.out), [o.removesuffix(".ipynb") for o in args.only], args.jobs, _assets=not args.no_assets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
