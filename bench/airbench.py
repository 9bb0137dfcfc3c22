"""The `airbench` preset against a plain-PyTorch reference loop of airbench94's algorithm, side by side in one process.

The reference is written here from Keller Jordan's description of airbench94: the paper "94% on CIFAR-10 in 3.29
Seconds on a Single GPU" (arXiv 2404.00498, sections 3-4) and the hyperparameters and schedule published in
`legacy/airbench94.py` of github.com/KellerJordan/cifar10-airbench. It is a plain loop over tensors held in memory,
with none of fastai or eva_fastai's training code: its own network, whitening, optimiser set-up, lookahead and
augmentation. Both contenders see the same data (the decoded training images of `eva_fastai.data`, normalised with
the same statistics), train at the same batch size (1024) for the same number of steps, in the same precision
(bf16 autocast on a CPU with native bf16, fp16 on a GPU, else fp32) and memory format (channels-last).

Default (speed): after one untimed warm-up round each, `--rounds` interleaved rounds (reference, project, project,
reference, ...) of `--steps` training steps each, from a fresh model every round; the project round is the preset's
own `build` + `train_cbs` + `fit_schedule` with validation skipped, timed from `before_train` to `after_train`
(data loading included), the reference round likewise around its loop. It prints each round's img/s, the medians,
and `ratio: X.XX` = project / reference img/s (the median of the per-round ratios). Target: >= 0.95.

`--full`: each trains the whole 9.9 epochs once (the reference first) and prints its training minutes and its test
accuracy without and with airbench's TTA (mirror and two 1-pixel translations), then the same ratio line.

Run: `.venv/bin/python bench/airbench.py [--steps 12] [--rounds 3] [--full] [--seed 0] [--data PATH]`.
"""
from __future__ import annotations
import argparse, math, statistics, time, warnings
warnings.filterwarnings('ignore', category=FutureWarning)  # torch.jit.script deprecation noise from an import
import numpy as np, torch
from torch import nn
import torch.nn.functional as F
from fastai.basics import Callback, CancelFitException, CancelValidException, set_seed
from eva_fastai.testing import test_data_path
from eva_fastai.data import cifar_root, cifar_items, decode_cached, dataset_stats
from eva_fastai.learner import resolve_precision, fit_schedule
from eva_fastai.recipe import preset_config, build, train_cbs
from eva_fastai.learner import evaluate

# ------------------------------------------------------------------------------------------ the reference
HYP = dict(bs=1024, epochs=9.9, lr=11.5, wd=0.0153, mom=0.85, bias_lr=64., smoothing=0.2, whiten_bias_epochs=3,
           widths=(64, 256, 256), bn_mom=0.6, scale=1/9, warmup=0.23, lr_start=0.2, lr_end=0.07, translate=2)

def _bn(c):
    "BatchNorm with its scale fixed at 1, running statistics kept with weight 0.6 on the old value."
    bn = nn.BatchNorm2d(c, eps=1e-12, momentum=1 - HYP['bn_mom'])
    bn.weight.requires_grad = False
    return bn

def _conv(cin, cout):
    "3x3 conv, no bias; after PyTorch's init the first `cin` output channels are set to pass their input through."
    c = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
    with torch.no_grad(): nn.init.dirac_(c.weight[:cin])
    return c

def ref_net(n_out=10):
    w0 = 2 * 3 * 2 * 2
    layers = [nn.Conv2d(3, w0, 2, bias=True), nn.GELU()]
    for cin, cout in zip((w0, *HYP['widths'][:-1]), HYP['widths']):
        layers += [_conv(cin, cout), nn.MaxPool2d(2), _bn(cout), nn.GELU(), _conv(cout, cout), _bn(cout), nn.GELU()]
    layers += [nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(HYP['widths'][-1], n_out, bias=False)]
    net = nn.Sequential(*layers)
    net[0].weight.requires_grad = False
    nn.init.zeros_(net[0].bias)
    return net

def ref_whiten(conv, x, eps=5e-4):
    "Filters: eigenvectors of the covariance of all 2x2 patches of `x`, divided by sqrt(eigenvalue + eps), and their negatives."
    p = x.unfold(2, 2, 1).unfold(3, 2, 1)                       # n, c, h, w, 2, 2
    p = p.permute(0, 2, 3, 1, 4, 5).reshape(-1, 12).double()
    lam, vec = torch.linalg.eigh(p.T @ p / len(p))
    f = (vec.T / (lam.clamp_min(0) + eps).sqrt()[:, None]).flip(0).reshape(12, 3, 2, 2)
    with torch.no_grad(): conv.weight.copy_(torch.cat([f, -f]).float())

class RefData:
    "Normalised training images in memory; each epoch: every image mirrored in alternate epochs (random start), translated up to 2 px."
    def __init__(self, x, y, bs, g):
        self.x, self.y, self.bs, self.g, self.epoch = x, y, bs, g, 0
        self.first = torch.rand(len(x), generator=g) < 0.5
    def __len__(self): return len(self.x) // self.bs
    def epoch_batches(self):
        "This epoch's batches, each augmented as it is drawn (so a round of a few steps pays only for those)."
        odd, r = bool(self.epoch % 2), HYP['translate']
        self.epoch += 1
        perm = torch.randperm(len(self.x), generator=self.g)
        for k in range(len(self)):
            idx = perm[k * self.bs:(k + 1) * self.bs]
            x = self.x[idx]
            x = torch.where((self.first[idx] ^ odd)[:, None, None, None], x.flip(3), x)
            xp = F.pad(x, (r,) * 4, mode='reflect')
            dy, dx = torch.randint(0, 2 * r + 1, (2, len(x)), generator=self.g)
            out = torch.empty_like(x)
            for i in range(2 * r + 1):            # crop by offset: one slice per distinct shift
                for j in range(2 * r + 1):
                    m = (dy == i) & (dx == j)
                    out[m] = xp[m, :, i:i + x.shape[2], j:j + x.shape[3]]
            yield out.contiguous(memory_format=torch.channels_last), self.y[idx]

def ref_train(x, y, steps, precision, seed, total_steps=None, on_epoch=None):
    "Train the reference for `steps` steps of a `total_steps` schedule; return (net, seconds of training)."
    torch.manual_seed(seed); g = torch.Generator().manual_seed(seed)
    data = RefData(x, y, HYP['bs'], g)
    total = total_steps or math.ceil(len(data) * HYP['epochs'])
    net = ref_net(int(y.max()) + 1)
    ref_whiten(net[0], x[torch.randperm(len(x), generator=g)[:5000]])
    net = net.to(memory_format=torch.channels_last)
    k = 1 + 1 / (1 - HYP['mom'])                      # decoupled: the step is independent of the momentum
    lr = HYP['lr'] * HYP['bs'] / 1024 / k             # for a mean loss over the batch
    decay = HYP['wd'] * HYP['bs'] / 1024 / k
    bn_b = [p for n, p in net.named_parameters() if p.requires_grad and isinstance(net[int(n.split('.')[0])], nn.BatchNorm2d)]
    rest = [p for p in net.parameters() if p.requires_grad and all(p is not q for q in bn_b)]
    opt = torch.optim.SGD([dict(params=bn_b, lr=lr * HYP['bias_lr'], weight_decay=decay / (lr * HYP['bias_lr'])),
                           dict(params=rest, lr=lr, weight_decay=decay / lr)], momentum=HYP['mom'], nesterov=True)
    base = [pg['lr'] for pg in opt.param_groups]
    n_warm = int(total * HYP['warmup'])
    def factor(s):
        if s < n_warm: return HYP['lr_start'] + (1 - HYP['lr_start']) * s / n_warm
        return 1 + (HYP['lr_end'] - 1) * (s - n_warm) / (total - n_warm)
    ema = {k_: v.detach().clone() for k_, v in net.state_dict().items() if v.is_floating_point()}
    ac = dict(device_type='cpu', dtype=torch.bfloat16, enabled=precision == 'bf16')
    step, secs = 0, 0.
    while step < steps:
        net[0].bias.requires_grad_(data.epoch < HYP['whiten_bias_epochs'])
        if not net[0].bias.requires_grad: net[0].bias.grad = None
        net.train()
        t0 = time.perf_counter()
        for xb, yb in data.epoch_batches():
            for pg, b in zip(opt.param_groups, base): pg['lr'] = b * factor(step)
            with torch.autocast(**ac): out = net(xb) * HYP['scale']
            loss = F.cross_entropy(out.float(), yb, label_smoothing=HYP['smoothing'])
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
            step += 1
            with torch.no_grad():
                sd = net.state_dict()
                if step % 5 == 0:
                    d = 0.95 ** 5 * (step / total) ** 3
                    for k_, e in ema.items(): e.lerp_(sd[k_], 1 - d); sd[k_].copy_(e)
                if step >= total:
                    for k_, e in ema.items(): sd[k_].copy_(e)
            if step >= steps: break
        secs += time.perf_counter() - t0
        if on_epoch: on_epoch(data.epoch, step)
    return net, secs

@torch.no_grad()
def ref_accuracy(net, x, y, precision, tta=0):
    "Test accuracy of `net` on normalised `x`, plain or with airbench's TTA (softmax averages, as the project takes them)."
    net.eval()
    def p(v):
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
            return torch.cat([F.softmax((net(b.contiguous(memory_format=torch.channels_last)) * HYP['scale']).float(), 1)
                              for b in v.split(500)])
    def shift(v, d): return F.pad(v, (1,) * 4, mode='reflect')[..., 1 - d:1 - d + v.shape[2], 1 - d:1 - d + v.shape[3]]
    both = lambda v: (p(v) + p(v.flip(3))) / 2
    avg = p(x) if tta == 0 else both(x) / 2 + (both(shift(x, 1)) + both(shift(x, -1))) / 4
    return float((avg.argmax(1) == y).float().mean())

# ------------------------------------------------------------------------------------------ shared data
def load(data, split):
    root = cifar_root(data)
    trn, tst, vocab = cifar_items(root)
    files = trn if split == 'train' else tst
    arr, bad, key = decode_cached(files, 32)
    y = torch.tensor([vocab.index(f.parent.name) for f in files])
    return arr, y, key

def normalised(arr, stats):
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float() / 255
    m, s = (torch.tensor(v).view(1, 3, 1, 1) for v in stats)
    return (x - m) / s

# ------------------------------------------------------------------------------------------ the project
class _Stop(Callback):
    "Time the training phase; stop the fit after `steps` steps (speed rounds) and skip validation there."
    order = 99
    def __init__(self, steps=None): self.steps, self.secs, self.n = steps, 0., 0
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self): self.secs += time.perf_counter() - self.t0
    def after_batch(self):
        if self.training: self.n += 1
        if self.steps and self.n >= self.steps:
            self.after_train()             # fastai skips after_train when the fit is cancelled
            raise CancelFitException()
    def before_validate(self):
        if self.steps: raise CancelValidException()

def project_train(cfg, steps=None, seed=0):
    set_seed(seed, reproducible=True)
    dls, learn = build(cfg)
    stop = _Stop(steps)
    with learn.no_logging(), learn.no_bar():
        fit_schedule(learn, cfg.epochs, None, schedule=cfg.schedule, pct_start=cfg.pct_start, div=cfg.div,
                     div_final=cfg.div_final, cbs=train_cbs(cfg, learn) + [stop])
    return learn, stop

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=12, help='training steps per speed round (default 12, a quarter epoch)')
    ap.add_argument('--rounds', type=int, default=3, help='interleaved speed rounds (default 3)')
    ap.add_argument('--full', action='store_true', help='train both for the whole 9.9 epochs and print their accuracies')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--data', default=None, help='CIFAR-10 archive or folder (default: the shared copy)')
    a = ap.parse_args(argv)
    data = str(a.data or test_data_path())
    cfg = preset_config('airbench', data=data, seed=a.seed)
    precision = resolve_precision('auto', 'cpu')
    arr, y, key = load(data, 'train')
    stats = dataset_stats(arr, key)
    x = normalised(arr, stats)
    print(f"data: {len(x)} training images, stats {stats}; precision {precision}; torch threads {torch.get_num_threads()}")
    if a.full:
        def show(ep, step): print(f"  reference epoch {ep}: step {step}", flush=True)
        ref_steps = math.ceil(len(x) // HYP['bs'] * HYP['epochs'])
        net, rs = ref_train(x, y, ref_steps, precision, a.seed, on_epoch=show)
        tarr, ty, _ = load(data, 'test')
        tx = normalised(tarr, stats)
        print(f"reference: {rs / 60:.1f} min training, {ref_steps * HYP['bs'] / rs:.0f} img/s; "
              f"test accuracy {ref_accuracy(net, tx, ty, precision):.2%}, with TTA {ref_accuracy(net, tx, ty, precision, 2):.2%}", flush=True)
        learn, stop = project_train(cfg, seed=a.seed)
        ev = evaluate(learn, tta=2)
        print(f"project:   {stop.secs / 60:.1f} min training, {stop.n * HYP['bs'] / stop.secs:.0f} img/s; "
              f"test accuracy {ev['test_accuracy']:.2%}, with TTA {ev['tta_accuracy']:.2%}")
        print(f"ratio: {(stop.n / stop.secs) / (ref_steps / rs):.2f}")
        return
    ref_rate = lambda: a.steps * HYP['bs'] / ref_train(x, y, a.steps, precision, a.seed)[1]
    def proj_rate():
        _, stop = project_train(cfg, a.steps, a.seed)
        return stop.n * HYP['bs'] / stop.secs
    ref_rate(); proj_rate()   # warm-up: oneDNN primitives, caches
    refs, projs, ratios = [], [], []
    for r in range(a.rounds):
        if r % 2 == 0: rr = ref_rate(); pr = proj_rate()
        else: pr = proj_rate(); rr = ref_rate()
        refs.append(rr); projs.append(pr); ratios.append(pr / rr)
        print(f"round {r + 1}: reference {rr:.0f} img/s, project {pr:.0f} img/s, ratio {pr / rr:.3f}", flush=True)
    print(f"reference img/s {statistics.median(refs):.0f}; project img/s {statistics.median(projs):.0f} "
          f"({a.steps} steps of {HYP['bs']} a round, {a.rounds} rounds)")
    print(f"ratio: {statistics.median(ratios):.2f}")

if __name__ == '__main__':
    main()
