"""The EVA4 Session 11 CIFAR-10 recipe (custom ResNet, albumentations, LR finder, one-cycle) as a fastai + nbdev library

Modules:

- `eva_fastai.augment`: Albumentations pipelines as fastai transforms: the seed's augmentation, faithfully, reusable and fast.
- `eva_fastai.checkpoint`: Everything a run folder needs to survive a kill and continue where it stopped: the best weights, the history, and a checkpoint after every epoch.
- `eva_fastai.cli`: `eva-fastai`: train, find a learning rate, evaluate and predict from the command line.
- `eva_fastai.core`: Errors, setting checks, atomic writes and the warnings policy: what every other module needs, and nothing else.
- `eva_fastai.data`: Where the images come from, how they are decoded once and cached, their statistics, and the recipe's DataLoaders.
- `eva_fastai.distributed`: Data-parallel training over several processes (GPUs or CPU cores, one machine or several) through fastai's `DistributedTrainer` and Hugging Face Accelerate, launched with `torchrun` or `accelerate launch`.
- `eva_fastai.export`: Model files that are safe to open: the weights as `model.safetensors` and how to use them as `model.json`, loaded without unpickling anything; and ONNX for serving without PyTorch.
- `eva_fastai.learner`: `cifar_learner` (SGD with Nesterov momentum, the seed's loss and metric, airbench's parameter groups, decoupled hyperparameters and Muon), bf16/fp16 and channels-last callbacks, the schedules, lookahead and weight averaging, and the two LR-finding tools.
- `eva_fastai.models`: The seed's custom ResNet (David Page's ResNet-9 layout, "Quiz11"), airbench94's network, a CIFAR-sized ResNet-18 baseline, and the `archs` registry the recipe picks them from.
- `eva_fastai.plots`: Every picture of the seed (LR finder, schedules, the triangular CLR curve, accuracy and loss curves, misclassified images) plus interpretation figures (confusion matrix, per-class accuracy, Grad-CAM), fastai-native.
- `eva_fastai.recipe`: The whole Session 11 recipe in one call: one explicit config, data → learner → LR finder → fit → evaluation → interpretation → export, into a run folder that tells how the run went.
- `eva_fastai.testing`: Helpers for the tests in these notebooks and in `tests/`: where the local CIFAR-10 copy is, and classes under other names."""

__version__ = "0.1.0"
