"""Experiment definitions the CLI and the app share: what to train, and what the runs say.

- :mod:`~msmix_core.experiments.grid`: the grid of runs (backbones × variants × seeds) every command and page trains.
- :mod:`~msmix_core.experiments.ablation`: MS-Mix with SASS, SIG or SAL switched off.
- :mod:`~msmix_core.experiments.sweeps`: knob grids (``msmix sweep``, the Sweeps page).
- :mod:`~msmix_core.experiments.tuning`: the Optuna search space, objective and study (``msmix tune``).
- :mod:`~msmix_core.experiments.reports`: tables, did-not-learn warnings and verdicts in words.
- :mod:`~msmix_core.experiments.comparisons`: which stored runs Ablation and Robustness set against each
  other (like with like), and robustness scores over seeds.
"""

from msmix_core.experiments.ablation import (
    ABLATION_FACTOR,
    ABLATION_LABELS,
    ABLATIONS,
    DEFAULT_ABLATIONS,
    FULL_LABEL,
    ablation_label,
    ablation_variant,
    ablation_variants,
)
from msmix_core.experiments.comparisons import (
    ROBUSTNESS_METHODS,
    ROBUSTNESS_REFERENCE,
    ablation_sets,
    method_sets,
    seed_differences,
    seed_means,
)
from msmix_core.experiments.grid import MAX_RUNS, config_grid
from msmix_core.experiments.reports import (
    CONSTANT_MARGIN,
    fits,
    history_frame,
    learning_warnings,
    robustness_table,
    run_name,
    significance_sentences,
    summary_table,
)

__all__ = [
    "ABLATIONS",
    "ABLATION_FACTOR",
    "ABLATION_LABELS",
    "CONSTANT_MARGIN",
    "DEFAULT_ABLATIONS",
    "FULL_LABEL",
    "MAX_RUNS",
    "ROBUSTNESS_METHODS",
    "ROBUSTNESS_REFERENCE",
    "ablation_label",
    "ablation_sets",
    "ablation_variant",
    "ablation_variants",
    "config_grid",
    "fits",
    "history_frame",
    "learning_warnings",
    "method_sets",
    "robustness_table",
    "run_name",
    "seed_differences",
    "seed_means",
    "significance_sentences",
    "summary_table",
]
