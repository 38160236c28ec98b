"""Build the static HTML docs site from the notebooks: nbdev's notebook processing, then nbconvert's HTML exporter.

    python tools/build_docs.py                      # every notebook of nbs/ into _docs/
    python tools/build_docs.py --out site           # another folder
    python tools/build_docs.py 18_plots 19_widgets  # only these pages (the navigation still lists them all)
    python tools/build_docs.py --jobs 1             # one page at a time (default: one per CPU)

Each notebook becomes one page NAME.html (index.ipynb becomes index.html), with a sidebar listing every
notebook and previous/next links. The pages show the notebooks' saved outputs, so every plot is there as an
embedded image; exported code is shown as its signature and docstring (nbdev's `show_doc`), hidden cells
are left out, and a live widget (which needs a running kernel) is replaced by a note. Open
`_docs/index.html` in a browser, or serve the folder: `python -m http.server -d _docs`.
"""
import argparse
import html
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

CSS = """
body { margin: 0; }
.sched-nb-nav { position: fixed; top: 0; left: 0; bottom: 0; width: 230px; overflow-y: auto; padding: 16px 12px;
  box-sizing: border-box; background: #f6f7f9; border-right: 1px solid #dde; font: 14px/1.4 system-ui, sans-serif; }
.sched-nb-nav a { display: block; padding: 4px 6px; color: #234; text-decoration: none; border-radius: 4px; }
.sched-nb-nav a:hover { background: #e6e9ef; }
.sched-nb-nav a.current { background: #dbe4f3; font-weight: 600; }
.sched-nb-nav .site { font-weight: 700; font-size: 16px; margin-bottom: 10px; }
.sched-nb-page { margin-left: 230px; padding: 8px 24px 40px; max-width: 1100px; }
.sched-nb-page .description { font-size: 17px; color: #444; margin-top: -6px; }
.sched-nb-prevnext { display: flex; justify-content: space-between; margin-top: 32px; font: 14px system-ui, sans-serif; }
.sched-nb-page img { max-width: 100%; }
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
            if m: return m.group(1).replace("`", "").strip()
    return nb_path.stem


def docs_filter():
    "nbdev's docs processing, with a `show_doc` runner that leaves the saved outputs alone."
    from nbdev.processors import FilterDefaults, _do_eval, exec_show_docs

    class ShowDocs(exec_show_docs):
        "Run what `show_doc` needs; only `show_doc` cells get new outputs, and only their errors count."
        def __call__(self, cell):
            if not getattr(self.nb, "has_docs_", None) or not hasattr(self, "k") or not _do_eval(cell): return
            if "show_doc(" in cell.source: return super().__call__(cell)
            saved = cell.get("outputs")
            self.k.cell(cell)  # defines the names show_doc documents; a failure here is not the docs' concern
            cell["outputs"], self.k.exc = saved, None

    class DocsFilter(FilterDefaults):
        def base_procs(self): return [ShowDocs if p is exec_show_docs else p for p in super().base_procs()]

    return DocsFilter()


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


def processed(nb_path: Path):
    "The notebook after nbdev's processing for docs, as an nbformat node, with its front matter."
    import nbformat
    from execnb.nbio import read_nb

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
            if directives.get("echo") == "false" or not cell.source:
                cell.metadata["transient"] = {"remove_source": True}  # nbconvert's way to show only the outputs
            outs = []
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                if WIDGET_VIEW in data:
                    outs.append(nbformat.v4.new_output("display_data", data={"text/html": WIDGET_NOTE}))
                    continue
                if "text/markdown" in data:  # show_doc's Markdown carries Quarto attributes: drop them
                    data["text/markdown"] = re.sub(r"\{(?:target|\.|#)[^}\n]*\}", "", data["text/markdown"])
                outs.append(o)
            cell.outputs = outs
        cells.append(cell)
    nb.cells = cells
    return nb, fm


def nav_html(pages: list, current: str) -> str:
    links = "".join(f'<a href="{html.escape(name)}"{" class=current" if name == current else ""}>{html.escape(title)}</a>'
                    for name, title in pages)
    return f'<nav class="sched-nb-nav"><div class="site"><a href="index.html">sched_nb</a></div>{links}</nav>'


def local_links(body: str, pages: list) -> str:
    "Point nbdev's links to the hosted docs (`<doc_host><doc_baseurl>/<name>.html`) at this site's pages."
    from nbdev.config import get_config
    cfg = get_config()
    host = re.escape(cfg.doc_host.rstrip("/") + "/" + cfg.doc_baseurl.strip("/") + "/")
    local = {re.sub(r"^\d+_", "", Path(name).stem): name for name, _ in pages}
    return re.sub(host + r"(\w+)\.html", lambda m: local.get(m.group(1), m.group(0)), body)


def render(nb_path: Path, pages: list) -> str:
    "One page: the processed notebook through nbconvert's HTML exporter, with the sidebar and prev/next links."
    from nbconvert import HTMLExporter
    nb, fm = processed(nb_path)
    body, _ = HTMLExporter(template_name="lab", exclude_input_prompt=True, exclude_output_prompt=True).from_notebook_node(nb)
    name = page_name(nb_path)
    title = fm.get("title") or title_of(nb_path)
    head = f'<h1 class="title">{html.escape(title)}</h1>'
    if fm.get("description"): head += f'<p class="description">{html.escape(fm["description"])}</p>'
    names = [n for n, _ in pages]
    i = names.index(name)
    prev = f'<a href="{pages[i - 1][0]}">&larr; {html.escape(pages[i - 1][1])}</a>' if i > 0 else "<span></span>"
    nxt = f'<a href="{pages[i + 1][0]}">{html.escape(pages[i + 1][1])} &rarr;</a>' if i + 1 < len(pages) else "<span></span>"
    body = local_links(body, pages)
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)} - sched_nb</title>", body, count=1, flags=re.S)
    body = body.replace("</head>", f"<style>{CSS}</style></head>", 1)
    m = re.search(r"<body[^>]*>", body)
    end = body.rindex("</body>")
    return (body[:m.end()] + nav_html(pages, name) + f'<main class="sched-nb-page">{head}'
            + body[m.end():end] + f'<div class="sched-nb-prevnext">{prev}{nxt}</div></main>' + body[end:])


def build(out: Path, only: list = (), jobs: int | None = None) -> list:
    "Write the site into `out` (rendering `jobs` pages at a time, default one per CPU); return the pages written."
    out.mkdir(parents=True, exist_ok=True)
    nbs = notebooks()
    pages = [(page_name(p), "Home" if p.stem == "index" else title_of(p)) for p in nbs]
    if only:
        missing = [o for o in only if not (NBS / f"{o}.ipynb").exists()]
        if missing: raise SystemExit(f"no notebook nbs/{missing[0]}.ipynb; notebooks are: {', '.join(p.stem for p in nbs)}")
        nbs = [p for p in nbs if p.stem in only]
    if (NBS / "images").is_dir(): shutil.copytree(NBS / "images", out / "images", dirs_exist_ok=True)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(nbs)))
    if jobs > 1:  # split the pages between `jobs` processes running this script
        import subprocess
        procs = [subprocess.Popen([sys.executable, __file__, "--jobs", "1", "--out", str(out)] + [p.stem for p in nbs[i::jobs]])
                 for i in range(jobs)]
        if any(p.wait() for p in procs): raise SystemExit("building the docs failed (see the messages above)")
        return [out / page_name(p) for p in nbs]
    written = []
    for p in nbs:
        path = out / page_name(p)
        path.write_text(render(p, pages), encoding="utf-8")
        written.append(path)
        print(f"wrote {path}", flush=True)
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Build the HTML docs site from nbs/*.ipynb.")
    ap.add_argument("only", nargs="*", help="notebook names to build (default: all)")
    ap.add_argument("--out", default=str(ROOT / "_docs"), help="output folder (default: _docs)")
    ap.add_argument("--jobs", type=int, default=None, help="pages rendered in parallel (default: one per CPU)")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    build(Path(args.out), [o.removesuffix(".ipynb") for o in args.only], args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
