"""Links from the Runs page to the pages that compare stored runs, with the chosen runs in their URLs.

Ablation and Robustness keep the set of like runs they compare in the URL (``ab_set``, ``rb_set``:
the digest of the settings its runs share, the compared factor aside); a link names the set that
holds the chosen group, and also the group's experiment keys (``experiment``) and run ids (``runs``).
Training overlays the runs its ``tr_overlay`` names.
"""

from __future__ import annotations

from collections.abc import Sequence

from msmix_core.experiments.ablation import ABLATION_FACTOR
from msmix_core.runs import Run
from msmix_core.runs.identity import fields_key, settings_fields
from ui import page_state

#: The factor each comparing page varies within a set (its runs share every other setting).
FACTORS: dict[str, tuple[str, ...]] = {"ablation": ABLATION_FACTOR, "robustness": ("method",)}


def group_links(runs: Sequence[Run]) -> list[tuple[str, str, dict[str, str]]]:
    """``(page, label, query parameters)`` that open ``runs`` (one group or more; the sets of the first run's
    settings) in Ablation, Robustness and Training."""
    join = page_state.SEPARATOR.join
    chosen = {"experiment": join(dict.fromkeys(run.experiment_key for run in runs)), "runs": join(r.id for r in runs)}
    config = runs[0].config
    sets = {page: fields_key(settings_fields(config, factor)) for page, factor in FACTORS.items()}
    return [
        ("pages/ablation.py", "Ablation", {"ab_set": sets["ablation"], **chosen}),
        ("pages/robustness.py", "Robustness", {"rb_set": sets["robustness"], **chosen}),
        ("pages/training.py", "Training", {"tr_overlay": chosen["runs"]}),
    ]
