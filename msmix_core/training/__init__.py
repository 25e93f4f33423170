"""Training and evaluation: the trainer loop, its events, and robustness to missing modalities."""

from msmix_core.training.robustness import evaluate_robustness, feature_std, load_trained, score_condition
from msmix_core.training.trainer import (
    LOSSES,
    Callback,
    EpochEvent,
    TrainConfig,
    TrainResult,
    build_models,
    make_optimizer,
    predict,
    step_losses,
    train,
)

__all__ = [
    "LOSSES",
    "Callback",
    "EpochEvent",
    "TrainConfig",
    "TrainResult",
    "build_models",
    "evaluate_robustness",
    "feature_std",
    "load_trained",
    "make_optimizer",
    "predict",
    "score_condition",
    "step_losses",
    "train",
]
