"""One real training epoch through the recipe's DataLoader and Learner, split into data time and compute time.

The DataLoaders are `cifar_dls(test_data_path(), bs, item_tfms=..., batch_tfms=..., subset=...)` (a stratified
subset of the 50,000 training images; `--full` for all) with the 'seed' augmentation preset placed as the recipe's
`aug_on` places it (`--aug-on`, default `auto`: on a CPU `split`, albumentations on the items up to the rotation and
the exact rest on the batch; on a GPU `batch`; `items`, all albumentations; `eva_fastai.augment.preset_tfms` builds
them), the Learner `cifar_learner(dls, precision='auto')`, trained with `fit_schedule(learn, 1)`. Validation is
skipped: only the training phase is measured.

Data time is the time the training loop waits for the next batch: the Learner's training DataLoader is wrapped (in
`before_train`) by an iterator that times every `next()` (iterator start-up included). Compute time is the rest of
the training phase (forward, loss, backward, step, callbacks). The epoch is preceded by a short untimed warm-up fit
(`--warmup` batches) so one-off start-up costs (oneDNN kernels, first calls) do not count as compute.

Run: `.venv/bin/python bench/epoch.py [--subset 10000 | --full] [--bs 512]`. Prints img/s, data and compute time,
the data share of the epoch (target <= 5%) and the process's peak resident memory (target <= 3 GB at bs 512); the
last line is `ratio: X.XX` = data time / epoch time.
"""
from __future__ import annotations
import argparse, contextlib, inspect, io, os, resource, time, warnings
from collections import defaultdict

warnings.filterwarnings('ignore', category=FutureWarning)  # torch.jit.script deprecation noise from an import
import torch
from fastai.basics import Callback, CancelFitException, CancelValidException
from eva_fastai.testing import test_data_path
from eva_fastai.data import cifar_dls, default_workers
from eva_fastai.learner import cifar_learner, fit_schedule
from eva_fastai.augment import aug_places, preset_tfms, resolve_aug_on

try: import psutil
except ImportError: psutil = None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subset', type=int, default=10000, help='training images (stratified subset; default 10000)')
    p.add_argument('--full', action='store_true', help='all 50,000 training images')
    p.add_argument('--bs', type=int, default=512, help='batch size (default 512, the memory target\'s; the seed preset uses 128)')
    p.add_argument('--aug', default='seed', help="augmentation preset for eva_fastai.augment.aug_tfms; 'none' for none")
    p.add_argument('--aug-on', default='auto', choices=aug_places,
                   help="augment the items (albumentations), whole batches (torch), or split: the items up to the last "
                        "transform without an exact batch version, the rest on the batch; auto (the recipe's default): "
                        "batch on a GPU, split on a CPU")
    p.add_argument('--precision', default='auto', help='fp32, bf16 or auto (default auto, the recipe\'s)')
    p.add_argument('--arch', default='custom_resnet')
    p.add_argument('--lr', type=float, default=0.03)
    p.add_argument('--num-workers', type=int, default=None, help='DataLoader workers (default: the recipe\'s, 0 on CPU)')
    p.add_argument('--test-subset', type=int, default=100, help='test images to build (validation is skipped)')
    p.add_argument('--warmup', type=int, default=1, help='untimed warm-up batches before the epoch (default 1)')
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: torch default)')
    return p.parse_args(argv)


def tfms_of(preset, on):
    "The item and batch transforms of `preset` placed by `on` (`eva_fastai.augment.preset_tfms`) and a description of each."
    mode = resolve_aug_on(on)
    if preset in (None, '', 'none'): return mode, None, 'none', None, 'none'
    item_tfms, batch_tfms = preset_tfms(preset, on=mode)
    desc = lambda i: f'preset_tfms({preset!r}, on={mode!r})[{i}](<train stats>)'
    return mode, item_tfms, desc(0) if item_tfms else 'none', batch_tfms, desc(1) if batch_tfms else 'none'


class TimedIter:
    "Wraps a DataLoader: yields its batches, adding the time of each `next()` (and the iterator's start) to `timer`."
    def __init__(self, dl, timer): self.dl, self.timer = dl, timer
    def __len__(self): return len(self.dl)
    def __getattr__(self, k): return getattr(self.dl, k)
    def __iter__(self):
        t = time.perf_counter()
        it = iter(self.dl)
        while True:
            try: b = next(it)
            except StopIteration:
                self.timer.add_wait(time.perf_counter() - t); return
            self.timer.add_wait(time.perf_counter() - t)
            yield b
            t = time.perf_counter()


def _timed(f, tot, key):
    "A function calling `f` and adding its wall time to `tot[key]`."
    def _inner(*args, **kwargs):
        t = time.perf_counter()
        try: return f(*args, **kwargs)
        finally: tot[key] += time.perf_counter() - t
    return _inner

def _timed_class(cls, tot, key):
    "A subclass of `cls` whose `__call__` adds its wall time to `tot[key]`."
    class _Timed(cls):
        def __call__(self, *args, **kwargs):
            t = time.perf_counter()
            try: return super().__call__(*args, **kwargs)
            finally: tot[key] += time.perf_counter() - t
    _Timed.__name__, _Timed.__qualname__ = cls.__name__, cls.__qualname__
    return _Timed

# the stages of a fastai DataLoader batch, in the order they run (only measurable in-process: num_workers=0)
STAGES = {'create_item': 'item: cached image + label (type tfms)', 'after_item': 'item tfms (augmentation, ToTensor)',
          'create_batch': 'collate', 'after_batch': 'batch tfms (IntToFloat, [augmentation,] Normalize)'}

@contextlib.contextmanager
def stage_times(dl, tot):
    """Time the stages of `dl` (in this process) into `tot` while in the block. The transform `Pipeline`s stay the same
    objects (their class is swapped for a timed subclass): the DataLoader sets their `split_idx` when it starts
    iterating, which is what turns the training-only augmentation on."""
    saved = {}
    for k in STAGES:
        f = getattr(dl, k)
        if inspect.ismethod(f) or inspect.isfunction(f):
            saved[k] = ('attr', dl.__dict__.get(k, None), k in dl.__dict__)
            setattr(dl, k, _timed(f, tot, k))
        else:
            saved[k] = ('class', type(f), None)
            f.__class__ = _timed_class(type(f), tot, k)
    try: yield tot
    finally:
        for k, (kind, old, had) in saved.items():
            if kind == 'class': getattr(dl, k).__class__ = old
            elif had: setattr(dl, k, old)
            else: delattr(dl, k)


class DataTimer(Callback):
    "Times the training phase and, through `TimedIter`, the waits for batches; cancels validation."
    order = -100
    def __init__(self, stage_tot=None, sample_workers=False):
        self.waits, self.epoch_secs, self.n_imgs, self.stage_tot = [], None, 0, stage_tot
        self.sample_workers, self.peak_total = sample_workers, 0.   # peak of this process's RSS + the workers' USS
    def add_wait(self, s): self.waits.append(s)
    def before_train(self):
        self.learn.dl = TimedIter(self.learn.dl, self)
        if self.stage_tot is not None: self.stage_tot.clear()
        self.t_start = time.perf_counter()
    def after_batch(self):
        if not self.training: return
        self.n_imgs += len(self.learn.yb[0])
        if self.sample_workers and self.learn.iter % 4 == 1:
            self.peak_total = max(self.peak_total, rss_mb() + workers_uss_mb())
    def after_train(self): self.epoch_secs = time.perf_counter() - self.t_start
    def before_validate(self): raise CancelValidException()


class StopAfter(Callback):
    "Cancel the fit after `n` training batches (the warm-up); skip validation."
    def __init__(self, n): self.n_stop = n
    def after_batch(self):
        if self.training and self.learn.iter + 1 >= self.n_stop: raise CancelFitException()
    def before_validate(self): raise CancelValidException()


def rss_mb():
    return psutil.Process().memory_info().rss / 2**20 if psutil else float('nan')

def workers_uss_mb():
    "The memory the DataLoader worker processes add (their USS: pages no other process shares, so the pages they share with this process by fork are not counted twice)."
    if psutil is None: return float('nan')
    tot = 0
    for c in psutil.Process().children(recursive=True):
        try: tot += c.memory_full_info().uss
        except psutil.Error: pass
    return tot / 2**20


def main(argv=None):
    args = parse_args(argv)
    if args.threads: torch.set_num_threads(args.threads)
    subset = None if args.full else args.subset
    mode, item_tfms, aug_desc, batch_tfms, batch_desc = tfms_of(args.aug, args.aug_on)
    t0 = time.perf_counter()
    dls = cifar_dls(test_data_path(), bs=args.bs, item_tfms=item_tfms, subset=subset, test_subset=args.test_subset,
                    num_workers=args.num_workers, batch_tfms=batch_tfms)
    learn = cifar_learner(dls, arch=args.arch, lr=args.lr, precision=args.precision)
    t_setup = time.perf_counter() - t0
    nw = default_workers() if args.num_workers is None else args.num_workers
    n_train = len(dls.train_ds)
    print(f'epoch: {n_train} training images ({"all" if subset is None else "stratified subset"}), bs={args.bs}, '
          f'{len(dls.train)} batches (drop_last), precision={learn.precision}, arch={args.arch}, num_workers={nw}')
    print(f'augmentation on the {dict(items="items", batch="batch", split="items, then the batch")[mode]}: '
          f'item_tfms {aug_desc}; batch_tfms {batch_desc}')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, '
          f'load average: {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
    print(f'setup (decode/cache, stats, DataLoaders, Learner): {t_setup:.1f} s, RSS {rss_mb():.0f} MB')

    quiet = lambda: contextlib.redirect_stdout(io.StringIO())  # the console progress bar and epoch table
    if args.warmup > 0:
        t0 = time.perf_counter()
        with quiet(): learn.fit(1, lr=args.lr, cbs=StopAfter(args.warmup))
        print(f'warm-up: {args.warmup} batch(es) in {time.perf_counter() - t0:.1f} s, RSS {rss_mb():.0f} MB')

    stage_tot = defaultdict(float)
    timer = DataTimer(stage_tot if nw == 0 else None, sample_workers=nw > 0)
    with quiet(), (stage_times(dls.train, stage_tot) if nw == 0 else contextlib.nullcontext()):
        fit_schedule(learn, 1, cbs=timer)
    epoch, waits = timer.epoch_secs, timer.waits
    data = sum(waits)
    compute = epoch - data
    per_batch = waits[1:-1] or waits  # steady-state waits: without the first (iterator start) and the end-of-data one
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f'epoch (training phase): {epoch:.1f} s for {timer.n_imgs} images = {timer.n_imgs / epoch:.1f} img/s, '
          f'final smooth loss {float(learn.smooth_loss):.3f}')
    print(f'  data time   : {data:7.2f} s  (first batch {waits[0] * 1000:.0f} ms, then {1000 * sum(per_batch) / len(per_batch):.1f} ms '
          f'per batch = {1e6 * sum(per_batch) / len(per_batch) / args.bs:.0f} us per image)')
    if nw == 0:
        for k, desc in STAGES.items():
            print(f'    {desc:42s} {stage_tot[k]:6.2f} s  {1e6 * stage_tot[k] / timer.n_imgs:6.0f} us per image')
        rest = data - sum(stage_tot.values())
        print(f'    {"DataLoader machinery (the rest)":42s} {rest:6.2f} s  {1e6 * rest / timer.n_imgs:6.0f} us per image')
    print(f'  compute time: {compute:7.2f} s  ({1000 * compute / max(len(waits) - 1, 1):.0f} ms per batch)')
    print(f'  data share  : {100 * data / epoch:6.2f} %  (target <= 5 %)')
    if nw > 0:
        print(f'peak memory: {timer.peak_total:.0f} MB = this process\'s RSS + its {nw} worker(s)\' own memory (USS), sampled '
              f'every 4 batches (target <= 3072 MB at bs 512; this run bs {args.bs}); ru_maxrss of this process {peak:.0f} MB, '
              f'of the largest worker {peak_children:.0f} MB (its RSS counts the pages it shares with this process)')
    else:
        print(f'peak RSS: {peak:.0f} MB (ru_maxrss of this process), current {rss_mb():.0f} MB '
              f'(target <= 3072 MB at bs 512; this run bs {args.bs})')
    print(f'ratio: {data / epoch:.2f}')


if __name__ == '__main__':
    main()
