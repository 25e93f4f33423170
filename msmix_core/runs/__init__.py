"""Training runs on disk and the tables that compare them over seeds.

- :mod:`msmix_core.runs.files`: atomic writes and checked JSON reads;
- :mod:`msmix_core.runs.identity`: :func:`experiment_key` (what defines a run but its seed) and
  :func:`experiment_fields`;
- :mod:`msmix_core.runs.sets`: :func:`comparable_sets`, stored runs that differ in a compared factor
  alone, and :func:`left_out`, what a chosen set leaves out;
- :mod:`msmix_core.runs.status`: :class:`RunStatus`, how a run stands;
- :mod:`msmix_core.runs.store`: :class:`RunStore` and :class:`Run`, one folder of plain files per run;
- :mod:`msmix_core.runs.validation`: the checks of what a run's files hold, read or written;
- :mod:`msmix_core.runs.liveness`: whether a ``running`` run's process still trains it;
- :mod:`msmix_core.runs.compare`: :func:`runs_table`, :func:`compare_runs` (mean ± std, paired tests),
  :func:`format_table` and :func:`to_markdown`.

Everything public is re-exported here, so ``from msmix_core.runs import RunStore`` is the import to use.
"""

from msmix_core.runs.compare import (
    COMPARE_COLUMNS,
    MIN_PAIRED_SEEDS,
    MIN_WILCOXON_SEEDS,
    TABLE_COLUMNS,
    compare_runs,
    format_table,
    mean_interval,
    paired_differences,
    runs_table,
    to_markdown,
)
from msmix_core.runs.files import atomic_write
from msmix_core.runs.identity import (
    EXPERIMENT_KEY_FIELD,
    KEY_LENGTH,
    experiment_fields,
    experiment_key,
    settings_fields,
)
from msmix_core.runs.liveness import ABANDONED_AFTER
from msmix_core.runs.sets import (
    ComparisonSet,
    comparable_sets,
    left_out,
    newest_by_seed,
    run_label,
    varying_settings,
)
from msmix_core.runs.status import STATUSES, RunStatus
from msmix_core.runs.store import (
    CONFIG_FILE,
    HISTORY_FILE,
    LEGACY_HISTORY_FILE,
    RESULT_FILE,
    RUNS_DIR_ENV,
    WEIGHTS_FILE,
    Run,
    RunStore,
)
from msmix_core.runs.validation import REQUIRED_CONFIG_KEYS

__all__ = [
    "ABANDONED_AFTER",
    "COMPARE_COLUMNS",
    "CONFIG_FILE",
    "EXPERIMENT_KEY_FIELD",
    "HISTORY_FILE",
    "KEY_LENGTH",
    "LEGACY_HISTORY_FILE",
    "MIN_PAIRED_SEEDS",
    "MIN_WILCOXON_SEEDS",
    "REQUIRED_CONFIG_KEYS",
    "RESULT_FILE",
    "RUNS_DIR_ENV",
    "STATUSES",
    "TABLE_COLUMNS",
    "WEIGHTS_FILE",
    "ComparisonSet",
    "Run",
    "RunStatus",
    "RunStore",
    "atomic_write",
    "comparable_sets",
    "compare_runs",
    "experiment_fields",
    "experiment_key",
    "format_table",
    "left_out",
    "mean_interval",
    "newest_by_seed",
    "paired_differences",
    "run_label",
    "runs_table",
    "settings_fields",
    "to_markdown",
    "varying_settings",
]
