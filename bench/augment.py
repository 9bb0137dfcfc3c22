"""Augmentation speed: the `seed` preset through eva_fastai's training DataLoader vs the usual per-item pipeline.

    .venv/bin/python bench/augment.py [--n 5000] [--bs 128] [--rounds 5] [--workers 0,2] [--threads 1]

Both sides see the same stratified 5,000 training images of the local CIFAR-10 copy (`test_data_path()`), the
same albumentations transforms (`aug_presets['seed']`), batch size, shuffling, `drop_last` and worker count:

(a) eva_fastai: `cifar_dls(item_tfms=lambda stats: aug_tfms('seed', stats=stats))`, one full epoch of `dls.train`. Items are `uint8` views
    of images decoded once into the cache; `AlbumentationsTransform` augments them in numpy; fastai collates;
    the batch is converted to float and normalised once. The one-time decode into the cache (done by
    `cifar_dls`, with a fresh temporary cache) is timed on its own line, and counted in the "cold" figure:
    images / (decode + first epoch). "warm" is a later epoch, what every epoch after the first costs.
(b) the torchvision-style pipeline the seed used: a `Dataset` that opens the JPEG with PIL, converts it to an
    RGB array, runs the same transforms + `A.Normalize` + `ToTensorV2`, per item, in a
    `torch.utils.data.DataLoader` (default collate). It decodes every image in every epoch, by design.

Other processes on a shared machine slow both sides down by different amounts from one second to the next, so
the two are measured *paired*: with num_workers=0 each round runs one epoch of (a) and one of (b) interleaved
batch by batch (both see the same load), with workers (which must not run at the same time) the epochs
alternate. Each round gives a ratio (a)/(b); the figure reported is the median over `--rounds` rounds, with the
median img/s, best img/s and CPU time per image (workers included) of each side. Without workers a third loader,
(c), is timed alongside for information only: (a) with fastai's `ToTensor` item transform taken out of its
pipeline. `DataBlock` always adds it; on our items, already tensors, it does nothing, yet its failed type
dispatch (twice per item) is a noticeable share of an epoch. It is not part of the ratio. Torch runs with `--threads` intra-op
threads (default 1, as fastai sets in each DataLoader worker; on a small, busy machine two threads make the
batch normalisation of (a) wait for a free core on every op); 0 keeps torch's default.
The last line is `ratio: X.XX` = (a warm) / (b) img/s, median of the paired rounds, at cifar_dls' default worker
count (the first of --workers if that default is not listed).
"""
import argparse, os, resource, statistics, sys, tempfile, time
from pathlib import Path

import numpy as np, torch
from PIL import Image
from fastai.vision.all import *   # noqa: F401,F403  (fastai's names, as eva_fastai uses them)
import albumentations as A
from albumentations.pytorch import ToTensorV2

from eva_fastai.testing import test_data_path
from eva_fastai.data import cifar_root, cifar_items, cifar_dls, default_workers
from eva_fastai.augment import aug_presets, aug_tfms


class PilAlbumentations(torch.utils.data.Dataset):
    "(b): decode the file with PIL, then albumentations (augment, normalise, to tensor), per item."
    def __init__(self, files, vocab, tfms):
        self.files, self.tfms = list(files), tfms
        self.label = {c: i for i, c in enumerate(vocab)}
    def __len__(self): return len(self.files)
    def __getitem__(self, i):
        f = self.files[i]
        with Image.open(f) as im: a = np.asarray(im.convert('RGB'))
        return self.tfms(image=a)['image'], self.label[f.parent.name]


def cpu_seconds():
    "CPU time of this process and of its finished children (DataLoader workers), user + system."
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def epoch(dl):
    "Images served, wall seconds and CPU seconds (workers included) of one full pass over `dl`."
    n, t, c = 0, time.perf_counter(), cpu_seconds()
    for xb, yb in dl: n += len(xb)
    return n, time.perf_counter() - t, cpu_seconds() - c


def paired_epochs(dls):
    "One full epoch of each loader in `dls` (a dict), interleaved batch by batch: images, wall and CPU seconds per loader."
    its, live = {}, list(dls)
    n, t, c = dict.fromkeys(dls, 0), dict.fromkeys(dls, 0.), dict.fromkeys(dls, 0.)
    while live:
        for k in list(live):
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                if k not in its: its[k] = iter(dls[k])
                xb, yb = next(its[k])
                n[k] += len(xb)
            except StopIteration: live.remove(k)
            t[k] += time.perf_counter() - t0; c[k] += time.process_time() - c0
    return n, t, c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=5000, help='training images (stratified subset)')
    ap.add_argument('--bs', type=int, default=128)
    ap.add_argument('--rounds', type=int, default=5, help='warm epochs of each of (a) and (b)')
    ap.add_argument('--workers', default='0,2', help='comma-separated DataLoader worker counts to run')
    ap.add_argument('--threads', type=int, default=1, help='torch intra-op threads (0: torch default)')
    args = ap.parse_args(argv)
    if args.threads: torch.set_num_threads(args.threads)
    workers = [int(w) for w in args.workers.split(',')]
    main_nw = default_workers() if default_workers() in workers else workers[0]

    root = cifar_root(test_data_path())                       # extracted once into the usual cache (not timed)
    trn, _, vocab = cifar_items(root, subset=args.n)
    print(f"augmentation benchmark: 'seed' preset, {len(trn)} CIFAR-10 training images (stratified), bs {args.bs}, "
          f"torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}")
    ratio = {}
    with tempfile.TemporaryDirectory() as cache:
        for k, nw in enumerate(workers):
            how = 'interleaved batch by batch' if nw == 0 else 'alternating epochs'
            print(f"num_workers={nw}" + (" (cifar_dls' default here)" if nw == default_workers() else '') +
                  f": {args.rounds} warm epochs of each, {how}")
            t = time.perf_counter()
            dls = cifar_dls(root, bs=args.bs, item_tfms=lambda stats: aug_tfms('seed', stats=stats), subset=args.n, test_subset=100,
                            num_workers=nw, cache=cache)
            build = time.perf_counter() - t
            n_dec = len(dls.train_ds) + len(dls.valid_ds)
            if k == 0:
                n1, t1, _ = epoch(dls.train)
                print(f"  decode into a fresh cache (once): {n_dec} images in {build:.2f} s ({n_dec / build:.0f} img/s, "
                      f"statistics included)")
                print(f"  (a) eva_fastai cold (decode + epoch 1): {n1 / (build + t1):6.0f} img/s "
                      f"(epoch 1 alone {n1 / t1:.0f} img/s)")
            else: print(f"  cifar_dls with a warm cache: {build:.2f} s")
            mean, std = dls.stats
            tfms_b = A.Compose([*aug_presets['seed'](32, mean).transforms, A.Normalize(mean=mean, std=std), ToTensorV2()])
            dl_b = torch.utils.data.DataLoader(PilAlbumentations(trn, vocab, tfms_b), batch_size=args.bs, shuffle=True,
                                               drop_last=True, num_workers=nw)
            loaders = {'a': dls.train, 'b': dl_b}
            if nw == 0:   # for information: (a) without fastai's ToTensor item transform, a no-op on tensor items
                dl_c = cifar_dls(root, bs=args.bs, item_tfms=lambda stats: aug_tfms('seed', stats=stats), subset=args.n,
                                 test_subset=100, num_workers=nw, cache=cache).train
                dl_c.after_item = Pipeline([f for f in dl_c.after_item.fs if not isinstance(f, ToTensor)])
                loaders['c'] = dl_c
            speed, cpu, ratios = {k: [] for k in loaders}, {k: [] for k in loaders}, []
            for _ in range(args.rounds):
                if nw == 0: n, s, c = paired_epochs(loaders)   # both see the same load on a shared machine
                else:                                          # workers of both at once would compete: alternate
                    r = {side: epoch(dl) for side, dl in loaders.items()}
                    n, s, c = ({side: r[side][i] for side in r} for i in range(3))
                for side in loaders:
                    speed[side].append(n[side] / s[side]); cpu[side].append(c[side] / n[side] * 1e6)
                ratios.append(speed['a'][-1] / speed['b'][-1])
            for side, what in (('a', 'eva_fastai warm (cached uint8, numpy aug, batch normalise)'),
                               ('b', 'PIL decode + albumentations per item (torchvision-style)'),
                               ('c', "for information: (a) without fastai's no-op ToTensor item transform")):
                if side not in loaders: continue
                v = speed[side]
                print(f"  ({side}) {what}: {statistics.median(v):5.0f} img/s median, {max(v):5.0f} best "
                      f"(epochs of {n[side]}); CPU {statistics.median(cpu[side]):4.0f} us/img median")
            ratio[nw] = statistics.median(ratios)
            print(f"  a warm / b at num_workers={nw}: {ratio[nw]:.2f} (median of {len(ratios)} paired epochs; "
                  f"range {min(ratios):.2f}-{max(ratios):.2f})")
            if 'c' in loaders:
                rc = statistics.median(x / y for x, y in zip(speed['c'], speed['b']))
                print(f"  (for information) c / b: {rc:.2f}; (c) is not part of the ratio")
    print(f"load avg at the end {os.getloadavg()[0]:.1f}")
    print(f"ratio: {ratio[main_nw]:.2f}")


if __name__ == '__main__': main()
