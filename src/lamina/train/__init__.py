"""Training mathematics of DSSTNE (spec section 2) as pure torch functions and small stateful
helpers: losses whose gradients are DSSTNE's output deltas, the sparseness penalty and weight-
decay error, DSSTNE's seven optimizers, learning-rate decay, the divergence brake and per-epoch
denoising."""

from lamina.train.brake import BrakeDecision, DivergenceBrake
from lamina.train.denoising import DenoisingMask
from lamina.train.losses import check_error_function, output_loss
from lamina.train.optimizers import OPTIMIZER_CLASSES, DsstneOptimizer, make_optimizer
from lamina.train.regularization import penalized_layers, regularization_error, sparseness_penalty
from lamina.train.schedule import AlphaSchedule, set_learning_rate

__all__ = [
    "OPTIMIZER_CLASSES",
    "AlphaSchedule",
    "BrakeDecision",
    "DenoisingMask",
    "DivergenceBrake",
    "DsstneOptimizer",
    "check_error_function",
    "make_optimizer",
    "output_loss",
    "penalized_layers",
    "regularization_error",
    "set_learning_rate",
    "sparseness_penalty",
]
