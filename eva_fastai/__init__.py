"""The EVA4 Session 11 CIFAR-10 recipe (custom ResNet, albumentations, LR finder, one-cycle) as a fastai + nbdev library

Modules:

- `eva_fastai.distributed`: Data-parallel training over several processes (GPUs or CPU cores, one machine or several) through fastai's `DistributedTrainer` and Hugging Face Accelerate, launched with `torchrun` or `accelerate launch`.
- `eva_fastai.export`: Model files that are safe to open: the weights as `model.safetensors` and how to use them as `model.json`, loaded without unpickling anything; and ONNX for serving without PyTorch.
- `eva_fastai.learner`: `cifar_learner` (SGD with Nesterov momentum, the seed's loss and metric, airbench's parameter groups and decoupled hyperparameters), bf16/fp16 and channels-last callbacks, the schedules, lookahead and weight averaging, and the two LR-finding tools.
- `eva_fastai.models`: The seed's custom ResNet (David Page's ResNet-9 layout, "Quiz11"), airbench94's network, a CIFAR-sized ResNet-18 baseline, and the `archs` registry the recipe picks them from.
- `eva_fastai.plots`: Every picture of the seed (LR finder, schedules, the triangular CLR curve, accuracy and loss curves, misclassified images) plus interpretation figures (confusion matrix, per-class accuracy, Grad-CAM), fastai-native.
- `eva_fastai.recipe`: The whole Session 11 recipe in one call: one explicit config, data → learner → LR finder → fit → evaluation → interpretation → export, into a run folder that tells how the run went."""

__version__ = "0.1.0"
