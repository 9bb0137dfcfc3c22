"""Data-parallel vs single process: the same recipe, the same global batch, on a stratified subset.

Runs `eva-fastai train` once as one process and once as `--nproc` processes under `torchrun` (gloo on CPU, NCCL
on GPUs), for each `--seeds` value, and prints the test accuracy of every run, the mean difference
(distributed - single) against the spread between seeds, and the training throughput of each. On a CPU machine
the processes share the cores, so the img/s ratio shows the cost of the machinery (gradient all-reduce, sharding),
not a speed-up; on N GPUs it is the scaling.

    .venv/bin/python bench/distributed.py [--subset 3000 --test-subset 1000 --epochs 3 --bs 128 --seeds 42,43]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--nproc', type=int, default=2)
    p.add_argument('--subset', type=int, default=3000)
    p.add_argument('--test-subset', type=int, default=1000)
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--bs', type=int, default=128, help='global batch size (each of N processes takes bs/N)')
    p.add_argument('--seeds', default='42,43')
    p.add_argument('--data', default=None, help='default: the shared CIFAR-10 copy')
    a = p.parse_args()
    if a.data is None:
        from eva_fastai.testing import test_data_path
        a.data = str(test_data_path())
    gpu = __import__('torch').cuda.is_available()
    threads = str(max((os.cpu_count() or 2) // a.nproc, 1))
    common = ['train', '--preset', 'smoke', '--epochs', a.epochs, '--subset', a.subset, '--test-subset', a.test_subset,
              '--bs', a.bs, '--no-lr-find', '--no-tta', '--data', a.data]
    res = {'single': [], 'distributed': []}
    with tempfile.TemporaryDirectory() as d:
        for seed in a.seeds.split(','):
            for kind in ('single', 'distributed'):
                out = Path(d)/f'{kind}-{seed}'
                launch = ([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', str(a.nproc)]
                          if kind == 'distributed' else [sys.executable])
                env = {**os.environ, 'MPLBACKEND': 'Agg', **({'OMP_NUM_THREADS': threads} if kind == 'distributed' and not gpu else {})}
                t0 = time.time()
                r = subprocess.run([*launch, '-m', 'eva_fastai.cli', *map(str, common), '--seed', seed, '--out', out],
                                   capture_output=True, text=True, env=env)
                if r.returncode: sys.exit(f'{kind} run failed:\n{r.stderr[-3000:]}')
                j = json.loads((out/'results.json').read_text())
                res[kind].append(j)
                print(f"{kind:12s} seed {seed}: test accuracy {j['test_accuracy']:.4f} on {j['n_test']} images, "
                      f"{j['world_size']} process(es), {j['train_img_per_s']:.1f} img/s, wall {time.time() - t0:.0f} s", flush=True)
    acc = {k: [j['test_accuracy'] for j in v] for k, v in res.items()}
    ips = {k: statistics.median(j['train_img_per_s'] for j in v) for k, v in res.items()}
    spread = statistics.pstdev(acc['single'] + acc['distributed'])
    print(f"mean test accuracy: single {statistics.mean(acc['single']):.4f}, distributed {statistics.mean(acc['distributed']):.4f}, "
          f"difference {statistics.mean(acc['distributed']) - statistics.mean(acc['single']):+.4f} "
          f"(std over all runs {spread:.4f}; seeds alone differ by "
          f"{max(acc['single']) - min(acc['single']):.4f} single, {max(acc['distributed']) - min(acc['distributed']):.4f} distributed)")
    print(f"training img/s: single {ips['single']:.1f}, distributed {ips['distributed']:.1f}")
    print(f"ratio: {ips['distributed'] / ips['single']:.2f}")

if __name__ == '__main__': main()
