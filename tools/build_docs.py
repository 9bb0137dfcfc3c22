#!/usr/bin/env python
"""Build the docs site and README.md from the notebooks in `nbs/`.

    python tools/build_docs.py            # site + README.md            (make docs)
    python tools/build_docs.py --readme   # README.md only              (make readme)
    python tools/build_docs.py --engine offline --out DIR --no-readme   # what tests/test_docs.py runs

Site. With `quarto` on the PATH this runs nbdev's own `nbdev-docs` (into `_docs/`, configured by `nbs/_quarto.yml`
and `nbs/nbdev.yml`). Without Quarto it builds an offline site into `_site/`:

1. nbdev's processing (`nbdev.serve.proc_nbs`, the engine of `nbdev-proc-nbs`, into `_proc/`, only the notebooks that
   changed): frontmatter, hidden and exported cells removed, `show_doc` cells added and run, names linked to their docs.
   It runs in a child process, with one change to nbdev's processors (`docs_filter`): a cell that mixes imports with
   other code (a test that trains, say) has only its imports run, where nbdev would run it whole. So no notebook is
   executed: only exports, imports and `show_doc` run, and every other cell keeps its stored outputs.
2. nbconvert renders every processed notebook with a small template: the Quarto cell options nbdev leaves in the cells
   (`echo`, `output`, `include`, `code-fold`) are honoured, code is highlighted by Pygments, plots become files next
   to their page (`<page>_files/`), show_doc output is marked `.nbdev-showdoc`.
3. A page shell adds the sidebar (nbdev's own sidebar order: index first, then the numbered notebooks, then folders
   such as `tutorials/`), a table of contents, relative links between pages (nbdev's links to the hosted docs and
   links to `.ipynb` files included) and the stylesheet.

The Quarto build gets the same first step, so `nbdev-docs` finds `_proc/` up to date and only renders it.

README.md is always built without Quarto (`nbdev-readme` needs it): nbdev processes `index.ipynb` (the `readme_nb`)
afresh and nbconvert's MarkdownExporter writes it as markdown, hidden cells removed.
"""
from __future__ import annotations

import argparse, contextlib, io, os, re, shutil, subprocess, sys, tempfile, time, urllib.parse
from pathlib import Path, PurePosixPath

import yaml

_PAGE_RE = r'\.(?:ipynb|qmd|md|html)$'  # pages, like nbdev's sidebar (`_def_file_re`) plus plain markdown


# ---------------------------------------------------------------------------------------------------------- project
def get_cfg(nbs=None):
    "nbdev's config for the project holding `nbs` (default: the one around the current folder)."
    from nbdev.config import get_config
    cfg = get_config(str(Path(nbs).resolve()) if nbs else None)
    nbs_path = Path(nbs).resolve() if nbs else Path(cfg.nbs_path)
    return cfg, nbs_path


@contextlib.contextmanager
def _cwd(path):
    "nbdev's processors call `get_config()` without a path, so they must run in the project root."
    old = os.getcwd()
    os.chdir(path)
    try: yield
    finally: os.chdir(old)


def _doc_base(cfg) -> str:
    "The hosted docs URL nbdev writes into links (`doc_host` + `doc_baseurl`), with a trailing slash."
    host, base = cfg.get('doc_host') or '', cfg.get('doc_baseurl') or ''
    return (host.rstrip('/') + '/' + base.strip('/')).rstrip('/') + '/' if host else ''


# ------------------------------------------------------------------------------------- Quarto syntax for nbconvert
_LINK_ATTR = re.compile(r'\[([^\]\n]+)\]\(([^)\s]+)\)\{([^}\n]*)\}')
_ATTR_KV = re.compile(r'([\w-]+)=("[^"]*"|\S+)|\.([\w-]+)|#([\w-]+)')
_FENCE_OPEN = re.compile(r'^:::+\s*\{([^}]*)\}\s*$|^:::+\s*([\w-]+)\s*$')
_FENCE_CLOSE = re.compile(r'^:::+\s*$')
_CODE_FENCE = re.compile(r'^\s*(```|~~~)')


def _link_attrs(m):
    "`[text](url){target=\"_blank\" .cls}` (pandoc link attributes, used by show_doc) -> an HTML link."
    import html
    attrs, classes = [], []
    for k, v, cls, id_ in _ATTR_KV.findall(m.group(3)):
        if cls: classes.append(cls)
        elif id_: attrs.append(f'id="{html.escape(id_)}"')
        elif k: attrs.append(f'{k}="{html.escape(v.strip(chr(34)))}"')
    if classes: attrs.append(f'class="{" ".join(classes)}"')
    return f'<a href="{html.escape(m.group(2))}" {" ".join(attrs)}>{m.group(1)}</a>'


def quarto_md(src: str) -> str:
    "Translate the pandoc/Quarto markdown extensions nbdev emits (link attributes, `:::` divs) to CommonMark + HTML."
    out, in_code = [], False
    for line in src.split('\n'):
        if _CODE_FENCE.match(line): in_code = not in_code
        if in_code: out.append(line); continue
        m = _FENCE_OPEN.match(line)
        if m:
            spec = m.group(1) if m.group(1) is not None else '.' + m.group(2)
            classes = ' '.join(c[1:] for c in spec.split() if c.startswith('.'))
            out += [f'<div class="{classes}">', '']
        elif _FENCE_CLOSE.match(line): out += ['', '</div>']
        else: out.append(_LINK_ATTR.sub(_link_attrs, line))
    return '\n'.join(out)


_OPT = re.compile(r'^#\|\s?(.*)$')


def split_cell_options(src: str):
    "The Quarto `#| key: value` options at the top of a code cell, and the code without them."
    lines, opts = src.split('\n'), {}
    i = 0
    while i < len(lines) and _OPT.match(lines[i]):
        try:
            d = yaml.safe_load(_OPT.match(lines[i]).group(1))
            if isinstance(d, dict): opts.update(d)
        except yaml.YAMLError: pass
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')


def _false(v): return v is False or str(v).lower() == 'false'


def _nbconvert_preprocessor():
    from nbconvert.preprocessors import Preprocessor

    class QuartoCellOptions(Preprocessor):
        "Apply the Quarto cell options nbdev leaves in processed notebooks, as Quarto would; mark `show_doc` cells."
        def preprocess(self, nb, resources):
            cells = []
            for cell in nb.cells:
                if cell.cell_type == 'markdown':
                    cell.source = quarto_md(cell.source)
                elif cell.cell_type == 'code':
                    opts, cell.source = split_cell_options(cell.source)
                    if _false(opts.get('include', True)): continue
                    meta = cell.metadata.setdefault('nbdev', {})
                    if re.match(r'\s*show_doc\(', cell.source): meta['showdoc'] = True
                    if _false(opts.get('echo', True)) or not cell.source.strip():
                        cell.metadata['transient'] = {'remove_source': True}
                    if _false(opts.get('output', True)): cell.outputs = []
                    if opts.get('code-fold') not in (None, False, 'false'):
                        meta['code_fold'] = str(opts['code-fold']).lower()
                        meta['code_summary'] = opts.get('code-summary', 'Code')
                    for o in cell.get('outputs', []):
                        md = o.get('data', {}).get('text/markdown')
                        if md is not None: o['data']['text/markdown'] = quarto_md(''.join(md))
                    if not cell.source.strip() and not cell.get('outputs'): continue
                elif cell.cell_type == 'raw' and cell.source.lstrip().startswith('---'): continue  # frontmatter
                cells.append(cell)
            nb.cells = cells
            return nb, resources

    return QuartoCellOptions()


def read_nb(path):
    "A processed notebook, without what nbformat's schema rejects (execnb's timings, nbdev's `has_sd` marks)."
    import json, nbformat
    d = json.loads(Path(path).read_text(encoding='utf-8'))
    keys = {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}
    for cell in d.get('cells', []):
        for k in set(cell) - keys: del cell[k]
        cell.get('metadata', {}).pop('execution', None)
    return nbformat.reads(json.dumps(d), as_version=4)


def frontmatter(nb) -> dict:
    "The YAML frontmatter nbdev's FrontmatterProc put in the first raw cell (title, description, output-file)."
    for cell in nb.cells:
        if cell.cell_type == 'raw' and cell.source.lstrip().startswith('---'):
            body = cell.source.strip().strip('-').strip()
            try: return yaml.safe_load(body) or {}
            except yaml.YAMLError: return {}
    return {}


# ------------------------------------------------------------------------------------------------------ processing
def _imports_only(cell):
    """The import statements of a cell that nbdev's `exec_show_docs` would run whole only because it contains an
    import, though it also does other work (a test that trains, say); None for every other cell."""
    import ast
    from nbdev.processors import _do_eval, _show_docs
    if cell.cell_type != 'code' or not _do_eval(cell): return None
    if cell.directives_.keys() & {'export', 'exports', 'exporti', 'exec_doc'}: return None
    trees = cell.parsed_() or []
    if _show_docs(trees) or all(isinstance(t, (ast.Import, ast.ImportFrom)) for t in trees): return None
    return '\n'.join(ast.unparse(t) for t in trees if isinstance(t, (ast.Import, ast.ImportFrom)))


def docs_filter():
    """nbdev's `FilterDefaults` (every processor, in nbdev's order) with one change, so that a docs build never
    executes a notebook: a cell that mixes imports with other code has only its imports run (nbdev runs it whole and
    warns "Found cells containing imports and other code"); exports, imports and `show_doc` cells run as in nbdev."""
    from nbdev.processors import FilterDefaults, exec_show_docs

    class exec_show_docs_imports(exec_show_docs):
        def __call__(self, cell):
            src = _imports_only(cell)
            if src is None: return super().__call__(cell)
            if not self.nb.has_docs_ or not hasattr(self, 'k'): return
            self.k.run(src)
            if self.k.exc: raise Exception(f'Error in cell {cell.idx_}:\n{src}\n{type(self.k.exc).__name__}: {self.k.exc}')

    class DocsFilter(FilterDefaults):
        def base_procs(self): return [exec_show_docs_imports if p is exec_show_docs else p for p in super().base_procs()]
    return DocsFilter


@contextlib.contextmanager
def _nbdev_processing(cfg):
    "Run nbdev's processing in the project root, in this process (so that `docs_filter` applies), quietly."
    import warnings
    import nbdev.serve
    old = nbdev.serve.FilterDefaults
    nbdev.serve.FilterDefaults = docs_filter()
    try:
        with _cwd(cfg.config_path), warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='Found cells containing imports and other code')
            yield
    finally: nbdev.serve.FilterDefaults = old


def _child(*args):
    """nbdev's processing runs in a child process: it starts an IPython shell per notebook (and imports the library),
    which must not leak into the caller (a test session, say)."""
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), '--_process', *map(str, args)])
    if r.returncode: raise SystemExit(f'nbdev processing failed ({" ".join(map(str, args))}), see above')


def _process_here(mode, nbs, dest='', force=False):
    "The child's side of `_child`: serial, in this process, so that `docs_filter` applies."
    cfg, nbs_path = get_cfg(nbs)
    with _nbdev_processing(cfg):
        if mode == 'all':
            from nbdev.serve import proc_nbs
            proc_nbs(str(nbs_path), n_workers=0, force=force)
        else:
            from nbdev import serve_drv
            serve_drv.main((Path(nbs_path)/mode, Path(dest)/Path(mode).name, docs_filter()))
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(0)  # done: skip the IPython shells' exit hooks (a full garbage collection each, seconds in all)


def process_nbs(cfg, nbs_path, force=False):
    "nbdev's processing (`proc_nbs`, the engine of `nbdev-proc-nbs`) into `_proc/`, reprocessing changed notebooks."
    _child('all', nbs_path, '', int(force))
    return Path(cfg.config_path)/'_proc'


def process_one(cfg, src: Path, dest_dir: Path) -> Path:
    "nbdev's processing of one notebook into `dest_dir`, always fresh (what proc_nbs does for each notebook)."
    nbs_path = Path(src).parent
    _child(Path(src).relative_to(nbs_path).as_posix(), nbs_path, dest_dir, 0)
    return Path(dest_dir)/Path(src).name


# ----------------------------------------------------------------------------------------------------------- README
def readme_markdown(nbs=None):
    "README.md's text (and extracted output files) from the processed `readme_nb` (index.ipynb)."
    from nbconvert import MarkdownExporter
    from nbconvert.preprocessors import ExtractOutputPreprocessor
    cfg, nbs_path = get_cfg(nbs)
    src = nbs_path/cfg.get('readme_nb', 'index.ipynb')
    with tempfile.TemporaryDirectory() as d:
        nb = read_nb(process_one(cfg, src, Path(d)))
    fm = frontmatter(nb)
    exp = MarkdownExporter(exclude_input_prompt=True, exclude_output_prompt=True)
    exp.register_preprocessor(_nbconvert_preprocessor(), enabled=True)
    exp.register_preprocessor(ExtractOutputPreprocessor(enabled=True), enabled=True)
    body, res = exp.from_notebook_node(nb, resources={'output_files_dir': f'{src.stem}_files', 'unique_key': src.stem})
    body = _readme_links(body, cfg, src.parent, nbs_path)
    head = f"# {fm.get('title', cfg.get('title', src.stem))}\n\n"
    if fm.get('description'): head += f"> {fm['description']}\n\n"
    text = re.sub(r'\n{3,}', '\n\n', head + body).strip() + '\n'
    return text, res.get('outputs', {})


def _readme_links(md, cfg, page_dir, nbs_path):
    "Links to other notebooks point at their hosted docs page (as nbdev's readme filter does); files next to the notebook (images) at their path from the repo root."
    base = _doc_base(cfg)
    from nbdev.config import nbpath2html
    root = Path(cfg.config_path).resolve()
    def f(m):
        url = m.group(2)
        path, _, frag = url.partition('#')
        if re.match(r'^[a-z][\w+.-]*:', path) or not path or path.startswith('/'): return m.group(0)
        if not re.search(r'\.(ipynb|qmd)$', path):
            p = (page_dir/path).resolve()
            return f'{m.group(1)}({p.relative_to(root).as_posix()})' if p.is_file() and root in p.parents else m.group(0)
        if not base: return m.group(0)
        rel = (page_dir/path).resolve().relative_to(nbs_path)
        return f'{m.group(1)}({base}{nbpath2html(rel).as_posix()}{"#"+frag if frag else ""})'
    return re.sub(r'(\[[^\]]*\])\(([^)\s]+)\)', f, md)


def write_readme(nbs=None) -> Path:
    cfg, _ = get_cfg(nbs)
    text, outputs = readme_markdown(nbs)
    dest = Path(cfg.config_path)/'README.md'
    for name, data in outputs.items():
        p = Path(cfg.config_path)/name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    if not dest.exists() or dest.read_text() != text: dest.write_text(text)
    return dest


# ------------------------------------------------------------------------------------------------------------- site
def sidebar_contents(cfg, nbs_path):
    "The sidebar as Quarto would get it: `nbs/sidebar.yml` with a custom sidebar, else what `nbdev-sidebar` writes."
    custom = nbs_path/'sidebar.yml'
    if cfg.get('custom_sidebar') and custom.exists(): yml = custom.read_text()
    else:
        from nbdev.quarto import nbdev_sidebar
        buf = io.StringIO()
        with _cwd(cfg.config_path), contextlib.redirect_stdout(buf):
            nbdev_sidebar.__wrapped__(path=str(nbs_path), printit=True, force=True, file_glob=None,
                                      file_re=r'\.(?:ipynb|qmd|html)$')
        yml = buf.getvalue()
    return ((yaml.safe_load(yml) or {}).get('website', {}).get('sidebar', {}) or {}).get('contents', []) or []


def _pandoc_id(text: str) -> str:
    "Pandoc's (so Quarto's) automatic heading identifier, which nbdev's doc links point at."
    s = ''.join(c for c in text.strip() if c.isalnum() or c in '_-. \n')
    s = re.sub(r'\s+', '-', s).lower()
    while s and not s[0].isalpha(): s = s[1:]
    return s or 'section'


def _relurl(target: str, page: str) -> str:
    "`target` (site-relative posix path) as a URL relative to `page`."
    return os.path.relpath(target, os.path.dirname(page) or '.').replace(os.sep, '/')


class Page:
    def __init__(self, src_rel: PurePosixPath, proc: Path, out_rel: str, title: str, description: str, nb):
        self.src_rel, self.proc, self.out_rel, self.title, self.description, self.nb = \
            src_rel, proc, out_rel, title, description, nb


def _load_pages(cache: Path, nbs_path: Path):
    "Every page (notebook, .qmd/.md, .html) in `nbs/` that nbdev processed, by its path relative to `nbs/`."
    from nbdev.doclinks import nbglob
    pages = {}
    for f in nbglob(str(nbs_path), func=Path, file_glob=None, file_re=_PAGE_RE):
        rel = PurePosixPath(f.relative_to(nbs_path).as_posix())
        proc = cache/rel
        if not proc.exists(): continue
        if f.suffix == '.ipynb':
            nb = read_nb(proc)
            fm = frontmatter(nb)
        else:
            nb, text = None, proc.read_text()
            m = re.match(r'^---\s*\n(.*?)\n---\s*\n', text, re.S)
            fm = (yaml.safe_load(m.group(1)) or {}) if m and f.suffix != '.html' else {}
        out = fm.get('output-file') or rel.with_suffix('.html').name
        out_rel = str(rel.parent/out) if str(rel.parent) != '.' else out
        pages[str(rel)] = Page(rel, proc, out_rel, str(fm.get('title') or rel.stem), str(fm.get('description') or ''), nb)
    return pages


def _sidebar_html(contents, pages, cur: Page) -> str:
    import html
    def items(entries):
        res = []
        for e in entries:
            if isinstance(e, str) or (isinstance(e, dict) and 'href' in e and 'section' not in e):
                key = e if isinstance(e, str) else e['href']
                p = pages.get(str(PurePosixPath(key)))
                if p is None:
                    if isinstance(e, dict) and re.match(r'^https?://', key):
                        res.append(f'<li><a href="{html.escape(key)}">{html.escape(e.get("text", key))}</a></li>')
                    continue
                text = e.get('text', p.title) if isinstance(e, dict) else p.title
                active = ' class="active" aria-current="page"' if p is cur else ''
                res.append(f'<li><a href="{_relurl(p.out_rel, cur.out_rel)}"{active}>{html.escape(text)}</a></li>')
            elif isinstance(e, dict) and 'section' in e:
                head = html.escape(str(e['section']).replace('_', ' '))
                href = e.get('href')
                if href and str(PurePosixPath(href)) in pages:
                    p = pages[str(PurePosixPath(href))]
                    head = f'<a href="{_relurl(p.out_rel, cur.out_rel)}">{head}</a>'
                res.append(f'<li class="section"><span class="section-title">{head}</span>'
                           f'<ul>{"".join(items(e.get("contents", [])))}</ul></li>')
        return res
    return '<ul>' + ''.join(items(contents)) + '</ul>'


def _postprocess(body: str, page: Page, pages: dict, doc_base: str):
    "Pandoc-style heading ids, links to hosted docs and to notebooks made relative, and the page's TOC."
    from bs4 import BeautifulSoup
    soup = BeautifulSoup(body, 'html.parser')
    seen, toc = {}, []
    for h in soup.find_all(['h1', 'h2', 'h3', 'h4', 'h5', 'h6']):
        for a in h.find_all('a', class_='anchor-link'): a.decompose()
        text = h.get_text(' ', strip=True)
        hid = _pandoc_id(text)
        if hid in seen: seen[hid] += 1; hid = f'{hid}-{seen[hid]}'
        else: seen[hid] = 0
        h['id'] = hid
        link = soup.new_tag('a', attrs={'class': 'anchor-link', 'href': f'#{hid}', 'aria-hidden': 'true'})
        link.string = '#'
        h.append(link)
        if h.name in ('h2', 'h3'): toc.append((h.name, hid, text))
    by_out = {p.out_rel: p for p in pages.values()}
    page_dir = PurePosixPath(page.src_rel).parent
    for a in soup.find_all('a', href=True):
        href = a['href']
        if doc_base and href.startswith(doc_base):
            target, _, frag = href[len(doc_base):].partition('#')
            target = target or 'index.html'
            if target.endswith('.html.md') or target.endswith('.md'): target = re.sub(r'\.md$', '', target)
            if target in by_out: a['href'] = _relurl(target, page.out_rel) + (f'#{frag}' if frag else '')
        elif not re.match(r'^([a-z][\w+.-]*:|#|/)', href):
            path, _, frag = href.partition('#')
            if re.search(r'\.(ipynb|qmd|md)$', path):
                key = str(PurePosixPath(os.path.normpath(str(page_dir/path))))
                if key in pages: a['href'] = _relurl(pages[key].out_rel, page.out_rel) + (f'#{frag}' if frag else '')
        if re.match(r'^https?://', a['href']) and not a.get('target'): a['target'] = '_blank'
    refs = set()
    for tag, attr in (('img', 'src'), ('a', 'href'), ('source', 'src'), ('video', 'src'), ('audio', 'src'),
                      ('iframe', 'src'), ('object', 'data')):
        for el in soup.find_all(tag, attrs={attr: True}):
            url = el[attr].partition('#')[0].partition('?')[0]
            if url and not re.match(r'^([a-z][\w+.-]*:|/)', url):
                ref = os.path.normpath(str(page_dir/urllib.parse.unquote(url)))
                if not ref.startswith('..'): refs.add(ref)
    return str(soup), toc, refs


_TEMPLATE = r"""{%- extends 'basic/index.html.j2' -%}
{% block codecell %}
{%- if cell.metadata.get('nbdev', {}).get('showdoc') -%}
<div class="nbdev-showdoc">
{{ super() }}
</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock codecell %}
{% block input_group -%}
{%- set fold = cell.metadata.get('nbdev', {}).get('code_fold') -%}
{%- if fold -%}
<details class="code-fold"{% if fold == 'show' %} open{% endif %}><summary>{{ cell.metadata.nbdev.code_summary | e }}</summary>
{{ super() }}
</details>
{%- else -%}
{{ super() }}
{%- endif -%}
{% endblock input_group %}
"""

_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ page.title }} – {{ site_title }}</title>
{% if page.description %}<meta name="description" content="{{ page.description }}">{% endif %}
<meta name="generator" content="eva_fastai tools/build_docs.py (nbdev + nbconvert)">
<link rel="stylesheet" href="{{ root }}assets/docs.css">
<link rel="icon" href="{{ root }}assets/favicon.svg" type="image/svg+xml">
</head>
<body>
<header class="navbar">
  <a class="brand" href="{{ root }}index.html">{{ site_title }}</a>
  {% if repo_url %}<a class="repo" href="{{ repo_url }}" target="_blank">GitHub</a>{% endif %}
</header>
<div class="layout">
  <nav class="sidebar" id="sidebar" aria-label="Pages">{{ sidebar | safe }}</nav>
  <main class="content" id="quarto-document-content">
    <header class="page-header">
      <h1 class="title">{{ page.title }}</h1>
      {% if page.description %}<p class="description">{{ description | safe }}</p>{% endif %}
    </header>
    {{ body | safe }}
  </main>
  <nav class="toc" id="toc" aria-label="On this page">
    {% if toc %}<h2>On this page</h2>
    <ul>{% for level, hid, text in toc %}<li class="toc-{{ level }}"><a href="#{{ hid }}">{{ text }}</a></li>{% endfor %}</ul>{% endif %}
  </nav>
</div>
</body>
</html>
"""

_CSS = r"""
:root { --primary: #2780e3; --text: #212529; --muted: #6c757d; --border: #dee2e6; --code-bg: #f6f8fa; }
* { box-sizing: border-box; }
html { scroll-padding-top: 4.5rem; }
body { margin: 0; font: 16px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--text); background: #fff; }
a { color: var(--primary); text-decoration: none; } a:hover { text-decoration: underline; }
.navbar { position: sticky; top: 0; z-index: 10; display: flex; align-items: center; gap: 1rem; height: 3.5rem;
          padding: 0 1.5rem; background: var(--primary); color: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.15); }
.navbar a { color: #fff; } .navbar .brand { font-weight: 600; font-size: 1.2rem; } .navbar .repo { margin-left: auto; }
.layout { display: grid; grid-template-columns: 15rem minmax(0, 1fr) 13rem; gap: 1.75rem; max-width: 90rem; margin: 0 auto; }
.sidebar, .toc { position: sticky; top: 3.5rem; align-self: start; max-height: calc(100vh - 3.5rem); overflow-y: auto;
                 padding: 1.5rem 0 2rem; font-size: .92rem; }
.sidebar { padding-left: 1.5rem; border-right: 1px solid var(--border); }
.sidebar ul, .toc ul { list-style: none; margin: 0; padding: 0; }
.sidebar li a { display: block; padding: .25rem .75rem; border-radius: .3rem; color: var(--text); }
.sidebar li a:hover { background: #f1f3f5; text-decoration: none; }
.sidebar li a.active { color: var(--primary); font-weight: 600; background: #e9f2fc; }
.sidebar .section-title { display: block; margin-top: .75rem; padding: .25rem .75rem; font-weight: 600;
                          text-transform: capitalize; color: var(--muted); }
.sidebar .section ul { padding-left: .75rem; }
.toc h2 { font-size: .85rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 .5rem; }
.toc li a { display: block; padding: .15rem 0 .15rem .75rem; border-left: 2px solid var(--border); color: var(--muted); }
.toc li.toc-h3 a { padding-left: 1.5rem; font-size: .85rem; }
.content { min-width: 0; padding: 1.5rem 0 4rem; }
.page-header { margin-bottom: 1.5rem; padding-bottom: 1rem; border-bottom: 1px solid var(--border); }
.page-header .title { margin: 0; font-size: 2.2rem; }
.page-header .description { margin: .5rem 0 0; color: var(--muted); font-size: 1.1rem; }
h2 { margin-top: 2rem; padding-bottom: .25rem; border-bottom: 1px solid var(--border); }
h1, h2, h3, h4 { line-height: 1.25; }
.anchor-link { margin-left: .4rem; color: var(--border); visibility: hidden; }
h1:hover .anchor-link, h2:hover .anchor-link, h3:hover .anchor-link, h4:hover .anchor-link { visibility: visible; }
code { font: .875em/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
:not(pre) > code { padding: .1em .3em; border-radius: .25rem; background: #f1f3f5; color: #c7254e; }
a > code { color: inherit; }
pre { margin: 0; padding: .75rem 1rem; overflow-x: auto;
      font: .85rem/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; }
.highlight { margin: .75rem 0; border-radius: .375rem; background: var(--code-bg); border: 1px solid #eaecef; }
.highlight pre { background: transparent; }
.cell { margin: 1rem 0; }
.input_area .highlight { border-left: 3px solid var(--primary); }
.output_area { margin: .25rem 0 .75rem; }
.output_area pre, .output_text pre { background: #fff; border: 1px solid #eee; border-radius: .375rem; }
.output_stderr pre { background: #fff5f5; }
.output_png img, .output_jpeg img, .output_svg img, .content img { max-width: 100%; height: auto; }
.output_html { overflow-x: auto; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .92rem; }
th, td { border: 1px solid var(--border); padding: .35rem .6rem; text-align: left; vertical-align: top; }
th { background: #f8f9fa; }
blockquote { margin: 1rem 0; padding: .25rem 1rem; border-left: 4px solid var(--border); color: var(--muted); }
details.code-fold > summary { cursor: pointer; color: var(--muted); font-size: .9rem; }
.nbdev-showdoc { margin: 1.5rem 0; padding: .25rem 1.25rem .5rem; border: 1px solid var(--border); border-radius: .5rem;
                 box-shadow: 0 1px 2px rgba(0,0,0,.05); }
.nbdev-showdoc hr { display: none; }
.nbdev-showdoc h3, .nbdev-showdoc h4 { margin: .75rem 0 .5rem; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.nbdev-showdoc .highlight { border-left: 3px solid #6f42c1; }
.callout-note, .callout-tip, .callout-warning, .callout-important, .callout-caution, .callout {
  margin: 1rem 0; padding: .5rem 1rem; border-left: 4px solid var(--primary); background: #f3f8fe; border-radius: .25rem; }
.callout-warning, .callout-caution { border-color: #ff9800; background: #fff8e6; }
.callout-important { border-color: #dc3545; background: #fdf2f3; }
.callout-tip { border-color: #198754; background: #f1f9f4; }
.ansi-bold { font-weight: bold; } .ansi-red-fg { color: #c0392b; } .ansi-green-fg { color: #1e8449; }
.ansi-yellow-fg { color: #b7950b; } .ansi-blue-fg { color: #2471a3; } .ansi-magenta-fg { color: #8e44ad; }
.ansi-cyan-fg { color: #138d90; }
@media (max-width: 72rem) { .layout { grid-template-columns: 14rem minmax(0, 1fr); } .toc { display: none; } }
@media (max-width: 48rem) { .layout { display: block; padding: 0 1rem; } .sidebar { position: static; max-height: none;
  border-right: 0; border-bottom: 1px solid var(--border); padding-left: 0; } }
"""


_FAVICON = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" '
            'fill="#2780e3"/><text x="8" y="12" font-size="10" text-anchor="middle" fill="#fff" '
            'font-family="sans-serif">e</text></svg>')


def _html_exporter():
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import ExtractOutputPreprocessor
    exp = HTMLExporter(template_name='basic', template_file='nbdev_page.html.j2',
                       extra_loaders=[jinja2.DictLoader({'nbdev_page.html.j2': _TEMPLATE})],
                       exclude_input_prompt=True, exclude_output_prompt=True, anchor_link_text='#')
    exp.register_preprocessor(_nbconvert_preprocessor(), enabled=True)
    exp.register_preprocessor(ExtractOutputPreprocessor(enabled=True), enabled=True)
    return exp


def _css():
    from pygments.formatters import HtmlFormatter
    return _CSS + '\n' + HtmlFormatter(style='default').get_style_defs('.highlight') + '\n'


def build_site(out=None, nbs=None, force=False, verbose=True) -> Path:
    "The offline site: nbdev's processing, nbconvert, a sidebar page shell. Returns the output folder."
    import jinja2
    from nbconvert.filters import markdown2html_mistune
    cfg, nbs_path = get_cfg(nbs)
    root = Path(cfg.config_path)
    out = Path(out).resolve() if out else root/'_site'
    if out in (root, nbs_path, Path.home()) or (out/'pyproject.toml').exists() or out in nbs_path.parents:
        raise SystemExit(f'refusing to write the site into {out}')
    t0 = time.time()
    cache = process_nbs(cfg, nbs_path, force=force)
    if verbose: print(f'nbdev processing: {time.time()-t0:.1f}s -> {cache}')
    pages = _load_pages(cache, nbs_path)
    contents = sidebar_contents(cfg, nbs_path)
    if out.exists(): shutil.rmtree(out)
    out.mkdir(parents=True)
    (out/'assets').mkdir(exist_ok=True)
    (out/'assets'/'docs.css').write_text(_css())
    (out/'assets'/'favicon.svg').write_text(_FAVICON)
    exp = _html_exporter()
    shell = jinja2.Environment(autoescape=True).from_string(_PAGE)
    doc_base, site_title = _doc_base(cfg), cfg.get('title', cfg.get('lib_name', 'docs'))
    for page in pages.values():
        dest = out/page.out_rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if page.nb is not None:
            stem = Path(page.out_rel).stem
            body, res = exp.from_notebook_node(page.nb, resources={
                'output_files_dir': f'{stem}_files', 'unique_key': stem,
                'metadata': {'path': str(page.proc.parent), 'name': stem}})
            for name, data in res.get('outputs', {}).items():
                (dest.parent/name).parent.mkdir(parents=True, exist_ok=True)
                (dest.parent/name).write_bytes(data)
        elif page.proc.suffix == '.html':
            shutil.copy2(page.proc, dest); continue
        else:
            text = re.sub(r'^---\s*\n.*?\n---\s*\n', '', page.proc.read_text(), count=1, flags=re.S)
            body = markdown2html_mistune(quarto_md(text))
        body, toc, refs = _postprocess(body, page, pages, doc_base)
        for ref in refs:  # files next to the notebooks that a page shows or links to (images, data) keep their place
            f = (cache/ref).resolve()
            if f.is_file() and cache.resolve() in f.parents and not (out/ref).exists():
                (out/ref).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, out/ref)
        root_rel = _relurl('.', page.out_rel)
        description = re.sub(r'^<p>|</p>$', '', markdown2html_mistune(page.description).strip())
        dest.write_text(shell.render(page=page, body=body, toc=toc, site_title=site_title, description=description,
                                     sidebar=_sidebar_html(contents, pages, page), repo_url=cfg.get('git_url'),
                                     root='' if root_rel == '.' else root_rel + '/'))
    if verbose: print(f'offline site: {len(pages)} pages in {time.time()-t0:.1f}s -> {out}')
    return out


def build_quarto(nbs=None, force=False):
    """The real thing: nbdev's `nbdev-docs` (Quarto), into `doc_path` (`_docs/`). The notebooks are processed first,
    as for the offline site (`docs_filter`), so nbdev-docs finds `_proc/` up to date and only renders it."""
    if not shutil.which('quarto'): raise SystemExit('quarto is not on the PATH: use --engine offline (or auto)')
    cfg, nbs_path = get_cfg(nbs)
    process_nbs(cfg, nbs_path, force=force)
    exe = Path(sys.executable).parent/'nbdev-docs'
    cmd = [str(exe) if exe.exists() else 'nbdev-docs'] + (['--path', str(nbs_path)] if nbs else [])
    subprocess.run(cmd, cwd=cfg.config_path, check=True)
    return Path(cfg.doc_path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--readme', action='store_true', help='only regenerate README.md from index.ipynb')
    ap.add_argument('--no-readme', action='store_true', help='only build the site')
    ap.add_argument('--engine', choices=['auto', 'quarto', 'offline'], default='auto',
                    help='auto: Quarto (nbdev-docs) when `quarto` is on the PATH, else the offline build')
    ap.add_argument('--out', help='output folder of the offline site (default: _site)')
    ap.add_argument('--nbs', help="notebooks folder (default: nbs_path from pyproject.toml's [tool.nbdev])")
    ap.add_argument('--force', action='store_true', help='reprocess every notebook (ignore the _proc/ cache)')
    ap.add_argument('--_process', nargs=4, help=argparse.SUPPRESS)  # internal: see `_child`
    a = ap.parse_args(argv)
    if a._process:
        mode, nbs, dest, force = a._process
        return _process_here(mode, nbs, dest, force=bool(int(force)))
    t0 = time.time()
    if not a.readme:
        engine = a.engine if a.engine != 'auto' else ('quarto' if shutil.which('quarto') else 'offline')
        if engine == 'quarto': print(f'Quarto site: {build_quarto(a.nbs, force=a.force)}')
        else: build_site(a.out, a.nbs, force=a.force)
    if not a.no_readme: print(f'README: {write_readme(a.nbs)}')
    print(f'done in {time.time()-t0:.1f}s')


if __name__ == '__main__':
    main()
