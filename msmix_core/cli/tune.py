"""``msmix tune``: an Optuna search over a method's knobs on valid, then the best knobs scored over seeds on test."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace

from tqdm import tqdm

from msmix_core.cli.common import check_outputs, load_source, positive_int, seed_value
from msmix_core.cli.grid import add_training_options, grid_configs, make_executor, run_grid
from msmix_core.device import resolve_device
from msmix_core.errors import MsmixError, printable
from msmix_core.runs import RunStore
from msmix_core.training import TrainConfig, build_models


def add_tune(p: argparse.ArgumentParser) -> None:
    add_training_options(p)
    p.add_argument("--method", default="msmix", help="default %(default)s")
    p.add_argument("--backbone", default=TrainConfig.backbone, help="default %(default)s")
    p.add_argument("--trials", type=positive_int, default=40, help="trials to add to the study (default %(default)s)")
    p.add_argument(
        "--storage",
        default=None,
        help="an Optuna storage URL, e.g. sqlite:///runs/tune.db or a database many machines share "
        "(default: tune.db in the runs folder); the same storage and --study go on where a study stopped",
    )
    p.add_argument("--study", default=None, help="study name (default: METHOD-BACKBONE-DATASET)")
    p.add_argument(
        "--params", nargs="+", default=None, metavar="KNOB", help="knobs to search (default: every tunable knob)"
    )
    p.add_argument(
        "--trial-seed", type=seed_value, default=0, help="seed of every trial's run; --seeds score the best (default 0)"
    )
    p.set_defaults(handler=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    import optuna  # imported here: Optuna (and SQLAlchemy) take a while to load, and only this command needs them

    from msmix_core.experiments.tuning import INTERRUPTED, best_knobs, open_study, search_space, tune

    make_executor(args, 1)  # a bad --threads, --workers or --ray fails before the first trial, not after the last
    if args.trial_seed in args.seeds:
        seeds = f"--trial-seed {args.trial_seed} is among --seeds {args.seeds}"
        raise MsmixError(f"{seeds}: the best knobs are scored on fresh seeds, so pick another trial seed")
    check_outputs(args.out)
    dataset = load_source(args.dataset)
    store = RunStore(args.runs_dir)
    base = replace(grid_configs(args, [args.backbone], {args.method: (args.method, {})})[0], seed=args.trial_seed)
    build_models(dataset, base, resolve_device(base.device))  # a bad name or knob fails before the first trial
    space = search_space(args.method, args.params, fixed=base.method_kwargs)
    if args.storage is None:
        try:
            store.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MsmixError(f"cannot create the runs folder {store.root} ({exc.strerror or exc})") from exc
    storage = args.storage or f"sqlite:///{store.root / 'tune.db'}"
    name = args.study or f"{args.method}-{args.backbone}-{dataset.name}"
    setup = {"method": args.method, "backbone": args.backbone, "dataset": dataset.name, "knobs": sorted(space)}
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a bar, and one line per failed trial, not tracebacks
    study = open_study(storage, name, setup)
    with tqdm(total=args.trials, desc="trials", unit="trial", file=sys.stderr, disable=args.quiet) as bar:

        def done(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            bar.set_postfix_str(f"#{trial.number} {trial.state.name.lower()}", refresh=False)
            bar.update(1)
            if trial.state == optuna.trial.TrialState.FAIL:
                failed = f"msmix: warning: trial #{trial.number} failed: {trial.user_attrs.get('error')}"
                bar.write(printable(failed), file=sys.stderr)

        earlier = len(study.trials)
        try:
            tune(dataset, base, trials=args.trials, study=study, space=space, seed=args.trial_seed, on_trial=done)
        except KeyboardInterrupt as exc:  # what main() prints after "interrupted; " (a trial stores no run)
            session = study.get_trials(deepcopy=False)[earlier:]
            cut = [t.number for t in session if str(t.user_attrs.get("error", "")).startswith(INTERRUPTED)]
            stopped = f"trial #{cut[0]} was stopped and is marked failed" if cut else "no trial was in progress"
            finished = sum(t.state.is_finished() for t in session) - len(cut)
            exc.summary = (
                f"{stopped} in study {name!r}, which keeps the {finished} trial(s) this session finished "
                "(trials store no run); the same command resumes it"
            )
            raise
    best, knobs = best_knobs(study)
    states = {s.name.lower(): sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
    counts = ", ".join(f"{n} {state}" for state, n in states.items() if n)
    print(f"study {name!r} in {storage}: {len(study.trials)} trials ({counts})")
    print(f"best valid loss {best.value:.4f} (trial #{best.number}, seed {args.trial_seed}): {json.dumps(knobs)}")
    print(f"scoring the best knobs against the defaults on test over seeds {args.seeds}")
    variants = {args.method: (args.method, {}), f"{args.method} tuned": (args.method, knobs)}
    return run_grid(args, grid_configs(args, [args.backbone], variants), baseline=args.method)


PARSERS = {"tune": add_tune}
