"""The `eva-fastai` command, as a user runs it: a real process on a small real subset of the local CIFAR-10."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent/'eva-fastai')

def data_path():
    from eva_fastai.data import test_data_path
    return str(test_data_path())

SMALL = ['--subset', '500', '--test-subset', '200', '--bs', '50', '--no-lr-find', '--no-tta']

def cli(*args, timeout=900):
    return subprocess.run([EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT)

def one_line_error(r, code=2):
    assert r.returncode == code, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and 'Traceback' not in r.stderr, r.stderr
    return lines[0]

def test_help():
    r = cli('--help')
    assert r.returncode == 0 and all(c in r.stdout for c in ('train', 'lr-find', 'evaluate', 'predict'))
    r = cli('train', '--help')
    assert r.returncode == 0 and '--lr-max' in r.stdout and '--preset' in r.stdout and 'peak learning rate' in r.stdout
    r = cli('lr-find', '--help')   # only the settings the finder uses
    assert r.returncode == 0 and '--wd' in r.stdout and '--suggestion' in r.stdout and '--epochs' not in r.stdout

@pytest.mark.parametrize('args,msg', [
    (['train', '--data', '/no/such/cifar.tgz'], 'no such file or folder'),
    (['train', '--epochs', '0'], 'epochs=0'),
    (['train', '--arch', 'vgg'], "arch='vgg'"),
    (['train', '--preset', 'nope'], "unknown preset 'nope'"),
    (['train', '--bs', 'many'], "invalid int value"),
    (['evaluate', 'no-model.pkl'], 'not found'),
])
def test_bad_input_is_one_line_exit_2(args, msg):
    assert msg in one_line_error(cli(*args))

def test_lr_find(tmp_path):
    r = cli('lr-find', '--preset', 'smoke', '--subset', '200', '--test-subset', '100', '--bs', '50', '--suggestion', 'edge',
            '--out', tmp_path/'lrf', '--data', data_path())
    assert r.returncode == 0, r.stderr[-3000:]
    # "valley: 0.00209 slide: ... edge: 0.0871" then "chosen (edge): 0.0871; plot: ..."
    sugg = dict(re.findall(r'\b(valley|slide|minimum|steep|edge): (\S+)', r.stdout))
    chosen = re.search(r'chosen \(edge\): (\S+);', r.stdout)[1]
    assert 'edge' in sugg and chosen == sugg['edge']            # the asked suggestion is the one chosen
    assert (tmp_path/'lrf'/'lr_find.png').stat().st_size > 0

def test_wrong_data_folder(tmp_path):
    (tmp_path/'junk.tgz').write_bytes(b'not gzip')
    assert 'not a readable' in one_line_error(cli('train', '--data', tmp_path/'junk.tgz', '--out', tmp_path/'r'))
    assert 'no train/ and test/' in one_line_error(cli('train', '--data', tmp_path, '--out', tmp_path/'r2'))
    assert not (tmp_path/'r').exists() and not (tmp_path/'r2').exists()   # a user mistake leaves no run folder behind

def test_train_evaluate_predict(tmp_path):
    out = tmp_path/'run'
    r = cli('train', '--data', data_path(), '--epochs', '1', '--out', out, *SMALL)
    assert r.returncode == 0, r.stderr[-4000:]
    # stdout is a pipe here, as in `eva-fastai train ... > run.log`: the epoch table, but no progress bar drawn per batch
    assert re.search(r'^epoch\s+train_loss\s.*valid_loss', r.stdout, re.M), r.stdout[-2000:]
    assert not re.search(r'\|[█-]{10,}\|', r.stdout), r.stdout[-2000:]
    res = json.loads((out/'results.json').read_text())
    assert res['epochs'] == 1 and res['n_test'] == 200 and 0 <= res['test_accuracy'] <= 1
    assert (out/'model.pkl').exists() and (out/'report.md').exists()
    # a finished run is not overwritten by accident
    assert 'finished run' in one_line_error(cli('train', '--data', data_path(), '--out', out, *SMALL))
    r = cli('evaluate', out/'model.pkl', '--data', data_path(), '--test-subset', '100')
    assert r.returncode == 0, r.stderr[-3000:]
    ev = json.loads(r.stdout.strip().splitlines()[-1])
    assert ev['n_test'] == 100 and 0 <= ev['test_accuracy'] <= 1 and 'tta_accuracy' in ev
    from eva_fastai.data import cifar_root
    img = sorted((cifar_root(data_path())/'test'/'ship').iterdir())[0]
    r = cli('predict', out/'model.pkl', img, '--topk', '2')
    assert r.returncode == 0, r.stderr[-3000:]
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith(str(img)) and line.count('%') == 2
    # not a model: one line, exit 2
    assert 'not an exported eva_fastai model' in one_line_error(cli('predict', out/'report.md', img))

def test_kill_and_resume(tmp_path):
    "A run killed with SIGKILL mid-training resumes from its last completed epoch and finishes the schedule."
    out = tmp_path/'run'
    args = ['train', '--data', data_path(), '--epochs', '3', '--out', out, *SMALL]
    p = subprocess.Popen([EXE, *map(str, args)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt, t0 = out/'models'/'checkpoint.pth', time.time()
    while not ckpt.exists() and p.poll() is None and time.time() - t0 < 600: time.sleep(0.2)
    time.sleep(0.5)   # well inside the second epoch
    assert p.poll() is None, 'the run ended before it could be killed'
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (out/'results.json').exists()
    import torch   # the checkpoint the kill left behind is complete: written to a temp file, then renamed
    assert torch.load(ckpt, map_location='cpu', weights_only=False)['epoch'] >= 0
    # starting again without --resume refuses, and says what to do
    assert '--resume' in one_line_error(cli(*args))
    r = cli(*args, '--resume')
    assert r.returncode == 0, r.stderr[-4000:]
    assert 'resuming' in r.stdout
    res = json.loads((out/'results.json').read_text())
    assert res['epochs'] == 3 and len(res['history']) == 3
    import pandas as pd
    assert len(pd.read_csv(out/'history.csv')) == 3
