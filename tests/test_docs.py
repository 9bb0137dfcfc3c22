"""The docs: README.md is what tools/build_docs.py makes of nbs/index.ipynb, and the offline site works in a browser.

The browser tests build the site (tools/build_docs.py's offline engine) into a temporary folder, serve it with
`python -m http.server` on 127.0.0.1 and drive Debian's headless Chromium through chromedriver + selenium: every page
is visited; a broken internal link (missing page, file or #anchor), an image that did not load, a failed request for one
of the site's own files or a module's page without its API reference (show_doc output) fails the test.

They are skipped only when Chromium is not installed *and* `CI` is unset; in CI they always run
(`apt-get install -y chromium chromium-driver`). `EVA_FASTAI_DOCS_SCREENSHOT=path.png` keeps the home page screenshot
(it is also written to /tmp/docs_home.png)."""
import difflib, importlib.util, json, os, re, select, shutil, subprocess, sys, urllib.error, urllib.request
from contextlib import contextmanager
from pathlib import Path
import pytest

pytestmark = pytest.mark.xdist_group('docs')   # its module-scoped fixture is made once, in one worker

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location('build_docs', ROOT/'tools'/'build_docs.py')
build_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_docs)

CHROMIUM = shutil.which('chromium') or ('/usr/bin/chromium' if Path('/usr/bin/chromium').exists() else None)
CHROMEDRIVER = shutil.which('chromedriver') or ('/usr/bin/chromedriver' if Path('/usr/bin/chromedriver').exists() else None)
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync', '--no-first-run']


# ------------------------------------------------------------------------------------------------------------ README
def test_readme_matches_index():
    "README.md is generated from nbs/index.ipynb (`make readme`); it must not drift from it."
    want, _ = build_docs.readme_markdown(ROOT/'nbs')
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
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(30)
    yield drv
    drv.quit()


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
const imgs = Array.from(document.images);
Promise.all(imgs.map(i => i.complete ? null : new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })))
.then(() => done({
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  imgs: imgs.map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth})),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
         .concat(Array.from(document.querySelectorAll('a[name]')).map(e => e.name)),
  showdoc: document.querySelectorAll('.nbdev-showdoc h2, .nbdev-showdoc h3, .nbdev-showdoc h4').length,
  sidebar: Array.from(document.querySelectorAll('#sidebar a[href]')).map(a => a.href),
  sheets: Array.from(document.querySelectorAll('link[rel=stylesheet]')).map(l => !!l.sheet),
  highlighted: document.querySelectorAll('.highlight span').length,
}));
"""


def _status(url):
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method='HEAD'), timeout=10) as r: return r.status
    except urllib.error.HTTPError as e: return e.code


def module_pages(nbs: Path, site: Path):
    "Pages (site-relative) of the notebooks that export a module (`#| default_exp`): each needs an API section."
    from nbdev.config import nbpath2html
    res, problems = [], []
    for nb in sorted(nbs.rglob('*.ipynb')):
        rel = nb.relative_to(nbs)
        if any(p[0] in '._' for p in rel.parts): continue
        cells = json.loads(nb.read_text())['cells']
        if not any(c['cell_type'] == 'code' and re.search(r'^#\|\s*default_exp\s', ''.join(c['source']), re.M)
                   for c in cells): continue
        cands = [nbpath2html(rel).as_posix(), rel.with_suffix('.html').as_posix()]
        page = next((c for c in cands if (site/c).exists()), None)
        if page: res.append(page)
        else: problems.append(f'{rel}: no page ({" or ".join(cands)})')
    return res, problems


def check_site(drv, base: str, site: Path, api_pages=()):
    "Visit every page of `site` served at `base`; return (problems, what each page held)."
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html'))
    problems, info, statuses = [], {}, {}
    drv.get_log('browser')  # drop what earlier visits logged
    for page in pages:
        drv.get(base + page)
        info[page] = d = drv.execute_async_script(_PAGE_JS)
        for e in drv.get_log('browser'):
            if e['level'] == 'SEVERE' and base in e['message']: problems.append(f'{page}: console: {e["message"]}')
        if not all(d['sheets']): problems.append(f'{page}: a stylesheet did not load')
        for img in d['imgs']:
            if (img['src'].startswith(base) or img['src'].startswith('data:')) and not img['w']:
                problems.append(f'{page}: image did not load: {img["src"][:120]}')
    for page, d in info.items():
        for href in d['links']:
            if not href.startswith(base): continue
            url, _, frag = href.partition('#')
            target = url[len(base):].split('?')[0]
            if target == '' or target.endswith('/'): target += 'index.html'
            if url not in statuses: statuses[url] = _status(url)
            if statuses[url] != 200: problems.append(f'{page}: broken link {href} (HTTP {statuses[url]})'); continue
            if frag and target in info and urllib.request.unquote(frag) not in info[target]['ids']:
                problems.append(f'{page}: broken anchor {href}')
    for page in api_pages:
        if page not in info: problems.append(f'{page}: missing')
        elif not info[page]['showdoc']: problems.append(f'{page}: a module page without its API section (show_doc)')
    return problems, info


def _sidebar_pages(info, base, page='index.html'):
    return [h[len(base):] for h in info[page]['sidebar'] if h.startswith(base)]


def screenshot(drv, base, tmp_path):
    "The home page at 1280x900: to $EVA_FASTAI_DOCS_SCREENSHOT (else the test's temp dir) and /tmp/docs_home.png."
    drv.set_window_size(1280, 900)
    drv.get(base + 'index.html')
    dest = Path(os.environ.get('EVA_FASTAI_DOCS_SCREENSHOT') or tmp_path/'docs_home.png')
    dest.parent.mkdir(parents=True, exist_ok=True)
    assert drv.save_screenshot(str(dest)), dest
    if dest.resolve() != Path('/tmp/docs_home.png'): shutil.copy(dest, '/tmp/docs_home.png')
    return dest


def test_site_in_browser(browser, tmp_path):
    "The real site, from whatever notebooks nbs/ holds now."
    site = build_docs.build_site(tmp_path/'site', ROOT/'nbs', verbose=False)
    api_pages, problems = module_pages(ROOT/'nbs', site)
    with serve(site) as base:
        more, info = check_site(browser, base, site, api_pages)
        problems += more
        assert 'index.html' in info, 'no home page'
        side = _sidebar_pages(info, base)
        assert side and side[0] == 'index.html', f'the sidebar must start with the home page: {side}'
        missing = sorted(set(info) - set(side))
        assert not missing, f'pages not in the sidebar: {missing}'
        tops, folders = [i for i, p in enumerate(side) if '/' not in p], [i for i, p in enumerate(side) if '/' in p]
        assert not folders or max(tops) < min(folders), f'top-level notebooks come before folders: {side}'
        shot = screenshot(browser, base, tmp_path)
    assert not problems, '\n'.join(problems)
    assert shot.stat().st_size > 10_000


# ---------------------------------------------------------------------------- the checks themselves, on small sites
def _nb(cells):
    import nbformat
    nb = nbformat.v4.new_notebook(metadata={'kernelspec': {'name': 'python3', 'language': 'python',
                                                           'display_name': 'Python 3'}})
    for kind, src, *outs in cells:
        c = (nbformat.v4.new_markdown_cell if kind == 'md' else nbformat.v4.new_code_cell)(src)
        if outs: c.outputs = outs[0]
        nb.cells.append(c)
    return nbformat.writes(nb)


def _png_output():
    import base64, io
    from PIL import Image
    buf = io.BytesIO()
    Image.new('RGB', (64, 48), (200, 30, 30)).save(buf, 'PNG')
    import nbformat
    return [nbformat.v4.new_output('display_data', data={'image/png': base64.b64encode(buf.getvalue()).decode(),
                                                           'text/plain': '<Figure size 64x48>'})]


def make_project(root: Path):
    "A tiny nbdev project: a home page, a module notebook (export, hidden cell, a plot) and a tutorial in a folder."
    (root/'nbs'/'tutorials').mkdir(parents=True)
    (root/'demolib').mkdir()
    (root/'demolib'/'__init__.py').write_text('__version__ = "0.0.1"\n')
    (root/'pyproject.toml').write_text('[project]\nname = "demolib"\nversion = "0.0.1"\ndescription = "A demo"\n'
                                       '[tool.nbdev]\nlib_path = "demolib"\nnbs_path = "nbs"\ndoc_path = "_docs"\n'
                                       'custom_sidebar = false\n')
    (root/'nbs'/'index.ipynb').write_text(_nb([
        ('md', '# demolib\n\n> The home page'),
        ('md', 'See [the core module](00_core.ipynb) and [the walkthrough](tutorials/01_walk.ipynb).')]))
    (root/'nbs'/'00_core.ipynb').write_text(_nb([
        ('code', '#| default_exp core'),
        ('md', '# Core\n\n> The core module'),
        ('code', '#| export\ndef greet(name: str):\n    "Say hello to `name`."\n    return f"hello {name}"'),
        ('code', '#| hide\nSECRET_HIDDEN_CELL = 1'),
        ('md', '## A plot\n\nBack to [the home page](index.ipynb); see also [greet](#greet).'),
        ('code', 'plot()', _png_output())]))
    (root/'nbs'/'01_extra.ipynb').write_text(_nb([('md', '# Extra\n\n> More'), ('code', 'x = 1')]))
    (root/'nbs'/'tutorials'/'01_walk.ipynb').write_text(_nb([
        ('md', '# Walkthrough'), ('md', 'Uses [`greet`](../00_core.ipynb#greet).')]))
    return root/'nbs'


def test_offline_build_renders_api_images_links(browser, tmp_path):
    "A small project through the same build and checks: API section, a plot, links across folders, sidebar order."
    nbs = make_project(tmp_path/'proj')
    site = build_docs.build_site(tmp_path/'site', nbs, verbose=False)
    core = (site/'core.html').read_text()
    assert 'SECRET_HIDDEN_CELL' not in core and 'nbdev-showdoc' in core and '#| export' not in core
    assert list((site/'core_files').glob('*.png')), 'the plot is written next to its page'
    api_pages, problems = module_pages(nbs, site)
    assert api_pages == ['core.html'] and not problems
    with serve(site) as base:
        problems, info = check_site(browser, base, site, api_pages)
        assert not problems, '\n'.join(problems)
        assert _sidebar_pages(info, base) == ['index.html', 'core.html', 'extra.html', 'tutorials/walk.html']
        assert _sidebar_pages(info, base, 'tutorials/walk.html') == _sidebar_pages(info, base)
        assert info['core.html']['showdoc'] and info['core.html']['highlighted']
        assert any(i['w'] == 64 for i in info['core.html']['imgs'])
        assert base + 'core.html#greet' in info['tutorials/walk.html']['links']


def test_checks_catch_a_broken_site(browser, tmp_path):
    "The checks fail on a broken link, a broken anchor, a missing image and a module page without API section."
    site = tmp_path/'broken'
    site.mkdir()
    (site/'index.html').write_text('<a href="gone.html">x</a> <a href="core.html#nowhere">y</a> '
                                   '<img src="missing.png"> <a href="core.html">ok</a>')
    (site/'core.html').write_text('<h1 id="core">Core</h1><p>no API here</p>')
    with serve(site) as base:
        problems, _ = check_site(browser, base, site, ['core.html'])
    text = '\n'.join(problems)
    for what in ('broken link', 'broken anchor', 'image did not load', 'without its API section'): assert what in text, text
