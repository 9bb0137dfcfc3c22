"""Training throughput of the custom ResNet: the eva_fastai `Learner` vs a plain PyTorch loop, in one process.

Both train the same architecture (same initial weights) on the SAME pre-made, normalised float batches held in
memory, at the same batch size, precision (fp32, or bf16 through `torch.autocast`) and memory format (channels-last
model and inputs, as `cifar_learner` sets up). The Learner gets them through a fastai `DataLoader(batches, bs=None)`;
only its training phase is timed (a callback, `before_train` -> `after_train`), so the per-fit setup and the
one-batch validation are left out. The plain loop is `torch.optim.SGD(momentum .9, nesterov, wd 1e-4)` +
`nn.CrossEntropyLoss`, exactly the Learner's optimizer and loss.

The machine may be shared, so the two contenders are measured interleaved (plain, learner, learner, plain, ...)
after a warm-up, and the figures are medians over the rounds; the ratio is the median of the per-round ratios
(each learner run against the plain run next to it in time), so a load change hits both alike.

A second part finds where any Learner overhead goes, without the model's compute hiding it: the same loop with a
tiny model (one linear layer), where the per-batch cost of the fastai machinery is visible in ms, for the default
Learner and with the progress bar, the epoch logging and the `Recorder` (smooth loss) taken away one by one, plus the
time each callback takes per batch (measured inside `Learner._call_one`) with the real model.

Run: `.venv/bin/python bench/train_step.py [--bs 128] [--batches 1] [--rounds 12] [--precision fp32,bf16]`.
The last line is `ratio: X.XX` = Learner img/s / plain img/s at the default precision (the recipe's 'auto').
"""
from __future__ import annotations
import argparse, contextlib, copy, io, os, resource, statistics, time, warnings
from collections import defaultdict

warnings.filterwarnings('ignore', category=FutureWarning)  # torch.jit.script deprecation noise from an import
import torch
from torch import nn
from fastai.basics import Callback, CancelValidException, DataLoader, DataLoaders
from eva_fastai.learner import cifar_learner, resolve_precision, cpu_bf16_native


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--bs', type=int, default=128, help='batch size (default 128)')
    p.add_argument('--batches', type=int, default=1, help='batches per timed run (default 1: the two contenders alternate batch by batch)')
    p.add_argument('--rounds', type=int, default=12, help='interleaved rounds per precision (default 12)')
    p.add_argument('--warmup', type=int, default=2, help='untimed warm-up runs of each contender (default 2)')
    p.add_argument('--precision', default='fp32,bf16', help="comma-separated: fp32, bf16, auto (default fp32,bf16)")
    p.add_argument('--arch', default='custom_resnet', help='architecture from eva_fastai.models.archs')
    p.add_argument('--lr', type=float, default=0.03)
    p.add_argument('--no-channels-last', action='store_true', help='contiguous (NCHW) model and inputs')
    p.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: torch default)')
    p.add_argument('--overhead-batches', type=int, default=100, help='batches per run of the tiny-model overhead part; 0 skips it')
    p.add_argument('--overhead-rounds', type=int, default=5)
    p.add_argument('--overhead-threads', type=int, default=1,
                   help='torch threads in the tiny-model part (default 1: tiny ops are then not at the mercy of other load)')
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------- helpers
def make_batches(n, bs, seed, size=32, c=10):
    "`n` pre-made (x, y) batches: normalised float32 NCHW images (N(0,1), like `Normalize` output) and int64 labels."
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(bs, 3, size, size, generator=g), torch.randint(0, c, (bs,), generator=g)) for _ in range(n)]


class TrainTimer(Callback):
    "Wall and process CPU time of each training phase (`before_train` -> `after_train`) and its number of batches."
    order = -100  # before every other callback in `before_train`
    def __init__(self): self.runs = []
    def before_train(self): self.t_start, self.c_start, self.n_b = time.perf_counter(), time.process_time(), 0
    def after_batch(self):
        if self.training: self.n_b += 1
    def after_train(self):
        self.runs.append((time.perf_counter() - self.t_start, time.process_time() - self.c_start, self.n_b))


class SkipValid(Callback):
    "Cancel the validation phase (it is not part of what is measured)."
    def before_validate(self): raise CancelValidException()


def make_learner(batches, precision, channels_last, arch, lr, seed):
    "A `cifar_learner` whose training DataLoader yields `batches` (pre-made) and whose valid DataLoader one tiny batch."
    dls = DataLoaders(DataLoader(batches, bs=None), DataLoader([(batches[0][0][:2], batches[0][1][:2])], bs=None),
                      device=torch.device('cpu'))
    dls.c = 10
    torch.manual_seed(seed)
    learn = cifar_learner(dls, arch=arch, lr=lr, precision=precision, channels_last=channels_last)
    learn.add_cbs([TrainTimer(), SkipValid()])
    return learn


class Plain:
    "The plain PyTorch loop: same model, optimizer, loss, autocast and memory format as the Learner."
    def __init__(self, model, precision, channels_last, lr, wd=1e-4, mom=0.9):
        self.model, self.bf16, self.cl = model, precision == 'bf16', channels_last
        if channels_last: self.model = self.model.to(memory_format=torch.channels_last)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=mom, weight_decay=wd, nesterov=True)
        self.loss_func = nn.CrossEntropyLoss()
    def run(self, batches):
        self.model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        for xb, yb in batches:
            if self.cl: xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=self.bf16):
                loss = self.loss_func(self.model(xb).float(), yb)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad()
        return time.perf_counter() - t0, time.process_time() - c0


def learner_run(learn, variant='default'):
    "One `fit(1)` over the training batches in the given variant; returns the training phase's wall and CPU seconds."
    timer = learn.train_timer
    with contextlib.ExitStack() as st:
        st.enter_context(contextlib.redirect_stdout(io.StringIO()))  # the console progress bar / epoch table
        if variant in ('no_bar', 'no_bar_no_logging', 'bare'): st.enter_context(learn.no_bar())
        if variant in ('no_bar_no_logging', 'bare'): st.enter_context(learn.no_logging())
        if variant == 'bare':  # also without the Recorder (smooth loss, lrs, losses per batch)
            rec = learn.recorder; learn.remove_cb(rec)
            st.callback(lambda: learn.add_cb(rec))
        learn.fit(1, lr=learn.lr)
    secs, cpu, n = timer.runs[-1]
    assert n == len(learn.dls.train), (n, len(learn.dls.train))
    return secs, cpu


def interleave(contenders, rounds, warmup):
    "Run each contender `warmup` times, then `rounds` times interleaved (order reversed every round): its results."
    names = list(contenders)
    for _ in range(warmup):
        for k in names: contenders[k]()
    res = {k: [] for k in names}
    for r in range(rounds):
        for k in (names if r % 2 == 0 else names[::-1]): res[k].append(contenders[k]())
    return res


def med(xs): return statistics.median(xs)

def paired_ratio(a, b): return med([x / y for x, y in zip(a, b)])


class CallbackProfiler:
    "Time spent in each callback (ms per training batch), by wrapping `learn._call_one` (instance attribute)."
    def __init__(self, learn):
        self.learn, self.tot, self.calls = learn, defaultdict(float), 0
    def __enter__(self):
        learn, tot = self.learn, self.tot
        from fastai.callback.core import event
        def _call_one(event_name):
            if not hasattr(event, event_name): raise Exception(f'missing {event_name}')
            for cb in learn.cbs.sorted('order'):
                if getattr(learn, 'training', False): self.calls += 1
                t = time.perf_counter()
                try: cb(event_name)
                finally:
                    if getattr(learn, 'training', False) and event_name not in ('before_train', 'after_train'):
                        tot[type(cb).__name__] += time.perf_counter() - t
        learn._call_one = _call_one
        return self
    def __exit__(self, *a): del self.learn._call_one


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --------------------------------------------------------------------------------------------- parts
def bench_precision(prec, args, batches):
    cl = not args.no_channels_last
    learn = make_learner(batches, prec, cl, args.arch, args.lr, args.seed)
    plain = Plain(copy.deepcopy(learn.model), prec, cl, args.lr)  # same architecture, same initial weights
    n_imgs = len(batches) * args.bs
    runs = interleave({'plain': lambda: plain.run(batches), 'learner': lambda: learner_run(learn)},
                      args.rounds, args.warmup)
    res = {k: [n_imgs / w for w, c in v] for k, v in runs.items()}        # img/s (wall clock)
    res_cpu = {k: [n_imgs / c for w, c in v] for k, v in runs.items()}    # img per CPU second (all threads)
    # extra runs (not in the ratio) with every callback timed: where the Learner's per-batch time goes
    n_prof = max(1, -(-3 // len(batches)))  # at least 3 batches
    with CallbackProfiler(learn) as prof: secs = sum(learner_run(learn)[0] for _ in range(n_prof))
    nb = n_prof * len(batches)
    cb_ms = {k: 1000 * v / nb for k, v in prof.tot.items()}
    return res, res_cpu, cb_ms, 1000 * secs / nb


def bench_overhead(args, prec):
    "Per-batch cost of the fastai machinery, seen with a tiny model (one linear layer) so compute does not hide it."
    cl = not args.no_channels_last
    batches = make_batches(args.overhead_batches, args.bs, args.seed + 1)
    tiny = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    learn = make_learner(batches, prec, cl, lambda n_in, n_out: tiny(), args.lr, args.seed)
    plain = Plain(copy.deepcopy(learn.model), prec, cl, args.lr)
    fdl = learn.dls.train
    def dl_only():
        t0 = time.perf_counter()
        for _ in fdl: pass
        return time.perf_counter() - t0
    def list_only():
        t0 = time.perf_counter()
        for _ in batches: pass
        return time.perf_counter() - t0
    contenders = {'plain loop': lambda: plain.run(batches)[0],
                  'learner (default: bar, logging, Recorder)': lambda: learner_run(learn, 'default')[0],
                  'learner, no_bar': lambda: learner_run(learn, 'no_bar')[0],
                  'learner, no_bar + no_logging': lambda: learner_run(learn, 'no_bar_no_logging')[0],
                  'learner, no_bar + no_logging, no Recorder': lambda: learner_run(learn, 'bare')[0],
                  'fastai DataLoader iteration alone': dl_only,
                  'python list iteration alone': list_only}
    prev = torch.get_num_threads()
    torch.set_num_threads(args.overhead_threads)
    try:
        res = interleave(contenders, args.overhead_rounds, 1)  # wall seconds per run
        with CallbackProfiler(learn) as prof: learner_run(learn)
    finally: torch.set_num_threads(prev)
    ms = {k: 1000 * med(v) / len(batches) for k, v in res.items()}
    cb_ms = {k: 1000 * v / len(batches) for k, v in prof.tot.items()}
    return ms, cb_ms, prof.calls / len(batches)


def main(argv=None):
    args = parse_args(argv)
    if args.threads: torch.set_num_threads(args.threads)
    default_prec = resolve_precision('auto', 'cpu')
    precs = []
    for p in args.precision.split(','):
        p = resolve_precision(p.strip(), 'cpu')
        if p not in precs: precs.append(p)
    print(f'train_step: arch={args.arch} bs={args.bs} batches/run={args.batches} rounds={args.rounds} '
          f'warmup={args.warmup} channels_last={not args.no_channels_last} precisions={",".join(precs)}')
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, '
          f'native bf16: {cpu_bf16_native()}, recipe default (auto) precision: {default_prec}, '
          f'load average: {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
    batches = make_batches(args.batches, args.bs, args.seed)
    results = {}
    for prec in precs:
        t0 = time.perf_counter()
        res, res_cpu, cb_ms, step_ms = bench_precision(prec, args, batches)
        lrn, pln = med(res['learner']), med(res['plain'])
        ratio = paired_ratio(res['learner'], res['plain'])
        results[prec] = (lrn, pln, ratio, max(res['learner']), max(res['plain']))
        cpu_ratio = paired_ratio(res_cpu['learner'], res_cpu['plain'])
        print(f'\n[{prec}] ({time.perf_counter() - t0:.0f} s)')
        print(f'  learner img/s : {lrn:8.1f}   runs: {" ".join(f"{x:.1f}" for x in res["learner"])}')
        print(f'  plain   img/s : {pln:8.1f}   runs: {" ".join(f"{x:.1f}" for x in res["plain"])}')
        print(f'  learner/plain : {ratio:8.3f}   (median of per-round ratios; ratio of medians {lrn / pln:.3f}, '
              f'of the best runs {max(res["learner"]) / max(res["plain"]):.3f})')
        print(f'  per CPU second: learner {med(res_cpu["learner"]):.1f}, plain {med(res_cpu["plain"]):.1f} img/CPU-s, '
              f'learner/plain {cpu_ratio:.3f} (process CPU time, all threads: less sensitive to other processes)')
        cbs = sorted(cb_ms.items(), key=lambda kv: -kv[1])
        print(f'  callbacks, ms per batch (profiled runs, {step_ms:.0f} ms/batch in all): '
              + ', '.join(f'{k} {v:.2f}' for k, v in cbs))
    if results:
        print('  (ChannelsLastBatch is the input copy to channels-last and BF16Autocast the autocast enter/exit, which '
              'the plain loop does too; TrainTimer and SkipValid are this script\'s own callbacks)')
    if 'fp32' in results and 'bf16' in results:
        f, b = results['fp32'], results['bf16']
        print(f'\nbf16/fp32 speed-up: learner {b[0] / f[0]:.2f}x, plain {b[1] / f[1]:.2f}x (medians); '
              f'best runs: learner {b[3] / f[3]:.2f}x, plain {b[4] / f[4]:.2f}x')
    if args.overhead_batches > 0:
        prec = default_prec if default_prec in precs else precs[0]
        t0 = time.perf_counter()
        ms, cb_ms, n_calls = bench_overhead(args, prec)
        base = ms['plain loop']
        print(f'\nLearner overhead with a tiny model (Flatten+Linear), {prec}, bs={args.bs}, '
              f'{args.overhead_batches} batches/run, {args.overhead_threads} thread(s), median of {args.overhead_rounds} rounds '
              f'({time.perf_counter() - t0:.0f} s):')
        for k, v in ms.items():
            extra = f'  (+{v - base:.3f} over plain)' if k.startswith('learner') else ''
            print(f'  {k:45s} {v:7.3f} ms/batch{extra}')
        print(f'  callbacks ({n_calls:.0f} callback calls per batch), ms per batch: ' + ', '.join(f'{k} {v:.3f}' for k, v in sorted(cb_ms.items(), key=lambda kv: -kv[1])))
    print(f'\npeak RSS (ru_maxrss): {peak_rss_mb():.0f} MB')
    prec = default_prec if default_prec in results else precs[0]
    print(f'ratio: {results[prec][2]:.2f}')


if __name__ == '__main__':
    main()
