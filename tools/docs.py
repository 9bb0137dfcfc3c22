#!/usr/bin/env python
"""The docs site and README.md from nbs/ (why mkdocs: CONTRIBUTING.md, "Docs").

    python tools/docs.py [--site-dir DIR]   # the site, into _site/ or DIR  (make docs; tests/test_docs.py)
    python tools/docs.py --readme           # README.md from nbs/index.ipynb (make readme)

1. `stage`: nbs/ is copied to _exec/, where the notebooks with figures (EXECUTE) run under `nbdev-test --save` (cells
   flagged `slow`/`notest` skipped); only what changed since the last build is copied and run again.
2. nbdev's processing (`proc_nbs`, as `nbdev-proc-nbs`) of _exec/ into _proc/: hidden cells out, `show_doc` run.
3. `pages`: _proc/ -> _docs/: frontmatter -> title, the Quarto cell options nbdev leaves applied, links to pages.
4. mkdocs (mkdocs-material + mkdocs-jupyter, mkdocs.yml) renders _docs/ in nbdev's sidebar order.
"""
import argparse, json, re, shutil, subprocess, sys, tempfile
from pathlib import Path

import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
EXECUTE = ['01_augment.ipynb', '03_learner.ipynb', '04_plots.ipynb', 'tutorials/session11.ipynb']
_OPT = re.compile(r'^#\|\s?(.*)$')

def config(): return __import__('nbdev.config').config.get_config(str(ROOT))

def doc_base(cfg) -> str:
    "The hosted docs URL nbdev writes into links (`doc_host` + `doc_baseurl`), with a trailing slash."
    return (cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/')).rstrip('/') + '/'

def stage(nbs: Path, dest: Path):
    "Step 1: copy what changed in `nbs` to `dest`; run the changed EXECUTE notebooks there, saving their outputs."
    dest.mkdir(exist_ok=True)
    with FileLock(str(dest/'.stage.lock')):    # the notebook tests and a docs build may stage at the same time
        todo, lib = [], max(p.stat().st_mtime for p in (ROOT/'eva_fastai').glob('*.py'))   # a library change runs them again
        for s in sorted(p for p in nbs.rglob('*') if p.is_file() and not any(o[0] == '.' for o in p.relative_to(nbs).parts)):
            d = dest/s.relative_to(nbs)    # a copy keeps its source's mtime (copy2): only a run copy is newer
            if d.exists() and d.stat().st_mtime > max(s.stat().st_mtime, lib): continue
            d.parent.mkdir(parents=True, exist_ok=True); shutil.copy2(s, d)
            if s.relative_to(nbs).as_posix() in EXECUTE: todo.append(d)
        if not todo: return
        print(f'docs: running {", ".join(d.name for d in todo)}', flush=True)
        r = subprocess.run([BIN/'nbdev-test', str(dest), '--save', '--n-workers', str(min(2, len(todo))), '--file-re',
                            f'^({"|".join(re.escape(d.name) for d in todo)})$', '--skip-folder-re', '^[.]'], cwd=ROOT)
        if r.returncode:
            for d in todo: d.unlink()            # not up to date: run again next time
            sys.exit('docs: a notebook failed (see above)')

def _md(text: str, depth: int, base: str) -> str:
    "Markdown from nbdev's: no pandoc link attributes or `#|` lines; notebook and hosted-docs links relative."
    from nbdev.config import nbpath2html
    text = re.sub(r'^#\|.*\n?', '', text, flags=re.M).replace('](' + base, '](' + '../'*depth)
    text = re.sub(r'(\]\([^)\s]*\))\{[^}\n]*\}', r'\1', text)
    return re.sub(r'\]\(([^)\s:#]+)\.ipynb', lambda m: f']({nbpath2html(m.group(1) + ".ipynb").as_posix()}', text)

def _page(nb: dict, depth: int, base: str) -> dict:
    "Step 3 for one processed notebook (see the module docstring)."
    cells = []
    for c in nb['cells']:
        src = ''.join(c['source'])
        if c['cell_type'] == 'raw' and src.lstrip().startswith('---'):
            fm = yaml.safe_load(src.strip().strip('-')) or {}
            src = f"# {fm.get('title', '')}\n\n" + (f"> {fm['description']}\n" if fm.get('description') else '')
            c = {'cell_type': 'markdown', 'id': c.get('id', 'title'), 'metadata': {}, 'source': src}
        elif c['cell_type'] == 'markdown': c['source'] = _md(src, depth, base)
        elif c['cell_type'] == 'code':
            lines, opts = src.split('\n'), {}
            while lines and _OPT.match(lines[0]):
                o = yaml.safe_load(_OPT.match(lines.pop(0)).group(1))
                if isinstance(o, dict): opts.update({k: str(v).lower() for k, v in o.items()})
            if opts.get('include') == 'false': continue
            c['source'] = '' if opts.get('echo') == 'false' else '\n'.join(lines).strip('\n')
            if opts.get('output') == 'false': c['outputs'] = []
            for o in c.get('outputs', []):
                if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = _md(''.join(o['data']['text/markdown']), depth, base)
            c['metadata'] = {'tags': ['remove_input']} if not c['source'] else {}
            if not c['source'] and not c.get('outputs'): continue
        cells.append(c)
    nb['cells'] = cells
    return nb

def _order(rel: Path): return (len(rel.parts) > 1, rel.stem != 'index', rel.as_posix())

def pages(proc: Path, docs: Path, cfg) -> list:
    "Step 3: _proc/ -> _docs/ (notebooks as pages, other files copied); the pages in nbdev's sidebar order."
    from nbdev.config import nbpath2html
    shutil.rmtree(docs, ignore_errors=True)
    nav = []
    for s in sorted((p for p in proc.rglob('*') if p.is_file()), key=lambda p: _order(p.relative_to(proc))):
        rel = s.relative_to(proc)
        if any(o[0] in '._' for o in rel.parts) or s.suffix in ('.yml', '.txt'): continue
        d = docs/(nbpath2html(rel).with_suffix('.ipynb') if s.suffix == '.ipynb' else rel)
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.suffix != '.ipynb': shutil.copy2(s, d); continue
        d.write_text(json.dumps(_page(json.loads(s.read_text()), len(rel.parts) - 1, doc_base(cfg)), indent=1))
        nav.append(d.relative_to(docs).as_posix())
    return nav

def build_site(site_dir=None):
    "Steps 1-4, one build at a time (_proc/ and _docs/ are shared; the tests may build in two processes); returns the site's folder."
    from nbdev.serve import proc_nbs; import mkdocs.config, mkdocs.commands.build
    cfg = config()
    stage(ROOT/'nbs', ROOT/'_exec')
    with FileLock(str(ROOT/'_exec'/'.build.lock')):
        proc_nbs(str(ROOT/'_exec'))
        nav = pages(ROOT/'_proc', ROOT/'_docs', cfg)
        mk = mkdocs.config.load_config(str(ROOT/'mkdocs.yml'), docs_dir=str(ROOT/'_docs'), nav=nav,
                                       site_dir=str(Path(site_dir or ROOT/'_site').resolve()))
        mkdocs.commands.build.build(mk)
    return Path(mk.site_dir)

# ----------------------------------------------------------------------------------------------------------- README
def readme_markdown(nbs=None) -> str:
    """README.md's text: nbdev's processing of index.ipynb (in a child process: it imports the library), its title
    and description as the heading, then its cells; links to notebooks go to their hosted pages, links to files
    (images) are made relative to the repository root."""
    from nbdev.config import nbpath2html
    nbs, cfg = Path(nbs or ROOT/'nbs').resolve(), config()
    src = nbs/cfg.get('readme_nb', 'index.ipynb')
    with tempfile.TemporaryDirectory() as d:
        code = ('import sys; from pathlib import Path; from nbdev import serve_drv; from nbdev.processors import '
                'FilterDefaults; serve_drv.main((Path(sys.argv[1]), Path(sys.argv[2]), FilterDefaults))')
        subprocess.run([sys.executable, '-c', code, str(src), f'{d}/index.ipynb'], cwd=ROOT, check=True)
        nb = json.loads(Path(f'{d}/index.ipynb').read_text())
    parts = []
    for c in nb['cells']:
        s = re.sub(r'^#\|.*\n?', '', ''.join(c['source']), flags=re.M).strip('\n')
        if c['cell_type'] == 'raw' and s.startswith('---'):
            fm = yaml.safe_load(s.strip('-'))
            parts.append(f"# {fm['title']}" + (f"\n\n> {fm['description']}" if fm.get('description') else ''))
        elif s: parts.append(s if c['cell_type'] == 'markdown' else f'```python\n{s}\n```')

    def link(m):
        path, _, frag = m.group(2).partition('#')
        if not path or path.startswith('/') or re.match(r'^[a-z][\w+.-]*:', path): return m.group(0)
        if path.endswith('.ipynb'):
            rel = (src.parent/path).resolve().relative_to(nbs)
            return f'{m.group(1)}({doc_base(cfg)}{nbpath2html(rel).as_posix()}{"#" + frag if frag else ""})'
        p = (src.parent/path).resolve()
        return f'{m.group(1)}({p.relative_to(ROOT).as_posix()})' if p.is_file() and ROOT in p.parents else m.group(0)
    text = re.sub(r'(\[[^\]]*\])\(([^)\s]+)\)', link, '\n\n'.join(parts))
    return re.sub(r'\n{3,}', '\n\n', text).strip() + '\n'

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--readme', action='store_true', help='only write README.md from nbs/index.ipynb')
    ap.add_argument('--site-dir', help='where the site goes (default: _site/)')
    a = ap.parse_args()
    if a.readme: print('docs:', (ROOT/'README.md').write_text(readme_markdown()) and 'README.md')
    else: print(f'docs: site in {build_site(a.site_dir)}')
