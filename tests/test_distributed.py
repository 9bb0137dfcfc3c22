"""The recipe data-parallel over 2 CPU processes (gloo), started by `torchrun` exactly as the distributed docs page shows."""
import json, os, subprocess, sys
from pathlib import Path

EXE = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2', '-m', 'eva_fastai.cli']

from conftest import data_path

def torchrun(*args, cwd, timeout=900):
    # one torch thread per process: two processes share this machine's 2 cores; no GPU, so gloo
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'CUDA_VISIBLE_DEVICES': '', 'MPLBACKEND': 'Agg'}
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)

def test_two_processes_train_one_run(tmp_path):
    # 384 training images: 192 per process at 32 each (global batch 64); 101 test images do not split evenly
    r = torchrun('train', '--preset', 'smoke', '--epochs', '1', '--subset', '384', '--test-subset', '101', '--bs', '64',
                 '--data', data_path(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-4000:]
    runs = list((tmp_path/'runs').iterdir())
    assert len(runs) == 1, runs                          # both processes agreed on one run folder (rank 0's)
    out = runs[0]
    res = json.loads((out/'results.json').read_text())
    assert res['world_size'] == 2 and res['bs'] == 64
    assert [p['rank'] for p in res['processes']] == [0, 1]                  # both ranks trained...
    assert [p['train_images'] for p in res['processes']] == [192, 192]      # ...each on its half of the data
    assert res['n_test'] == 101                          # gathered: every test image counted exactly once
    assert 0 <= res['test_accuracy'] <= 1 and res['lr_find']               # rank 0's LR finder ran
    assert (out/'model.pkl').exists() and (out/'lr_find.png').exists() and (out/'confusion_matrix.png').exists()
    assert r.stdout.count('test accuracy') == 1          # one process reports
    assert len((out/'history.csv').read_text().splitlines()) == 2          # one writer: header + one epoch

def test_user_error_stops_every_process(tmp_path):
    r = torchrun('train', '--preset', 'smoke', '--bs', '63', '--data', data_path(), cwd=tmp_path, timeout=300)
    assert r.returncode != 0
    errs = [l for l in r.stderr.splitlines() if l.startswith('eva-fastai: error:')]
    assert len(errs) == 2 and all('multiple of 2' in e for e in errs), r.stderr[-3000:]
    assert 'Traceback' not in r.stderr.split('eva-fastai: error:')[0]      # no traceback from our processes
    assert not (tmp_path/'runs').exists()                # nothing written
