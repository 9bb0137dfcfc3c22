#!/usr/bin/env bash
# The `airbench_muon`, `airbench` and `fast` presets on a GPU, full data, in one call of at most 8 minutes: GPU-side (batch)
# augmentation, fp16 autocast (fastai's MixedPrecision) and channels-last, as the recipe picks them on CUDA
# (aug_on=auto, precision=auto). It prints each run's wall time, training img/s and test accuracy with and without
# its TTA. torch.compile is not used: bench/compile.py found no gain on the CPU, and the GPU figure is unmeasured.
#
#   bash bench/gpu.sh --prepare   here, once: the wheels eva_fastai needs beyond the GPU image's packages, and the
#                                 data, into .gpu/ (git-ignored through .git/info/exclude)
#   bash bench/gpu.sh             there, with .gpu carried (the device tool's `carry: [".gpu"]`)
set -euo pipefail
cd "$(dirname "$0")/.."
G=.gpu
if [ "${1:-}" = "--prepare" ]; then
  grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
  mkdir -p $G/whl
  cp "${EVA_FASTAI_DATA:-../shared/data/cifar10.tgz}" $G/cifar10.tgz
  # pure-Python packages the GPU image lacks (it has torch, torchvision, numpy, pandas, matplotlib, opencv, pydantic)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d $G/whl \
    fastai==2.8.12 fastcore fastprogress fastdownload fasttransform plum-dispatch beartype \
    'albumentations==2.0.8' albucore stringzilla simsimd
  ls $G/whl
  exit 0
fi
[ -f $G/cifar10.tgz ] || { echo "gpu.sh: no $G/cifar10.tgz; run 'bash bench/gpu.sh --prepare' here first and carry .gpu" >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $G/whl/*.whl
export PYTHONPATH="/tmp/site:$PWD" MPLBACKEND=Agg EVA_FASTAI_CACHE=/tmp/eva-cache PYTHONUNBUFFERED=1
OUTDIR="${OUT:-/tmp/gpu-out}"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
for preset in airbench_muon airbench fast; do
  t0=$(date +%s)
  timeout 150 python3 -m eva_fastai.cli train --preset $preset --data $G/cifar10.tgz --out "$OUTDIR/$preset" \
    --no-lr-find --overwrite > "$OUTDIR/$preset.log" 2>&1 || echo "$preset: exit $? (log: $preset.log)"
  tail -n 2 "$OUTDIR/$preset.log"
  python3 - "$OUTDIR/$preset/results.json" "$(( $(date +%s) - t0 ))" <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['preset']}: {r['epochs']} epochs, wall {r['wall_time_s']:.0f} s (call {sys.argv[2]} s), {r['train_img_per_s']:.0f} img/s, "
      f"test {r['test_accuracy']:.2%}, TTA level {r.get('tta_level')} {r.get('tta_accuracy', float('nan')):.2%}, {r['device']}, {r['precision']}")
EOF
done
