"""Experiment definitions the CLI and the app share: what to train, and what the runs say.

- :mod:`~msmix_core.experiments.ablation`: MS-Mix with SASS, SIG or SAL switched off.
- :mod:`~msmix_core.experiments.sweeps`: knob grids (``msmix sweep``, the Sweeps page).
- :mod:`~msmix_core.experiments.tuning`: the Optuna search space, objective and study (``msmix tune``).
- :mod:`~msmix_core.experiments.reports`: tables, did-not-learn warnings and verdicts in words.
"""

from msmix_core.experiments.ablation import (
    ABLATION_FACTOR,
    ABLATION_LABELS,
    ABLATIONS,
    DEFAULT_ABLATIONS,
    FULL_LABEL,
    ablation_configs,
    ablation_label,
    ablation_variant,
)
from msmix_core.experiments.reports import (
    CONSTANT_MARGIN,
    fits,
    history_frame,
    latest_runs,
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
    "ablation_configs",
    "ablation_label",
    "ablation_variant",
    "fits",
    "history_frame",
    "latest_runs",
    "learning_warnings",
    "robustness_table",
    "run_name",
    "significance_sentences",
    "summary_table",
]
