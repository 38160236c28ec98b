"""In a real browser (headless Chromium driven by Playwright): a concept notebook in JupyterLab, the Voila explorer
app, and every page of the docs site. Servers are started on 127.0.0.1 by the tests and stopped by process group;
the browser, the docs site and its server are shared by all the tests of a run. Waits are for what the page shows
(a selector, a loaded picture, a typeset formula), never a fixed sleep; the docs site builds in the background while
the JupyterLab test runs. Screenshots go to test-artifacts/
(git-ignored): the Voila app (its Flow and Samplers tabs), JupyterLab, docs pages and the digits grid.

Without Chromium or Playwright the tests are skipped, unless SCHED_NB_REQUIRE_BROWSER=1 (as in .ci/run): then
they fail."""
import importlib.util
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import REQUIRE_BROWSER

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run",
                 # pages loading side by side are not slowed down for being in the background
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows"]


def _missing() -> str | None:
    "Why the browser tests cannot run here, or None."
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")): return f"no Chromium at {CHROMIUM}"
    if importlib.util.find_spec("playwright") is None: return "the playwright package is not installed"
    return None


@pytest.fixture(scope="session")
def browser():
    why = _missing()
    if why:
        if REQUIRE_BROWSER: pytest.fail(f"SCHED_NB_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        try: yield b
        finally: b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    pg = context.new_page()
    try: yield pg
    finally: context.close()


def free_port() -> int:
    from sched_nb.cli import free_port as port
    return port()


class Server:
    "A server process in its own process group, stopped (group and all) by `stop`."
    def __init__(self, cmd, url, env=None, cwd=None, log=None):
        self.url, self.log = url, log
        out = open(log, "w") if log else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log: {self.log}\n" + self.tail())
            try:
                urllib.request.urlopen(self.url, timeout=10)
                return self
            except OSError: time.sleep(0.5)
        raise TimeoutError(f"{self.url} did not answer in {timeout} s; log: {self.log}\n" + self.tail())

    def tail(self):
        return Path(self.log).read_text(errors="replace")[-3000:] if self.log and Path(self.log).exists() else ""

    def stop(self):
        if self.proc.poll() is not None: return
        try: os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError: return
        try: self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def save(png: bytes, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    path.write_bytes(png)
    print(f"screenshot: {path}")
    return path


def changed_pixels(a: bytes, b: bytes) -> int:
    "How many pixels differ clearly between two screenshots (sizes must agree)."
    from PIL import Image, ImageChops
    ia, ib = Image.open(io.BytesIO(a)).convert("L"), Image.open(io.BytesIO(b)).convert("L")
    if ia.size != ib.size: return ia.size[0] * ia.size[1]
    return sum(ImageChops.difference(ia, ib).point(lambda v: 255 if v > 40 else 0).histogram()[255:])


def drag_slider(page, explorer, label: str, dx: float):
    "Drag the handle of the explorer's slider named `label` by `dx` pixels; return the slider's readout text."
    slider = explorer.locator(".widget-slider", has_text=label).first
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y, steps=10)
    page.mouse.up()
    return slider.locator(".widget-readout").inner_text()


LOADED = "el => el.complete && el.naturalWidth > 0"
NEW_PICTURE = "([el, src]) => el.src !== src && el.complete && el.naturalWidth > 0"


def picture(page, img, timeout=120_000) -> tuple:
    "`(src, screenshot)` of the widget's picture `img` once it has loaded."
    page.wait_for_function(LOADED, arg=img.element_handle(), timeout=timeout)
    img.scroll_into_view_if_needed()
    return img.get_attribute("src"), img.screenshot()


def wait_for_new_image(page, img, before: tuple, ready=lambda: True, timeout=90) -> bytes:
    "The screenshot of the first new picture `img` loads after `before` (from `picture`) that differs from it, once `ready()`."
    src, png = before
    deadline = time.time() + timeout
    while time.time() < deadline:
        page.wait_for_function(NEW_PICTURE, arg=[img.element_handle(), src], timeout=max(1, deadline - time.time()) * 1000)
        src = img.get_attribute("src")
        if not ready(): page.wait_for_function(f"() => ({KERNEL})() === 'idle'", timeout=60_000)
        after = img.screenshot()
        if changed_pixels(png, after) > 200: return after
    raise AssertionError("the plot did not change after the slider moved")


# ---------------------------------------------------------------------------------------------------------- Voila

def kernel_alive(base: str, kernel_id: str) -> bool:
    "Whether the server still runs the kernel (its REST API answers 200, else 404)."
    try: return urllib.request.urlopen(f"{base}/api/kernels/{kernel_id}", timeout=10).status == 200
    except urllib.error.HTTPError as e:
        if e.code == 404: return False
        raise


def kernel_processes(server_pid: int) -> int:
    "How many kernels run under the server: ipykernel processes among its descendants (Linux /proc)."
    parent, cmdline = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            parent[pid] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline[pid] = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError): continue
    def under(pid):
        while pid in parent and pid > 1:
            pid = parent[pid]
            if pid == server_pid: return True
        return False
    return sum(1 for pid, cmd in cmdline.items() if b"ipykernel" in cmd and under(pid))


def open_app(ctx, base):
    page = ctx.new_page()
    page.goto(base + "/", timeout=180_000)
    page.wait_for_selector(".sched-nb-app", timeout=180_000)
    kernel = page.evaluate("() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
    return page, kernel


@pytest.fixture(scope="session")
def voila(tmp_path_factory):
    "`sched_nb explore` on 127.0.0.1, idle kernels culled after 6 s; yields the server and its address."
    tmp = tmp_path_factory.mktemp("voila")
    port = free_port()
    cmd = [sys.executable, "-c", "import sys; from sched_nb.cli import main; sys.exit(main())",
           "explore", "--port", str(port), "--no-browser", "--cull-idle", "6"]
    base = f"http://127.0.0.1:{port}"
    server = Server(cmd, f"{base}/voila/static/voila.js", cwd=tmp, log=tmp / "voila.log")  # starts no kernel
    try: yield server.wait_ready(), base
    finally: server.stop()


def test_voila_explorer_app_renders_reacts_and_frees_its_kernels(browser, voila):
    "The app with the network cut off: no console error, the Flow and Samplers tabs react, closed pages free their kernels."
    server, base = voila
    ctx = Offline(browser, width=1280, height=1000)
    try:
        assert kernel_processes(server.proc.pid) == 0
        page, kernel = open_app(ctx, base)
        tabs = page.locator(".sched-nb-app .lm-TabBar-tab")
        assert tabs.count() == 8
        picture(page, page.locator(".sched-nb-explorer").nth(0).locator("img").first)
        save(page.screenshot(), "voila-app.png")
        tabs.nth(4).click()  # Flow: its picture is rendered when the tab opens
        explorer = page.locator(".sched-nb-explorer").nth(4)
        img = explorer.locator("img").first
        before = picture(page, img)
        shown, natural = img.evaluate("i => [i.getBoundingClientRect().width, i.naturalWidth]")
        assert shown >= 0.9 * natural and natural >= 1000, (shown, natural)  # the picture fills the page, text unshrunk
        row = explorer.locator(".sched-nb-readout tr").nth(1)  # the current configuration
        row_before = row.inner_text()
        readout = drag_slider(page, explorer, "shift", 60)
        assert readout != "1.00", "the slider did not move"
        save(wait_for_new_image(page, img, before), "voila-after.png")
        assert row.inner_text() != row_before  # sigma_min moved with the shift
        tabs.nth(7).click()  # Samplers
        samplers = page.locator(".sched-nb-samplers")
        img = samplers.locator("img").first
        before = picture(page, img)
        samplers.locator(".widget-dropdown", has_text="A: sampler").locator("select").select_option("heun")
        save(wait_for_new_image(page, img, before), "voila-samplers.png")
        assert "heun" in samplers.locator(".sched-nb-readout").inner_text()
        save(page.screenshot(), "voila-page.png")
        # a second page gets a kernel of its own; closing pages frees them: at once when the page says so
        # (Voila's beforeunload), by culling when it cannot (a tab that crashed)
        page2, kernel2 = open_app(ctx, base)
        assert kernel2 != kernel and kernel_alive(base, kernel) and kernel_alive(base, kernel2)
        assert kernel_processes(server.proc.pid) == 2
        page.close(run_before_unload=True)
        page2.close()  # no unload handlers run
        deadline = time.time() + 60
        while time.time() < deadline and (kernel_alive(base, kernel) or kernel_alive(base, kernel2)): time.sleep(0.5)
        assert not kernel_alive(base, kernel) and not kernel_alive(base, kernel2), "closed pages kept their kernels"
        assert ctx.blocked == [], f"requests that left 127.0.0.1: {ctx.blocked[:3]}"
        assert ctx.errors == []
    finally:
        ctx.close()


# ---------------------------------------------------------------------------------------------------------- JupyterLab

KERNEL = ("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
          " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
          " return k ? k.status : null; }")
COUNTS = ("() => window.jupyterapp.shell.currentWidget.content.widgets"
          ".filter(c => c.model.type === 'code').map(c => c.model.executionCount)")


LAB_NOTEBOOK = "03_discrete.ipynb"   # the discrete chapter ends with its live explorer


@pytest.fixture
def jupyterlab(tmp_path):
    "JupyterLab on 127.0.0.1 (token and password off, news and update checks off) over a copy of the notebooks."
    root = tmp_path / "nbs"
    root.mkdir()
    shutil.copy(ROOT / "nbs" / LAB_NOTEBOOK, root)
    (tmp_path / "tests" / "data").mkdir(parents=True)              # the chapter's golden values, where it reads them
    shutil.copy(ROOT / "tests" / "data" / "golden_public.json.gz", tmp_path / "tests" / "data")
    settings = tmp_path / "lab-settings"
    for plugin, text in (("apputils-extension/notification", '{"fetchNews": "false", "checkForUpdates": false}'),
                         ("notebook-extension/tracker", '{"windowingMode": "none"}')):
        f = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt")}
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
           "--ServerApp.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True"]
    server = Server(cmd, f"http://127.0.0.1:{port}/api/status", env=env, cwd=root, log=tmp_path / "jupyterlab.log")
    try: yield server.wait_ready(), f"http://127.0.0.1:{port}"
    finally: server.stop()


def run_all_cells(page, tries=3):
    "Run All once the kernel is idle; retry when no cell started; wait until every code cell ran and the kernel is idle."
    for attempt in range(tries):
        page.wait_for_function(f"() => ({KERNEL})() === 'idle'", timeout=120_000)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        try:
            page.wait_for_function(f"() => ({KERNEL})() === 'busy' || ({COUNTS})().some(c => c !== null)", timeout=20_000)
            break
        except Exception:
            if attempt == tries - 1: raise AssertionError("Run All did not start any cell")
    page.wait_for_function(f"() => ({KERNEL})() === 'idle' && ({COUNTS})().every(c => c !== null)", timeout=240_000, polling=500)
    errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
    assert errors.count() == 0, errors.first.inner_text()
    return page.evaluate(COUNTS)


@pytest.fixture
def docs_building():
    "The docs site starts building in another process, so that the docs tests find it built (tests/docs_site.py)."
    from docs_site import start_build
    start_build()


def test_jupyterlab_notebook_runs_and_its_slider_redraws_the_plot(docs_building, page, jupyterlab):
    server, base = jupyterlab
    page.goto(f"{base}/lab/tree/{LAB_NOTEBOOK}", timeout=120_000)
    counts = run_all_cells(page)
    assert counts == sorted(counts)
    explorer = page.locator(".sched-nb-explorer").first
    explorer.scroll_into_view_if_needed()
    img = explorer.locator("img").first
    before = picture(page, img)
    save(before[1], "jupyterlab-before.png")
    row = explorer.locator(".sched-nb-readout tr").nth(1)  # the current configuration
    assert "14.61" in row.inner_text()  # SD's linear schedule: sigma_max 14.61
    readout = drag_slider(page, explorer, "linear_end", 40)
    assert readout != "1.20e-2", "the slider did not move"
    after = wait_for_new_image(page, img, before, ready=lambda: page.evaluate(KERNEL) == "idle")
    save(after, "jupyterlab-after.png")
    save(page.screenshot(), "jupyterlab-page.png")
    assert "current" in row.inner_text() and "14.61" not in row.inner_text()  # a larger linear_end, a larger sigma_max


# ---------------------------------------------------------------------------------------------------------- docs

DOC_PAGES = [p.stem for p in sorted((ROOT / "nbs").glob("*.ipynb"))]
SCREENSHOT_PAGES = ("index", "01_parameterizations", "10_samplers", "17_digits")
# the digits chapter's grid of samples per sampler and step count: its first picture after this heading
DIGITS_GRID = ("xpath=//h2[starts-with(@id, 'Samples-per-sampler')]/ancestor::div[contains(@class, 'jp-Cell')]"
               "/following-sibling::div[.//img][1]//img")


class Offline:
    "A browser context that lets no request leave 127.0.0.1 and records what was blocked and what the console said."
    def __init__(self, browser, width=1280, height=900):
        self.blocked, self.errors, self.logs = [], [], {}  # all pages', and {page: (blocked, errors)} of each
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.set_default_timeout(60_000)
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")): return route.continue_()
        self.blocked.append(url)
        try: self.logs[route.request.frame.page][0].append(url)
        except Exception: pass  # a request of no page of ours: counted in `blocked` all the same
        return route.abort()

    def new_page(self):
        page = self.context.new_page()
        blocked, errors = self.logs[page] = ([], [])
        def error(text): self.errors.append(text); errors.append(text)
        page.on("console", lambda m: error(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: error(f"page error: {e}"))
        page.on("response", lambda r: error(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
        return page

    def close(self): self.context.close()


@pytest.fixture(scope="session")
def docs_server(tmp_path_factory):
    from docs_site import built_site
    site = built_site()  # shared with tests/test_docs.py when both run
    log = tmp_path_factory.mktemp("http") / "http.log"
    port = free_port()
    server = Server([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(site)],
                    f"http://127.0.0.1:{port}/index.html", log=log)
    try: yield server.wait_ready(timeout=30), f"http://127.0.0.1:{port}"
    finally: server.stop()


MATHJAX_DONE = "() => document.documentElement.getAttribute('data-mathjax') === 'done'"
AT_ONCE = 4  # pages loading side by side: the browser typesets them in parallel, twice as fast as one by one


@pytest.fixture(scope="session")
def docs_pages(browser, docs_server):
    "Every page of the site with the network cut off, loaded a few at a time: {name: (facts or the error, blocked, errors)}."
    _, base = docs_server
    ctx, out, todo, loading = Offline(browser), {}, list(DOC_PAGES), []
    try:
        while todo or loading:
            while todo and len(loading) < AT_ONCE:
                name, page = todo.pop(0), ctx.new_page()
                page.goto(f"{base}/{name}.html", wait_until="commit")
                loading.append((name, page))
            name, page = loading.pop(0)
            try:
                page.wait_for_load_state("load")
                page.wait_for_function(MATHJAX_DONE, timeout=60_000)
                facts = page.evaluate(PAGE_FACTS)
                if name in SCREENSHOT_PAGES: save(page.screenshot(), f"docs-{name}.png")
                if name == "17_digits":
                    grid = page.locator(DIGITS_GRID).first
                    grid.scroll_into_view_if_needed()
                    save(grid.screenshot(), "docs-digits-grid.png")
            except Exception as e: facts = e  # the page's own test reports it
            finally: page.close()
            out[name] = (facts, *ctx.logs[page])
        yield out
    finally:
        ctx.close()


PAGE_FACTS = r"""() => {
  const skip = el => !el || el.closest('pre, code, script, style, textarea, .MathJax, .MathJax_Display, .MathJax_Preview, .MJX_Assistive_MathML, .jp-InputArea');
  const walk = document.createTreeWalker(document.querySelector('main'), NodeFilter.SHOW_TEXT);
  const text = [];
  while (walk.nextNode()) if (!skip(walk.currentNode.parentElement)) text.push(walk.currentNode.textContent);
  const main = document.querySelector('main').getBoundingClientRect();
  const tables = Array.from(document.querySelectorAll('main table')).map(t => t.getBoundingClientRect().right);
  return {typeset: document.querySelectorAll('span.MathJax').length,
          sources: document.querySelectorAll('script[type^="math/tex"]').length,
          math_errors: document.querySelectorAll('.MathJax_Error, merror').length,
          raw_tex: (text.join(' ').match(/\$\$|\$[^$\n]{1,120}\$|\\(sigma|frac|text|mathrm|alpha|log)\b/g) || []).slice(0, 5),
          bad_images: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60)),
          images: document.images.length,
          widest_table: Math.max(0, ...tables), main_right: main.right,
          page_width: document.documentElement.clientWidth, scroll_width: document.documentElement.scrollWidth};
}"""


def has_math(name: str) -> bool:
    "Whether the notebook's Markdown holds a formula ($...$ or $$...$$)."
    nb = json.loads((ROOT / "nbs" / f"{name}.ipynb").read_text(encoding="utf-8"))
    return any(re.search(r"\$[^$\n]+\$", "".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown")


@pytest.mark.parametrize("name", DOC_PAGES)
def test_docs_page_renders_offline(docs_pages, name):
    "Every page, with the network cut off: formulas typeset, no TeX left as text, images loaded, tables within the page."
    facts, blocked, errors = docs_pages[name]
    if isinstance(facts, Exception): raise facts
    assert blocked == [], "requests that left 127.0.0.1"
    assert errors == []
    if has_math(name): assert facts["typeset"] > 0, "no formula was typeset"
    assert facts["typeset"] == facts["sources"] and facts["math_errors"] == 0, facts
    assert facts["raw_tex"] == [], f"TeX left as text: {facts['raw_tex']}"
    assert facts["bad_images"] == [], f"images that did not load: {facts['bad_images']}"
    assert facts["widest_table"] <= facts["main_right"] + 1, facts
    assert facts["scroll_width"] <= facts["page_width"], "the page scrolls sideways at 1280 px"


def test_docs_sidebar_collapses_on_a_narrow_screen(browser, docs_server):
    _, base = docs_server
    ctx = Offline(browser, width=600, height=900)
    try:
        page = ctx.new_page()
        page.goto(f"{base}/09_schedulers.html", wait_until="load")
        links = page.locator("nav.sched-nb-nav .links")
        assert not links.is_visible(), "the contents take the screen before the page"
        main = page.locator("main.sched-nb-page").bounding_box()
        assert main["x"] < 5 and main["width"] > 550
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 600
        save(page.screenshot(), "docs-600px.png")
        page.locator("nav.sched-nb-nav .toggle").click()
        assert links.is_visible() and links.locator("a").count() == len(DOC_PAGES)
        assert ctx.blocked == [] and ctx.errors == []
    finally:
        ctx.close()
