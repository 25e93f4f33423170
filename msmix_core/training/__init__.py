"""Training and evaluation: the configuration, the loop, its events, and robustness to missing modalities."""

from msmix_core.training.config import (
    LOSSES,
    MIX_LOSSES,
    OPTIMIZERS,
    RECIPES,
    SCHEDULES,
    Recipe,
    TrainConfig,
    recipes_help,
)
from msmix_core.training.events import Callback, EpochEvent, RecordRun, StopFlag, TrainResult
from msmix_core.training.robustness import evaluate_robustness, feature_std, load_trained, score_condition
from msmix_core.training.trainer import (
    build_models,
    constant_loss,
    evaluate,
    get_lr,
    make_optimizer,
    predict,
    step_losses,
    train,
    train_one_epoch,
)

__all__ = [
    "LOSSES",
    "MIX_LOSSES",
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULES",
    "Callback",
    "EpochEvent",
    "Recipe",
    "RecordRun",
    "StopFlag",
    "TrainConfig",
    "TrainResult",
    "build_models",
    "constant_loss",
    "evaluate",
    "evaluate_robustness",
    "feature_std",
    "get_lr",
    "load_trained",
    "make_optimizer",
    "predict",
    "recipes_help",
    "score_condition",
    "step_losses",
    "train",
    "train_one_epoch",
]
