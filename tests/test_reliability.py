"""Reliability of `eva-fastai`: bad input gets a clear error, an interrupted run loses nothing.

Real processes, as a user runs them (like tests/test_cli.py), on tiny data: a 2-class image folder built in
`tmp_path` and small stratified subsets of the local CIFAR-10. A user error exits 2 with ONE line on stderr that names
the problem and the fix, and no traceback; a diverged run exits 1; Ctrl-C exits 130 and `--resume` finishes the run."""
import json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest
from PIL import Image

from conftest import ROOT, EXE, data_path, cli, one_line_error

pytestmark = pytest.mark.xdist_group('reliability')   # its module-scoped fixture is made once, in one worker

NO_DATA = '/no/such/path'

# every training here is tiny: CIFAR-10 subsets, or the whole 2-class folder (16 train images, so a batch of 4)
TINY = ['--subset', '200', '--test-subset', '100', '--bs', '50', '--epochs', '1', '--no-lr-find', '--no-tta',
        '--arch', 'resnet9', '--precision', 'fp32']
FOLDER = [*TINY[:4], '--bs', '4', *TINY[6:]]

def user_error(r, *must):
    "A user error: exit 2, one line saying what was wrong and (after ';') what to do, containing each of `must`."
    line = one_line_error(r, 2)
    assert '; ' in line, f'no fix given: {line}'
    for m in must: assert m in line, f'{m!r} not in: {line}'
    return line

def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-4000:])
    assert 'Traceback' not in r.stderr, r.stderr
    return r

# ---- a tiny image-folder data set: train/ and test/, 2 classes, 32x32 PNGs

CLASSES = ('cat', 'dog')

def _png(path, seed, ci=0, size=(32, 32)):
    a = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    a[..., ci] = 255   # the classes differ in colour, so there is something to learn
    Image.fromarray(a).save(path)

def make_folder(root, n_train=8, n_test=4, classes=CLASSES) -> Path:
    root = Path(root)
    for split, n in (('train', n_train), ('test', n_test)):
        for ci, c in enumerate(classes):
            d = root/split/c; d.mkdir(parents=True, exist_ok=True)
            for i in range(n): _png(d/f'{i}.png', seed=1000*(split == 'test') + 100*ci + i, ci=ci % 3)
    return root

def n_rows(csv): return len(Path(csv).read_text().strip().splitlines()) - 1

@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    "A finished 1-epoch run on the 2-class folder: (folder, run folder)."
    base = tmp_path_factory.mktemp('tiny')
    ds, out = make_folder(base/'ds'), base/'run'
    ok(cli('train', '--data', ds, '--out', out, *FOLDER))
    assert (out/'model.pkl').is_file() and (out/'results.json').is_file()
    return ds, out

# ---- --data problems

def test_unreadable_data_path(tmp_path):
    ds = make_folder(tmp_path/'ds')
    ds.chmod(0)
    try:
        if os.access(ds, os.R_OK):
            pytest.skip(f'running as uid {os.geteuid()} (root): chmod 000 does not stop it reading {ds}, '
                        'so an unreadable --data cannot be produced here')
        user_error(cli('train', '--data', ds, '--out', tmp_path/'r', *FOLDER), str(ds), 'permission')
    finally: ds.chmod(0o755)

def _no_classes(ds):
    for s in ('train', 'test'): shutil.rmtree(ds/s); (ds/s).mkdir()
def _other_classes(ds): (ds/'test'/'dog').rename(ds/'test'/'bird')
def _empty_class(ds):
    for f in (ds/'test'/'dog').iterdir(): f.unlink()

@pytest.mark.parametrize('spoil,must', [
    (_no_classes, ['no class folders']),
    (_other_classes, ['class folders differ', 'bird', 'dog']),
    (_empty_class, ['without images', 'dog']),
], ids=['no-class-folders', 'classes-differ', 'empty-class'])
def test_bad_data_folder(tmp_path, spoil, must):
    ds = make_folder(tmp_path/'ds'); spoil(ds)
    user_error(cli('train', '--data', ds, '--out', tmp_path/'r', *FOLDER), *must)
    assert not (tmp_path/'r'/'results.json').exists()

def test_too_few_images_for_a_batch(tmp_path):
    "16 training images and --bs 50: a training epoch would have no batch at all; that is a user error, not a NaN."
    ds = make_folder(tmp_path/'ds')
    user_error(cli('train', '--data', ds, '--out', tmp_path/'r', *TINY), '--bs')

# ---- broken image files: skipped with a warning by default, refused with --strict

def _spoil_images(ds):
    "4 unreadable files in train/, 1 in test/; also a non-image file that is not an image by name (ignored)."
    good = (ds/'train'/'cat'/'0.png').read_bytes()
    (ds/'train'/'cat'/'truncated.png').write_bytes(good[:100])
    (ds/'train'/'cat'/'zero.png').write_bytes(b'')
    (ds/'train'/'dog'/'text.png').write_text('this is not a PNG\n')
    bad = bytearray(good); bad[60:400] = bytes(340)
    (ds/'train'/'dog'/'corrupt.png').write_bytes(bytes(bad))
    (ds/'test'/'dog'/'empty.jpg').write_bytes(b'')
    (ds/'train'/'dog'/'notes.txt').write_text('labels by hand\n')

def test_broken_images_are_skipped_and_told(tmp_path):
    "Skipped files are told where the user looks, even with Python's warnings silenced: one stdout line, results.json, report.md."
    ds = make_folder(tmp_path/'ds'); _spoil_images(ds)
    out = tmp_path/'run'
    r = ok(cli('train', '--data', ds, '--out', out, *FOLDER, env={'PYTHONWARNINGS': 'ignore'}))
    line = [l for l in r.stdout.splitlines() if 'unreadable image file' in l]
    assert len(line) == 1 and line[0].startswith('skipped 5 unreadable image file(s)'), r.stdout[-3000:]
    assert 'UserWarning' not in r.stderr, r.stderr
    res = json.loads((out/'results.json').read_text())
    assert res['n_train'] == 16 and res['n_test'] == 8
    sk = res['skipped_files']
    assert sk['count'] == 5 and len(sk['files']) == 5, sk
    paths = {f['path']: f['reason'] for f in sk['files']}
    assert str(ds/'train'/'cat'/'truncated.png') in paths and str(ds/'test'/'dog'/'empty.jpg') in paths, paths
    assert all(paths.values()), paths                         # each with its reason
    assert 'Skipped 5 unreadable image file(s)' in (out/'report.md').read_text()

def test_broken_images_strict(tmp_path):
    ds = make_folder(tmp_path/'ds'); _spoil_images(ds)
    user_error(cli('train', '--data', ds, '--out', tmp_path/'run', *FOLDER, '--strict'),
               '4 unreadable image file(s)', 'truncated.png', '--strict')
    assert not (tmp_path/'run'/'results.json').exists()

# ---- unusual but valid images: every one decoded, the run succeeds

def _odd_images(d, ci):
    import cv2
    rng = np.random.default_rng(ci)
    rgb = lambda h, w: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb(32, 32)).convert('L').save(d/'gray.png')
    Image.fromarray(rgb(32, 32)).convert('LA').save(d/'gray_alpha.png')
    Image.fromarray(rgb(32, 32)).convert('RGBA').save(d/'rgba.png')
    Image.fromarray(rgb(32, 32)).convert('P', palette=Image.ADAPTIVE, colors=16).save(d/'palette.png')
    Image.fromarray(rgb(32, 32)).convert('1').save(d/'bilevel.png')
    Image.fromarray(rng.integers(0, 65536, (32, 32), dtype=np.uint16)).save(d/'gray16.png')       # I;16
    cv2.imwrite(str(d/'rgb16.png'), rng.integers(0, 65536, (32, 32, 3), dtype=np.uint16))        # 48-bit RGB
    Image.fromarray(rgb(48, 40)).save(d/'40x48.png')
    Image.fromarray(rgb(20, 64)).convert('L').save(d/'64x20_gray.png')
    Image.fromarray(rgb(32, 32)).convert('CMYK').save(d/'cmyk.jpg')

def test_odd_image_modes_and_sizes(tmp_path):
    ds = make_folder(tmp_path/'ds', n_train=2, n_test=1)
    for split in ('train', 'test'):
        for ci, c in enumerate(CLASSES): _odd_images(ds/split/c, ci)
    modes = {Image.open(f).mode for f in ds.rglob('*.*')}
    assert {'L', 'LA', 'RGBA', 'P', '1', 'RGB', 'CMYK'} <= modes and modes & {'I;16', 'I'}, modes
    out = tmp_path/'run'
    r = ok(cli('train', '--data', ds, '--out', out, *FOLDER, '--size', '32'))
    assert 'unreadable' not in r.stderr, r.stderr
    res = json.loads((out/'results.json').read_text())
    assert res['n_train'] == 2*12 and res['n_test'] == 2*11

# ---- invalid settings are rejected before any data is read

@pytest.mark.parametrize('args,must', [
    (['--epochs', '0'], 'epochs'), (['--epochs', '-1'], 'epochs'),
    (['--bs', '0'], 'bs'), (['--bs', '-8'], 'bs'),
    (['--arch', 'vgg16'], 'arch'), (['--preset', 'nope'], 'preset'), (['--precision', 'fp8'], 'precision'),
    (['--lr-max', '0'], 'lr_max'), (['--lr-max', '-1'], 'lr_max'), (['--lr-max', 'nan'], 'lr_max'),
    (['--pct-start', '0'], 'pct_start'), (['--pct-start', '1'], 'pct_start'), (['--pct-start', '1.5'], 'pct_start'),
], ids=lambda v: ' '.join(v) if isinstance(v, list) else None)
def test_bad_setting_before_data(tmp_path, args, must):
    line = user_error(cli('train', '--data', NO_DATA, '--out', tmp_path/'r', *args), must, args[1])
    assert NO_DATA not in line, line
    assert not (tmp_path/'r').exists()   # nothing created either

def test_config_file_unknown_keys(tmp_path):
    cfg = tmp_path/'bad.json'
    cfg.write_text(json.dumps({'epochs': 1, 'learning_rate': 0.1, 'batchsize': 64}))
    line = user_error(cli('train', '--config', cfg, '--data', NO_DATA, '--out', tmp_path/'r'), 'learning_rate', 'batchsize')
    assert NO_DATA not in line and 'epochs' not in line, line

# ---- the output folder

def test_overwrite_finished_run(tiny_run, tmp_path):
    "A finished run is replaced with --overwrite (that one is refused without it is in test_cli.py)."
    ds, src = tiny_run
    out = tmp_path/'run'; shutil.copytree(src, out)
    ok(cli('train', '--data', ds, '--out', out, *FOLDER, '--epochs', '2', '--overwrite'))
    assert n_rows(out/'history.csv') == 2   # the old run's row is gone, not appended to
    res = json.loads((out/'results.json').read_text())
    assert res['epochs'] == 2 and len(res['history']) == 2

def test_output_folder_not_writable(tmp_path):
    (tmp_path/'somefile').write_text('a regular file\n')
    out = tmp_path/'somefile'/'run'
    user_error(cli('train', '--data', make_folder(tmp_path/'ds'), '--out', out, *FOLDER), str(out), '--out')

# ---- predict / evaluate given something that is not a model, or data with other classes

@pytest.fixture
def not_models(tmp_path, tiny_run):
    import torch
    (tmp_path/'notes.txt').write_text('not a model\n')
    torch.save({'weight': torch.zeros(2, 3)}, tmp_path/'weights.pth')
    (tmp_path/'model.pkl').write_bytes(b'\x80\x04garbage')   # the right name, the wrong content
    return [tmp_path/'notes.txt', tmp_path/'weights.pth', tmp_path/'model.pkl', tiny_run[1]/'models'/'best.pth']

def test_predict_not_a_model(tiny_run, not_models):
    "Each names the file and the safe model to pass; a pickle is not opened without --trust-pickle, and then it is checked."
    img = tiny_run[0]/'test'/'cat'/'0.png'
    for m in not_models: user_error(cli('predict', m, img), str(m), 'model.json')
    user_error(cli('predict', not_models[2], img, '--trust-pickle'), str(not_models[2]), 'not an exported eva_fastai model')

def test_evaluate_not_a_model(tiny_run, not_models):
    for m in not_models[:3]:
        user_error(cli('evaluate', m, '--data', tiny_run[0]), str(m), 'model.json')

def test_evaluate_other_classes(tiny_run):
    "A cat/dog model evaluated on CIFAR-10: the classes differ."
    user_error(cli('evaluate', tiny_run[1], '--data', data_path(), '--test-subset', '100'),
               'classes', "'cat'", "'airplane'", 'same classes')

# ---- a diverging run: exit 1, one line, the last good checkpoint kept and loadable

def _no_half_written(out):
    assert not list(out.rglob('.*.tmp*')), list(out.rglob('.*.tmp*'))   # atomic writes leave no temp files

def test_nan_after_a_good_epoch(tmp_path):
    """The seed schedule steps the LR per epoch: with div 1e8, epoch 0 trains at lr_max/1e8 = 0.01 (finite), epoch 1 at
    ~7.5e5 and the loss becomes NaN."""
    import torch
    out = tmp_path/'run'
    line = one_line_error(cli('train', '--data', data_path(), '--out', out, *TINY, '--arch', 'custom_resnet',
                              '--epochs', '3', '--pct-start', '0.5', '--div', '1e8', '--lr-max', '1e6'), code=1)
    assert 'NaN' in line and '--lr-max' in line and str(out/'models'/'checkpoint.pth') in line, line
    assert not (out/'results.json').exists() and not (out/'model.pkl').exists()
    ck = torch.load(out/'models'/'checkpoint.pth', map_location='cpu', weights_only=True)
    assert ck['epoch'] == 0 and all(torch.isfinite(v).all() for v in ck['model'].values() if v.is_floating_point())
    assert n_rows(out/'history.csv') == 1
    _no_half_written(out)

def test_nan_in_the_first_epoch(tmp_path):
    "lr_max 1e6 diverges within the first epoch: there is no good epoch to keep, and the message says what to do."
    out = tmp_path/'run'
    line = one_line_error(cli('train', '--data', data_path(), '--out', out, *TINY, '--arch', 'custom_resnet',
                              '--epochs', '2', '--lr-max', '1e6'), code=1)
    assert 'NaN' in line and '--lr-max' in line, line
    assert not (out/'results.json').exists() and not (out/'model.pkl').exists()
    assert not (out/'models'/'checkpoint.pth').exists()
    _no_half_written(out)

# ---- Ctrl-C, then --resume

def test_ctrl_c_and_resume(tmp_path):
    import torch
    out = tmp_path/'run'
    args = ['train', '--data', data_path(), '--out', out, *TINY, '--epochs', '3']
    with open(tmp_path/'stdout', 'w') as so, open(tmp_path/'stderr', 'w') as se:
        p = subprocess.Popen([EXE, *map(str, args)], cwd=ROOT, stdout=so, stderr=se)
        ckpt, t0 = out/'models'/'checkpoint.pth', time.time()
        while not ckpt.exists() and p.poll() is None and time.time() - t0 < 600: time.sleep(0.2)
        assert p.poll() is None, 'the run ended before it could be interrupted'
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=300)
    r = subprocess.CompletedProcess(args, rc, (tmp_path/'stdout').read_text(), (tmp_path/'stderr').read_text())
    line = one_line_error(r, code=130)
    assert '--resume' in line and str(out) in line, line
    assert not (out/'results.json').exists()
    assert torch.load(ckpt, map_location='cpu', weights_only=True)['epoch'] in (0, 1)
    r = ok(cli(*args, '--resume'))
    assert 'resuming' in r.stdout
    assert n_rows(out/'history.csv') == 3
    res = json.loads((out/'results.json').read_text())
    assert res['epochs'] == 3 and len(res['history']) == 3

# ---- two processes extracting the same archive into the same fresh cache

def test_concurrent_extraction(tmp_path):
    archive = data_path()
    if not Path(archive).is_file(): pytest.skip(f'{archive} is a folder, not an archive: nothing to extract')
    env = {**os.environ, 'EVA_FASTAI_CACHE': str(tmp_path/'cache')}
    code = f"from eva_fastai.data import cifar_root; print(cifar_root({archive!r}))"
    ps = [subprocess.Popen([sys.executable, '-c', code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True) for _ in range(2)]
    res = [p.communicate(timeout=900) for p in ps]
    for p, (so, se) in zip(ps, res): assert p.returncode == 0 and 'Traceback' not in se, se[-3000:]
    roots = [so.strip().splitlines()[-1] for so, _ in res]
    assert roots[0] == roots[1], roots
    root = Path(roots[0])
    assert root.is_dir() and str(root).startswith(str(tmp_path/'cache'))
    for split, n in (('train', 5000), ('test', 1000)):
        classes = [e for e in os.scandir(root/split) if e.is_dir()]
        assert len(classes) == 10, sorted(e.name for e in classes)
        counts = {e.name: sum(1 for f in os.scandir(e.path) if f.is_file()) for e in classes}
        assert set(counts.values()) == {n}, counts
    # no half-extracted leftovers beside it
    assert not [p for p in (tmp_path/'cache'/'extracted').iterdir() if '.tmp' in p.name]

# ---- short runs: they train, or say before training why they cannot

def test_short_seed_run_trains_or_says_why(tmp_path):
    """The default preset for 2 epochs on 2,000 images (30 steps): its warm-up steps per batch, and since that is still
    too short to leave chance behind (measured: 9 to 10%), it says so before training, with what to do."""
    out = tmp_path/'run'
    r = ok(cli('train', '--data', data_path(), '--subset', '2000', '--test-subset', '500', '--epochs', '2', '--no-lr-find',
               '--no-tta', '--out', out))
    assert "stepping per batch" in r.stdout, r.stdout[-2000:]
    res = json.loads((out/'results.json').read_text())
    notes = [l for l in r.stdout.splitlines() if l.startswith('note: only 30 training steps')]
    assert res['test_accuracy'] > 0.25 or (len(notes) == 1 and '--epochs' in notes[0]), (res['test_accuracy'], r.stdout[-2000:])
    assert not notes or r.stdout.index(notes[0]) < r.stdout.index('train_loss')   # told before training
