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
    """`python -m build` makes a wheel that installs into a fresh virtualenv and runs outside the repo.

    The fresh venv sees this environment's packages (installed from `constraints.txt`) through a `.pth` file, so
    `pip check` tests the wheel's requirements against the pinned versions without unpacking torch again (that took
    3 of CI's 20 minutes); the wheel itself, its entry point and its modules are installed into the fresh venv."""
    subprocess.run([sys.executable, '-m', 'build', '--wheel', '--no-isolation', '--outdir', str(tmp_path/'dist'), str(ROOT)],
                   check=True, capture_output=True)
    whl = next((tmp_path/'dist').glob('eva_fastai-*.whl'))
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)   # pip comes through deps.pth
    py = str(venv/'bin'/'python')
    site = subprocess.run([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], capture_output=True, text=True).stdout.strip()
    deps = [p for p in map(Path, sys.path) if p.name == 'site-packages' and str(p).startswith(sys.prefix)]
    # the repo's own editable install must not be seen: the test is about the wheel
    (Path(site)/'deps.pth').write_text('\n'.join(map(str, deps)) + '\n')
    r = subprocess.run([py, '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', str(whl)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([py, '-m', 'pip', 'check'], capture_output=True, text=True)   # the wheel's requirements, met by the pins
    assert r.returncode == 0, r.stdout[-3000:]
    r = subprocess.run([str(venv/'bin'/'eva-fastai'), '--help'], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and 'train' in r.stdout, r.stderr[-3000:]
    r = subprocess.run([py, '-c', 'import eva_fastai.recipe as r, eva_fastai; print(eva_fastai.__file__)'],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and str(venv) in r.stdout, (r.stdout, r.stderr[-3000:])
