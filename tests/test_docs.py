"""The docs: README.md is what tools/docs.py makes of nbs/index.ipynb, and the mkdocs site works in a browser.

The browser tests build the site once (`make docs`' command, tools/docs.py --site-dir) into a temporary folder, serve
it with `python -m http.server` on 127.0.0.1 and drive Debian's headless Chromium through chromedriver + selenium:
the home page and every module's page load with their title and API reference (show_doc output), and the pages with
figures (augment, learner, plots, the tutorial) show several images, none broken. Without Chromium they fail
(`make test` installs it). `EVA_FASTAI_DOCS_SCREENSHOT=path.png` keeps a screenshot of the plots page (it is also
written to /tmp/docs_plots.png)."""
import difflib, importlib.util, json, os, re, select, shutil, subprocess, sys
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit, unquote
from contextlib import contextmanager
from pathlib import Path
import pytest

pytestmark = pytest.mark.xdist_group('docs')   # its module-scoped fixture is made once, in one worker

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('docs', ROOT/'tools'/'docs.py')
docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs)

CHROMIUM = shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
CHROMEDRIVER = shutil.which('chromedriver') or ('/usr/bin/chromedriver' if Path('/usr/bin/chromedriver').exists() else None)
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--no-first-run']


# ------------------------------------------------------------------------------------------------------------ README
def test_readme_matches_index():
    "README.md is generated from nbs/index.ipynb (`make readme`); it must not drift from it."
    want = docs.readme_markdown(ROOT/'nbs')
    have = (ROOT/'README.md').read_text() if (ROOT/'README.md').exists() else ''
    diff = ''.join(difflib.unified_diff(have.splitlines(True), want.splitlines(True), 'README.md', 'from index.ipynb'))
    assert have == want, f'README.md is out of date with nbs/index.ipynb: run `make readme`\n{diff[:4000]}'


def test_every_module_is_listed():
    "The package docstring and nbs/llms.txt (both written by nbdev-export) name every public module."
    mods = sorted(p.stem for p in (ROOT/'eva_fastai').glob('*.py') if not p.name.startswith('_'))
    assert len(mods) >= 12, mods
    init, llms = (ROOT/'eva_fastai'/'__init__.py').read_text(), (ROOT/'nbs'/'llms.txt').read_text()
    missing = [m for m in mods if f'`eva_fastai.{m}`' not in init or f'[eva_fastai.{m}]' not in llms]
    assert not missing, f'not listed (give each module notebook an `#| export` markdown cell after its title): {missing}'

def test_readme_content():
    text = (ROOT/'README.md').read_text()
    assert text.startswith('# eva_fastai\n')
    assert ('```bash\nmake train ARGS="--preset smoke --data ../shared/data/cifar10.tgz"\nmake test\n```'
            in text)
    for section in ('## Quickstart', '## Install', '## Usage', '## Docs', '## Results'): assert section in text
    assert '#| hide' not in text and 'import eva_fastai\n' not in text  # hidden cells stay hidden
    words = len(re.findall(r'\S+', text))
    assert words <= 1200, f'README.md has {words} words; it is a front page (<= 1,200): details go to the docs pages'
    dated = re.findall(r'.{0,40}\b20\d\d-\d\d-\d\d\b.{0,20}', text)
    assert not dated, f'dated history belongs in CHANGELOG.md, not README.md: {dated}'


def test_quarto_config():
    "nbs/_quarto.yml and nbs/nbdev.yml are what `nbdev-docs` needs; nbdev.yml is exactly what nbdev writes."
    import yaml
    q = yaml.safe_load((ROOT/'nbs'/'_quarto.yml').read_text())
    assert q['project']['type'] == 'website' and 'nbdev.yml' in q['metadata-files']
    from nbdev.quarto import _nbdev_yml
    from nbdev.config import get_config
    cfg = get_config(str(ROOT/'nbs'))
    vals = {k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    assert (ROOT/'nbs'/'nbdev.yml').read_text() == _nbdev_yml.format(doc_path=cfg.doc_path.name, **vals)


# ----------------------------------------------------------------------------------------------------------- browser
FIGURE_PAGES = ['augment.html', 'learner.html', 'plots.html', 'tutorials/session11.html']


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail('Chromium/chromedriver not installed: `make test` installs them (or apt-get install -y chromium chromium-driver)')
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in CHROMIUM_FLAGS + [f'--user-data-dir={tmp_path_factory.mktemp("chromium-profile")}',
                               '--window-size=1280,900']: opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(30)
    yield drv
    drv.quit()


@pytest.fixture(scope='session')
def site(tmp_path_factory):
    "The site, built once per test session by `make docs`' command into a temporary folder."
    out = tmp_path_factory.mktemp('site')
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'docs.py'), '--site-dir', str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, f'the docs build failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}'
    return out


@contextmanager
def serve(site: Path):
    "`python -m http.server` on a free port of 127.0.0.1 (port 0: the OS picks it, the server prints it)."
    p = subprocess.Popen([sys.executable, '-u', '-m', 'http.server', '0', '--bind', '127.0.0.1',
                          '--directory', str(site)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 30)
        line = p.stdout.readline() if ready else ''
        m = re.search(r'port (\d+)', line)
        assert m, f'http.server did not start: {line!r}'
        yield f'http://127.0.0.1:{m.group(1)}/'
    finally:
        p.terminate()
        p.wait(10)


_PAGE_JS = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.querySelectorAll('article img'));
Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })))
.then(() => done({
  title: document.title,
  h1: (document.querySelector('article h1') || {}).textContent || '',
  imgs: imgs.map(i => ({src: (i.currentSrc || i.src).slice(0, 120), w: i.naturalWidth})),
  showdoc: document.querySelectorAll('article h3, article h4').length,
  pre: Array.from(document.querySelectorAll('article pre')).map(p => getComputedStyle(p).overflowX),
}));
"""


def module_pages(nbs: Path) -> dict:
    "Site pages of the notebooks that export a module (`#| default_exp`): each needs an API section."
    from nbdev.config import nbpath2html
    res = {}
    for nb in sorted(nbs.rglob('*.ipynb')):
        rel = nb.relative_to(nbs)
        if any(p[0] in '._' for p in rel.parts): continue
        cells = json.loads(nb.read_text())['cells']
        if any(c['cell_type'] == 'code' and re.search(r'^#\|\s*default_exp\s', ''.join(c['source']), re.M) for c in cells):
            res[nbpath2html(rel).as_posix()] = cells
    return res


def visit(drv, base, page) -> dict:
    drv.get(base + page)
    return drv.execute_async_script(_PAGE_JS)


def test_pages_load_with_title_and_api(browser, site):
    "The home page and every module's page load, titled (tab and heading), module pages with their show_doc headings."
    api = module_pages(ROOT/'nbs')
    assert len(api) >= 12, sorted(api)
    problems = []
    with serve(site) as base:
        for page in ['index.html', *api]:
            if not (site/page).exists(): problems.append(f'{page}: missing'); continue
            d = visit(browser, base, page)
            if 'eva_fastai' not in d['title'] or not d['h1'].strip(): problems.append(f'{page}: no title: {d["title"]!r} {d["h1"]!r}')
            if page != 'index.html' and not d['showdoc']: problems.append(f'{page}: no API section (show_doc)')
            if any(o not in ('auto', 'scroll') for o in d['pre']): problems.append(f'{page}: a code block neither wraps nor scrolls')
    assert not problems, '\n'.join(problems)


def test_figures_render(browser, site, tmp_path):
    "The pages with figures show at least two images each (the notebooks run in the build), none broken."
    problems = []
    with serve(site) as base:
        for page in FIGURE_PAGES:
            d = visit(browser, base, page)
            broken = [i['src'] for i in d['imgs'] if not i['w']]
            if len(d['imgs']) < 2: problems.append(f'{page}: {len(d["imgs"])} images, want >= 2')
            if broken: problems.append(f'{page}: images did not load: {broken}')
        dest = Path(os.environ.get('EVA_FASTAI_DOCS_SCREENSHOT') or tmp_path/'docs_plots.png')
        browser.get(base + 'plots.html')
        assert browser.save_screenshot(str(dest)), dest
        if dest.resolve() != Path('/tmp/docs_plots.png'): shutil.copy(dest, '/tmp/docs_plots.png')
    assert not problems, '\n'.join(problems)


class _Links(HTMLParser):
    "The `href`s of a page's links and the `id`s of its elements."
    def __init__(self):
        super().__init__(); self.hrefs, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('href'): self.hrefs.append(a['href'])


def test_internal_links_resolve(site):
    "Every link from one page of the site to another, or to a place in one (`page.html#anchor`), finds its target: each link is read as the browser reads it, against the page's address on the site (nbdev writes its API links, `learner.html#cifar_learner`, with the site's own address; the 404 page its links from the site's root)."
    import yaml
    home = yaml.safe_load((ROOT/'mkdocs.yml').read_text())['site_url'].rstrip('/') + '/'
    pages = {}
    for f in site.rglob('*.html'):
        p = _Links(); p.feed(f.read_text(errors='replace')); pages[f.resolve()] = p
    assert len(pages) >= 14, sorted(map(str, pages))
    broken, checked = [], 0
    for f, p in pages.items():
        page = f.relative_to(site.resolve()).as_posix()
        for href in p.hrefs:
            url = urljoin(home + page, href)
            if not url.startswith(home): continue                    # another site, mailto:, javascript:
            u = urlsplit(url[len(home):])
            target = site/unquote(u.path) if u.path else site/'index.html'
            if target.is_dir(): target = target/'index.html'
            checked += 1
            if not target.exists(): broken.append(f'{page}: {href} (no such page)'); continue
            if u.fragment and target.suffix == '.html' and unquote(u.fragment) not in pages[target.resolve()].ids:
                broken.append(f'{page}: {href} (no such anchor)')
    assert checked > 100, checked
    assert not broken, f'{len(broken)} broken internal links:\n' + '\n'.join(sorted(set(broken))[:40])
