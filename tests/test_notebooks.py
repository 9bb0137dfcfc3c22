"""Every notebook in nbs/ is a test module: run each one with nbdev-test, in its own process.

`EVA_FASTAI_SLOW=1` also runs the cells flagged `#| slow` (full data, minutes of training)."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts and not p.name.startswith('_'))

def test_there_are_notebooks():
    assert len(NBS) >= 2, NBS

@pytest.mark.parametrize('nb', NBS, ids=[str(p.relative_to(ROOT/'nbs')) for p in NBS])
def test_notebook(nb):
    cmd = [str(Path(sys.executable).parent/'nbdev-test'), str(nb)]
    if os.environ.get('EVA_FASTAI_SLOW') == '1': cmd += ['--flags', 'slow']
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f'{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}'
