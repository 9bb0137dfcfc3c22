"""The `eva-fastai` command, as a user runs it: a real process on a small real subset of the local CIFAR-10."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest

from conftest import ROOT, EXE, data_path, cli, one_line_error

SMALL = ['--subset', '500', '--test-subset', '200', '--bs', '50', '--no-lr-find', '--no-tta']

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
    (['train', '--preset', 'nope'], "preset='nope' is invalid"),
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
    assert (out/'model.json').exists() and (out/'model.safetensors').exists()
    evs = []
    for model in ([out], [out/'model.pkl', '--trust-pickle']):   # the safe model by default (its other paths: 03b_export)
        r = cli('evaluate', *model, '--data', data_path(), '--test-subset', '100')
        assert r.returncode == 0, r.stderr[-3000:]
        evs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    ev = evs[0]
    assert ev['n_test'] == 100 and 0 <= ev['test_accuracy'] <= 1 and 'tta_accuracy' in ev
    for e in evs[1:]:   # safe and pickled: the same accuracies, the same (label-smoothed) loss
        assert (e['test_accuracy'], e['tta_accuracy']) == (ev['test_accuracy'], ev['tta_accuracy']) and abs(e['test_loss'] - ev['test_loss']) < 1e-4
    from eva_fastai.data import cifar_root
    img = sorted((cifar_root(data_path())/'test'/'ship').iterdir())[0]
    lines = []
    for model in ([out], [out/'model.pkl', '--trust-pickle']):
        r = cli('predict', *model, img, '--topk', '2')
        assert r.returncode == 0, r.stderr[-3000:]
        lines.append(r.stdout.strip().splitlines()[-1])
    assert lines[0].startswith(str(img)) and lines[0].count('%') == 2 and len(set(lines)) == 1, lines
    # a pickle needs consent, and the refusal names the safe file beside it
    msg = one_line_error(cli('predict', out/'model.pkl', img))
    assert '--trust-pickle' in msg and str(out/'model.json') in msg, msg
    # not a model: one line, exit 2
    assert 'not valid JSON' in one_line_error(cli('predict', out/'report.md', img))
    # ONNX, served without torch: onnxruntime gives the network's fp32 logits
    r = cli('export', out, '--onnx')
    assert r.returncode == 0 and (out/'model.onnx').exists(), r.stderr[-3000:]
    import numpy as np, onnxruntime as ort
    from eva_fastai.export import load_safe_model
    sm = load_safe_model(out)
    imgs = sorted((cifar_root(data_path())/'test'/'ship').iterdir())[:8]
    xb = sm.batch(imgs)
    (logits,) = ort.InferenceSession(str(out/'model.onnx'), providers=['CPUExecutionProvider']).run(None, {'image': xb.numpy()})
    import torch
    with torch.no_grad(): ref = sm.model.float().to(memory_format=torch.contiguous_format)(xb).numpy()
    assert np.abs(logits - ref).max() < 1e-3                               # PyTorch's fp32 logits
    # the exported Learner in a fresh process, used as a fastai user would: predict takes what fastai's image
    # Learner takes (str, Path, PIL image, HWC uint8 array, CHW uint8 tensor), with one answer for one picture
    code = f'''
import pathlib, numpy as np, torch, PIL.Image
from fastai.learner import load_learner
learn = load_learner({str(out/'model.pkl')!r})
img = {str(img)!r}
arr = np.array(PIL.Image.open(img))
forms = [img, pathlib.Path(img), PIL.Image.open(img), arr, torch.from_numpy(arr).permute(2, 0, 1)]
res = [learn.predict(f) for f in forms]
print(len(res), len({{str(r[0]) for r in res}}), max(float((r[2] - res[0][2]).abs().max()) for r in res))
'''
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    n, classes, diff = r.stdout.split()[-3:]
    assert (n, classes) == ('5', '1') and float(diff) < 1e-6, r.stdout

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
    assert torch.load(ckpt, map_location='cpu', weights_only=True)['epoch'] >= 0
    # starting again without --resume refuses, and says what to do
    assert '--resume' in one_line_error(cli(*args))
    r = cli(*args, '--resume')
    assert r.returncode == 0, r.stderr[-4000:]
    assert 'resuming' in r.stdout
    res = json.loads((out/'results.json').read_text())
    assert res['epochs'] == 3 and len(res['history']) == 3
    import pandas as pd
    assert len(pd.read_csv(out/'history.csv')) == 3

EVIL = '''
import os, pickle, sys, torch
class Evil:
    def __reduce__(self): return (os.system, (f"echo PWNED > {sys.argv[2]}",))
torch.save({'model': Evil()}, sys.argv[1])
'''

def test_no_code_runs_from_a_model_or_checkpoint(tmp_path):
    "A pickle that runs a command when unpickled, as model.pkl and as a run's checkpoint: exit 2, one line, no command run."
    marker = tmp_path/'pwned.txt'
    evil = tmp_path/'evil.pkl'
    subprocess.run([sys.executable, '-c', EVIL, evil, marker], check=True)
    from eva_fastai.data import cifar_root
    img = sorted((cifar_root(data_path())/'test'/'cat').iterdir())[0]
    for cmd in (['predict', evil, img], ['evaluate', evil, '--data', data_path()], ['export', evil, '--onnx']):
        msg = one_line_error(cli(*cmd))
        assert 'is a pickle' in msg and '--trust-pickle' in msg, msg
        assert not marker.exists()
    # a tampered run folder: --resume reads the checkpoint with weights_only=True
    from eva_fastai.recipe import preset_config, save_config
    run_dir = tmp_path/'run'; (run_dir/'models').mkdir(parents=True)
    save_config(preset_config('smoke', out=str(run_dir), data=data_path(), subset=200, test_subset=100, bs=50), run_dir/'config.json')
    subprocess.run([sys.executable, '-c', EVIL, run_dir/'models'/'checkpoint.pth', marker], check=True)
    msg = one_line_error(cli('train', '--resume', '--out', run_dir, '--data', data_path()))
    assert 'cannot be read safely' in msg and '--overwrite' in msg, msg
    assert not marker.exists()
