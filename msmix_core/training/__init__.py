"""Training and evaluation: the trainer loop, its events, and robustness to missing modalities."""

from msmix_core.training.robustness import evaluate_robustness, feature_std, load_trained, score_condition
from msmix_core.training.trainer import (
    LOSSES,
    MIX_LOSSES,
    RECIPES,
    Callback,
    EpochEvent,
    TrainConfig,
    TrainResult,
    build_models,
    constant_loss,
    get_lr,
    make_optimizer,
    predict,
    step_losses,
    train,
)

__all__ = [
    "LOSSES",
    "MIX_LOSSES",
    "RECIPES",
    "Callback",
    "EpochEvent",
    "TrainConfig",
    "TrainResult",
    "build_models",
    "constant_loss",
    "evaluate_robustness",
    "feature_std",
    "get_lr",
    "load_trained",
    "make_optimizer",
    "predict",
    "score_condition",
    "step_losses",
    "train",
]
