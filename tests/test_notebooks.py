"""Every notebook in nbs/ is a test module: run each one with nbdev-test, in its own process.

`EVA_FASTAI_SLOW=1` also runs the cells flagged `#| slow` (full data, minutes of training).

The notebooks whose figures the docs show (`EXECUTE` in tools/docs.py) are run the way the docs build runs them,
`nbdev-test --save` on a copy in _exec/, so one run serves both this test and the site (tests/test_docs.py builds it
in the same worker, `xdist_group('docs')`); a notebook or library change since the last successful run runs it again."""
import importlib.util, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))
_spec = importlib.util.spec_from_file_location('docs', ROOT/'tools'/'docs.py')
docs = importlib.util.module_from_spec(_spec); _spec.loader.exec_module(docs)
SLOW = os.environ.get('EVA_FASTAI_SLOW') == '1'
rel = lambda p: p.relative_to(ROOT/'nbs').as_posix()

def test_there_are_notebooks():
    assert len(NBS) >= 2, NBS

@pytest.mark.parametrize('nb', [pytest.param(p, marks=pytest.mark.xdist_group('docs')) if rel(p) in docs.EXECUTE else p for p in NBS],
                         ids=[rel(p) for p in NBS])
def test_notebook(nb):
    if rel(nb) in docs.EXECUTE and not SLOW:
        try: docs.stage(ROOT/'nbs', ROOT/'_exec')          # runs it (and the other figure notebooks) unless up to date
        except SystemExit as e: pytest.fail(f'{nb.name}: {e}')
        assert json_outputs(ROOT/'_exec'/rel(nb)), f'{nb.name} ran but saved no outputs'
        return
    cmd = [str(Path(sys.executable).parent/'nbdev-test'), str(nb)]
    if SLOW: cmd += ['--flags', 'slow']
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f'{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}'

def json_outputs(path) -> int:
    "How many code cells of the notebook at `path` have outputs."
    import json
    return sum(bool(c.get('outputs')) for c in json.loads(Path(path).read_text())['cells'] if c['cell_type'] == 'code')
