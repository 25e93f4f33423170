"""MS-Mix ablation variants: SASS, SIG or SAL switched off, their labels, and their variants of a grid of runs.

The CLI (``msmix ablate``) and the Ablation page build the same variants from this one table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from msmix_core.errors import MsmixError
from msmix_core.runs.identity import experiment_fields, in_factor

#: MS-Mix's ablation variants: name -> the knobs that switch a component off. "attached" keeps
#: every component and lets SAL's and SIG's gradients reach the encoders through the intensity
#: predictors, as the release does (msmix's default stops them there: docs/findings.md).
ABLATIONS: dict[str, dict[str, bool]] = {
    "full": {},
    "no-sass": {"use_sass": False},
    "no-sig": {"use_sig": False},
    "no-sal": {"use_sal": False},
    "no-parts": {"use_sass": False, "use_sig": False, "use_sal": False},
    "attached": {"detach_predictor_input": False},
}


#: The label of full MS-Mix in ablation tables, the baseline of the paired tests.
FULL_LABEL = "msmix"


#: Each variant's label in run stores and tables.
ABLATION_LABELS: dict[str, str] = {
    "full": FULL_LABEL,
    "no-sass": "msmix -SASS",
    "no-sig": "msmix -SIG",
    "no-sal": "msmix -SAL",
    "no-parts": "msmix -SASS -SIG -SAL",
    "attached": "msmix attached (release)",
}


#: The variants offered first: each component off in turn (the paper's ablation).
DEFAULT_ABLATIONS: tuple[str, ...] = ("full", "no-sass", "no-sig", "no-sal")


def ablation_label(variant: str) -> str:
    """A variant's label in tables: ``"no-sal"`` -> ``"msmix -SAL"``, ``"full"`` -> ``"msmix"``."""
    return ABLATION_LABELS[variant]


#: What an ablation varies: MS-Mix's switches. Runs are variants of one ablation when every other
#: setting (data, backbone, epochs, lr, the other knobs...) is the same (msmix_core.runs.comparable_sets).
ABLATION_FACTOR: tuple[str, ...] = tuple(sorted({f"method.{knob}" for knobs in ABLATIONS.values() for knob in knobs}))


def ablation_variant(config: Mapping[str, Any]) -> str:
    """A stored run's variant named from its switches, not its label: ``{"use_sal": False}`` -> ``"msmix -SAL"``.

    A sweep run at MS-Mix's defaults is full MS-Mix whatever its label; switches no variant has are
    written out (``"msmix use_sal=False use_sig=False"``).
    """
    fields = experiment_fields(config)
    switches = {key.removeprefix("method."): value for key, value in fields.items() if in_factor(key, ABLATION_FACTOR)}
    for variant, knobs in ABLATIONS.items():
        if switches == knobs:
            return ablation_label(variant)
    return " ".join([FULL_LABEL, *(f"{knob}={value}" for knob, value in switches.items())])


def ablation_variants(variants: Sequence[str]) -> dict[str, tuple[str, dict[str, bool]]]:
    """The grid variants (:func:`~msmix_core.experiments.grid.config_grid`) of the named ablation variants:
    their labels -> ``("msmix", the switches)``; the grid's MS-Mix knobs go under the switches."""
    unknown = [v for v in variants if v not in ABLATIONS]
    if unknown or not variants:
        raise MsmixError(f"ablation variants must be a non-empty subset of {list(ABLATIONS)}, got {list(variants)}")
    return {ablation_label(v): ("msmix", ABLATIONS[v]) for v in variants}
