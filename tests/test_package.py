"""The package is what nbdev-export makes of the notebooks, and it installs as a wheel outside the repo."""
import shutil, subprocess, sys, filecmp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def test_package_matches_notebooks(tmp_path):
    "eva_fastai/ was written by nbdev-export from nbs/ and not edited by hand."
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs')
    shutil.copy(ROOT/'pyproject.toml', tmp_path)
    (tmp_path/'eva_fastai').mkdir()
    shutil.copy(ROOT/'eva_fastai'/'__init__.py', tmp_path/'eva_fastai')
    subprocess.run([str(BIN/'nbdev-export')], cwd=tmp_path, check=True, capture_output=True)
    cmp = filecmp.dircmp(ROOT/'eva_fastai', tmp_path/'eva_fastai', ignore=['__pycache__'])
    assert not cmp.diff_files, f'out of step with nbs/ (run nbdev-export): {cmp.diff_files}'
    assert not cmp.right_only, f'not exported yet (run nbdev-export): {cmp.right_only}'
    assert not [f for f in cmp.left_only if f.endswith('.py')], f'modules without a notebook: {cmp.left_only}'

def test_wheel_installs_outside_repo(tmp_path):
    "`python -m build` makes a wheel that installs into a fresh virtualenv and runs outside the repo."
    subprocess.run([sys.executable, '-m', 'build', '--wheel', '--outdir', str(tmp_path/'dist'), str(ROOT)],
                   check=True, capture_output=True)
    whl = next((tmp_path/'dist').glob('eva_fastai-*.whl'))
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    pip = [str(venv/'bin'/'python'), '-m', 'pip', 'install', '-q', '-c', str(ROOT/'constraints.txt'), str(whl)]
    r = subprocess.run(pip, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([str(venv/'bin'/'eva-fastai'), '--help'], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and 'train' in r.stdout, r.stderr[-3000:]
    r = subprocess.run([str(venv/'bin'/'python'), '-c', 'import eva_fastai.recipe as r, eva_fastai; print(eva_fastai.__file__)'],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and str(venv) in r.stdout, r.stderr[-3000:]
