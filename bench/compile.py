"""Training throughput with `torch.compile` vs eager PyTorch, same model, weights, batches and precision, in one process.

Should the recipe compile its model? This measures the answer on the machine at hand: one training step (forward,
loss, backward, SGD with Nesterov momentum) of an `eva_fastai.models` architecture (default `resnet9`, the `fast`
preset's), channels-last, under the recipe's default precision for the device (bf16 autocast on a CPU that runs bf16
natively, fp16 autocast on CUDA, else fp32), eager and compiled with `nn.Module.compile()` (TorchInductor; the
module keeps its parameters and `state_dict` names). Compile time is printed on its own and left out of the rates.
After a warm-up the two are timed in interleaved rounds (eager, compiled, compiled, eager, ...) so that a change of
machine load hits both alike; the figures are medians over the rounds.

Run: `.venv/bin/python bench/compile.py [--bs 256] [--rounds 6] [--arch resnet9] [--device cpu|cuda]`.
The last line is `ratio: X.XX` = compiled img/s / eager img/s.
"""
from __future__ import annotations
import argparse, contextlib, statistics, time, warnings

warnings.filterwarnings('ignore', category=FutureWarning)  # torch.jit.script deprecation noise from an import
import torch
from torch import nn
from eva_fastai.models import archs
from eva_fastai.learner import resolve_precision


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--bs', type=int, default=256, help='batch size (default 256)')
    p.add_argument('--rounds', type=int, default=6, help='interleaved timed rounds (default 6)')
    p.add_argument('--warmup', type=int, default=2, help='untimed steps of each after compiling (default 2)')
    p.add_argument('--arch', default='resnet9', help='architecture from eva_fastai.models.archs (default resnet9)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--precision', default='auto', help="fp32, bf16, fp16 or auto (the recipe's default)")
    p.add_argument('--seed', type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    a = parse_args(argv)
    dev = torch.device(a.device)
    prec = resolve_precision(a.precision, dev.type)
    dtype = {'bf16': torch.bfloat16, 'fp16': torch.float16}.get(prec)
    g = torch.Generator().manual_seed(a.seed)
    x = torch.randn(a.bs, 3, 32, 32, generator=g).to(dev).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (a.bs,), generator=g).to(dev)
    loss_fn = nn.CrossEntropyLoss()
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)

    def make():
        torch.manual_seed(a.seed)
        m = archs[a.arch](3, 10).to(dev).to(memory_format=torch.channels_last)
        return m, torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def step(m, opt):
        ctx = torch.autocast(dev.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx: loss = loss_fn(m(x).float(), y)
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)

    def timed(m, opt):
        sync(); t = time.perf_counter(); step(m, opt); sync()
        return a.bs / (time.perf_counter() - t)

    eager, comp = make(), make()
    comp[0].compile()
    sync(); t = time.perf_counter(); step(*comp); sync()
    print(f"{a.arch}, batch {a.bs}, {dev.type}, {prec}, channels-last; torch {torch.__version__}")
    print(f"compile (first step): {time.perf_counter() - t:.1f} s")
    for _ in range(a.warmup): step(*eager); step(*comp)
    rates = {'eager': [], 'compiled': []}
    for r in range(a.rounds):
        order = ('eager', 'compiled') if r % 2 == 0 else ('compiled', 'eager')
        for k in order: rates[k].append(timed(*(eager if k == 'eager' else comp)))
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in rates.items(): print(f"{k:9s} img/s: {med[k]:7.1f}  (rounds: {', '.join(f'{r:.0f}' for r in v)})")
    print(f"ratio: {med['compiled'] / med['eager']:.2f}")


if __name__ == '__main__': main()
