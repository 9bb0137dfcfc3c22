"""What the test files share: the repo root, the `eva-fastai` command run as a user runs it, its one-line errors,
and the local CIFAR-10 copy (`eva_fastai.testing.test_data_path`). Test files import these with `from conftest import ...`."""
import os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent/'eva-fastai')

def data_path() -> str:
    "The local CIFAR-10 copy, as a command-line argument."
    from eva_fastai.testing import test_data_path
    return str(test_data_path())

def cli(*args, timeout=900, env=None, cwd=ROOT):
    "Run `eva-fastai ARGS` in a real process; its `CompletedProcess` with text stdout and stderr."
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})

def one_line_error(r, code=2):
    "The single stderr line of a failed command (exit `code`, no traceback)."
    assert r.returncode == code, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    assert lines[0].startswith('eva-fastai'), lines[0]   # ours: 'eva-fastai: ...'; argparse's: 'eva-fastai train: ...'
    print(f'exit {r.returncode}: {lines[0]}')   # shown with `pytest -rP`
    return lines[0]
