"""The trainer: every backbone × method trains, the loss reaches MS-Mix's predictors, runs are
reproducible, stoppable and recorded, and a short run learns the synthetic data."""

import copy
import itertools
import threading

import numpy as np
import pytest
import torch

from msmix_core import MODALITIES
from msmix_core.data.batching import SplitLoader
from msmix_core.data.synthetic import make_synthetic
from msmix_core.errors import MsmixError
from msmix_core.metrics import mmsa_metrics
from msmix_core.mixing.registry import METHODS
from msmix_core.models.registry import BACKBONES, build_backbone
from msmix_core.runs import RunStore
from msmix_core.training import (
    LOSSES,
    RECIPES,
    Callback,
    TrainConfig,
    build_models,
    get_lr,
    make_optimizer,
    predict,
    step_losses,
    train,
)
from msmix_core.training import trainer as trainer_module


@pytest.fixture(scope="module")
def default_data():
    return make_synthetic()


def without_timing(history):
    """History records minus wall-clock fields, as text so that NaN diagnostics compare equal."""
    return repr([{k: v for k, v in e.items() if k not in ("wall_time", "elapsed")} for e in history])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", 2.5),
        ("batch_size", 1),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("weight_decay", -1.0),
        ("grad_clip", 0.0),
        ("patience", 0),
        ("loss", "huber"),
        ("mix_loss", "huber"),
        ("recipe", "fast"),
        ("optimizer", "sgd"),
        ("schedule", "step"),
        ("warmup", 1.0),
        ("seed", -1),
        ("seed", True),
        ("save_weights", "yes"),
        ("backbone", ""),
        ("method_kwargs", ["alpha", 1]),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(MsmixError, match=field):
        TrainConfig(**{field: value})


def test_config_round_trips_and_rejects_unknown_fields():
    config = TrainConfig(backbone="tfn", method="msmix", method_kwargs={"alpha": 1.0}, label="msmix a1", grad_clip=0.6)
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.display_label == "msmix a1" and TrainConfig(method="mixup").display_label == "mixup"
    with pytest.raises(MsmixError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_every_backbone_trains_with_every_method(small, backbone, method):
    config = TrainConfig(backbone=backbone, method=method, epochs=1, batch_size=16, device="cpu", seed=3)
    result = train(small, config)
    assert result.status == "finished" and result.best_epoch == 1 and len(result.history) == 1
    losses = result.history[0]["losses"]
    assert all(np.isfinite(v) for v in losses.values()), losses
    assert (losses["mix"] > 0) == (method != "none"), "mixed samples were trained on exactly when a method mixes"
    assert set(result.test_metrics) == set(mmsa_metrics(np.zeros(4), np.array([-1.0, 1, 2, 0]), small.metrics))
    assert {"contradictory_rate", "mean_abs_label_gap"} <= set(result.history[0]["diagnostics"])


@pytest.mark.parametrize("backbone", ["late_fusion", "mult"])
def test_gradients_reach_msmix_intensity_predictors(small, backbone):
    config = TrainConfig(backbone=backbone, method="msmix", device="cpu")
    model, method = build_models(small, config, torch.device("cpu"))
    assert any(True for _ in method.parameters()), "MS-Mix owns trainable intensity predictors"
    batch = next(iter(SplitLoader(small.train, 16, shuffle=True, seed=0, device="cpu")))
    losses, _ = step_losses(model, method, batch, LOSSES["l1"], torch.Generator().manual_seed(0))
    losses["train"].backward()
    for name, param in method.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
    assert sum(float(p.grad.abs().sum()) for p in method.parameters()) > 0


def test_short_run_on_default_data_beats_a_constant_predictor(default_data):
    result = train(default_data, TrainConfig(epochs=6, device="cpu"))
    y_train, y_test = default_data.train.labels, default_data.test.labels
    constant = np.full_like(y_test, np.median(y_train))  # the best constant under L1
    constant_mae = float(np.abs(constant - y_test).mean())
    assert result.test_metrics["MAE"] < 0.8 * constant_mae
    assert result.test_metrics["Corr"] > 0.5


def test_same_seed_same_metrics_and_history(small):
    config = TrainConfig(method="msmix", epochs=2, batch_size=16, device="cpu", seed=7)
    first, second = train(small, config), train(small, config)
    assert first.test_metrics == second.test_metrics and first.valid_metrics == second.valid_metrics
    assert without_timing(first.history) == without_timing(second.history)
    other = train(small, TrainConfig(method="msmix", epochs=2, batch_size=16, device="cpu", seed=8))
    assert without_timing(other.history) != without_timing(first.history)


def test_best_validation_checkpoint_is_kept_and_scores_the_test_split(small):
    result = train(small, TrainConfig(epochs=6, batch_size=16, lr=3e-3, device="cpu"))
    valid_losses = [e["losses"]["valid"] for e in result.history]
    assert result.best_epoch == 1 + int(np.argmin(valid_losses))
    pred, y = predict(result.backbone, SplitLoader(small.test, 32, shuffle=False, seed=0, device="cpu"))
    assert mmsa_metrics(pred, y, small.metrics) == result.test_metrics
    assert result.test_metrics == result.history[result.best_epoch - 1]["test_metrics"]


def test_early_stopping_after_patience_epochs_without_improvement(small):
    # a far too large learning rate stops improving quickly (a tiny one does not: normalisation
    # layers' running statistics still move the validation loss)
    result = train(small, TrainConfig(epochs=40, patience=2, lr=0.5, batch_size=16, device="cpu"))
    valid = [e["losses"]["valid"] for e in result.history]
    assert result.status == "finished"
    assert len(result.history) == result.best_epoch + 2 < 40
    assert min(valid[result.best_epoch :]) > valid[result.best_epoch - 1] - 1e-6


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_start(self, info):
        self.calls.append(("start", info["steps_per_epoch"]))

    def on_batch_end(self, step, total):
        self.calls.append(("batch", step, total))

    def on_epoch_end(self, event):
        self.calls.append(("epoch", event.epoch))

    def on_train_end(self, result):
        self.calls.append(("end", result.status))


def test_callbacks_see_every_event_in_order_and_plain_objects_work(small):
    class EpochsOnly:  # not a Callback subclass: only the hooks it has are called
        def __init__(self):
            self.epochs = []

        def on_epoch_end(self, event):
            self.epochs.append(event.to_dict()["epoch"])

    recorder, plain = Recorder(), EpochsOnly()
    train(small, TrainConfig(epochs=2, batch_size=16, device="cpu"), callbacks=[recorder, plain])
    batches = [("batch", s, 4) for s in range(1, 5)]
    assert recorder.calls == [("start", 4), *batches, ("epoch", 1), *batches, ("epoch", 2), ("end", "finished")]
    assert plain.epochs == [1, 2]


def test_stop_event_ends_after_the_current_batch_and_keeps_the_history(small):
    stop = threading.Event()

    class StopInEpochTwo(Recorder):
        def on_batch_end(self, step, total):
            super().on_batch_end(step, total)
            if len(self.calls) > 6:  # start, 4 batches, epoch 1, then the first batch of epoch 2
                stop.set()

    recorder = StopInEpochTwo()
    result = train(small, TrainConfig(epochs=5, batch_size=16, device="cpu"), callbacks=[recorder], stop=stop)
    assert result.status == "stopped"
    assert len(result.history) == 2 and result.best_epoch in (1, 2)
    assert [c for c in recorder.calls if c[0] == "batch"][-1] == ("batch", 1, 4)
    assert recorder.calls[-1] == ("end", "stopped")


def test_store_records_config_history_metrics_and_weights(small, tmp_path):
    store = RunStore(tmp_path)
    config = TrainConfig(method="mixup", label="vanilla", epochs=2, batch_size=16, device="cpu")
    result = train(small, config, store=store)
    run = store.load(result.run_id)
    assert run.status == "finished" and run.best_epoch == result.best_epoch
    assert run.config["label"] == "vanilla" and run.config["dataset"] == small.name
    assert run.config["dataset_summary"] == small.summary() and run.config["dataset_info"]["seed"] == 0
    assert {"torch", "numpy", "msmix"} <= set(run.config["versions"]) and run.config["device"] == "cpu"
    assert run.metrics == {"valid": result.valid_metrics, "test": result.test_metrics}
    assert without_timing(run.history) == without_timing(result.history)
    weights = run.load_weights()
    for key, value in result.backbone.state_dict().items():
        assert torch.equal(weights["backbone"][key], value)
    unsaved = train(small, TrainConfig(epochs=1, batch_size=16, device="cpu", save_weights=False), store=store)
    assert run.has_weights and not store.load(unsaved.run_id).has_weights


def test_store_marks_a_crashed_run_failed_with_the_error(small, tmp_path):
    class Crash:
        def on_epoch_end(self, event):
            raise RuntimeError("disk on fire")

    store = RunStore(tmp_path)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train(small, TrainConfig(epochs=3, batch_size=16, device="cpu"), callbacks=[Crash()], store=store)
    (run,) = store.list()
    assert run.status == "failed" and "disk on fire" in run.error
    assert len(run.history) == 1


def test_observers_hear_of_a_failure_after_the_run_is_recorded(small, tmp_path):
    heard = []

    class Interrupt:
        def on_batch_end(self, step, total):
            raise KeyboardInterrupt

        def on_train_error(self, error):
            heard.append((type(error).__name__, [r.status for r in store.list()]))

    class LateCrash:
        def on_train_end(self, result):
            raise RuntimeError("after the end")

    store = RunStore(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train(small, TrainConfig(epochs=2, batch_size=16, device="cpu"), callbacks=[Interrupt()], store=store)
    assert heard == [("KeyboardInterrupt", ["interrupted"])]
    with pytest.raises(RuntimeError, match="after the end"):
        train(small, TrainConfig(epochs=1, batch_size=16, device="cpu"), callbacks=[LateCrash()], store=store)
    assert sorted(r.status for r in store.list()) == ["finished", "interrupted"]  # recorded before the crash


@pytest.mark.parametrize("method", ["none", "msmix"])
def test_nan_in_the_features_stops_the_run_failed_naming_the_input(small, tmp_path, method):
    data = copy.deepcopy(small)  # the shared dataset stays clean
    data.train.audio[5, 2, 1] = np.nan  # the schema checks labels, not every feature value
    store = RunStore(tmp_path)
    with pytest.raises(MsmixError, match="the loss is not finite; the batch's audio hold NaN or infinite values"):
        train(data, TrainConfig(method=method, epochs=2, batch_size=16, device="cpu"), store=store)
    (run,) = store.list()
    assert run.status == "failed" and "audio hold NaN" in run.error and run.history == []


def test_a_diverging_loss_stops_the_run_with_advice(small, tmp_path):
    """Weights blown up as a far too large step would (an lr that large is refused): the loss diverges."""

    class Blowup:
        def on_epoch_models(self, epoch, backbone, method):
            with torch.no_grad():
                for p in backbone.parameters():
                    p.mul_(1e30)

    store = RunStore(tmp_path)
    with pytest.raises(MsmixError, match="the task loss diverged: lower the learning rate"):
        train(small, TrainConfig(epochs=3, batch_size=16, device="cpu"), callbacks=[Blowup()], store=store)
    assert store.list()[0].status == "failed"


def test_bad_names_fail_before_a_run_is_created(small, tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(MsmixError, match="late_fusion"):
        train(small, TrainConfig(backbone="no_such_net"), store=store)
    with pytest.raises(MsmixError, match="msmix"):
        train(small, TrainConfig(method="no_such_mix"), store=store)
    assert store.list() == []


def test_recipes_fill_the_fields_left_unset_and_explicit_values_win():
    release = TrainConfig(recipe="release")
    assert (release.optimizer, release.lr, release.weight_decay) == ("adamw", 1e-4, 1e-4)
    assert (release.batch_size, release.epochs, release.patience) == (64, 200, 32)
    assert (release.schedule, release.warmup, release.loss, release.mix_loss) == ("warmup_cosine", 0.1, "mse", "mse")
    assert TrainConfig(recipe="release", lr=3e-4, batch_size=32).lr == 3e-4
    mmsa = TrainConfig()
    assert {name: getattr(mmsa, name) for name in RECIPES["mmsa"].fields} == RECIPES["mmsa"].fields
    assert TrainConfig.from_dict(release.to_dict()) == release


def test_the_glomo_recipe_is_the_glomo_papers_mosi_training_and_sizes_in_one_option():
    paper = TrainConfig(backbone="glomo", recipe="glomo")
    assert (paper.optimizer, paper.lr, paper.weight_decay, paper.schedule) == ("adamw", 4e-5, 1e-4, "constant")
    assert (paper.batch_size, paper.epochs, paper.patience, paper.loss) == (240, 70, 70, "l1")
    assert paper.backbone_kwargs == {"d_model": 48, "num_heads": 16, "layers": 4, "fusion_ffn_dim": 2048}
    knobs = {"layers": 2}
    mine = TrainConfig(backbone="glomo", recipe="glomo", backbone_kwargs=knobs)
    assert mine.backbone_kwargs["layers"] == 2 and mine.backbone_kwargs["d_model"] == 48  # explicit knobs win
    assert knobs == {"layers": 2}  # the caller's dict is not changed
    assert TrainConfig(backbone="tfn", recipe="glomo").backbone_kwargs == {}  # other backbones keep their sizes
    assert TrainConfig.from_dict(paper.to_dict()) == paper
    model = build_backbone("glomo", dict.fromkeys(MODALITIES, 4), dict.fromkeys(MODALITIES, 3), **paper.backbone_kwargs)
    assert model.latent_dims == dict.fromkeys(MODALITIES, 48)


def test_release_learning_rate_warms_up_from_zero_then_decays_by_cosine():
    config = TrainConfig(recipe="release")  # 200 epochs, warm-up 20
    assert get_lr(1, config) == 0.0  # the release's first epoch trains at lr 0
    assert get_lr(11, config) == pytest.approx(0.5e-4)
    assert get_lr(21, config) == pytest.approx(1e-4)  # end of warm-up: the peak
    assert get_lr(21 + 90, config) == pytest.approx(0.5e-4)  # half-way through the cosine
    assert get_lr(200, config) == pytest.approx(1e-4 * 0.5 * (1 + np.cos(np.pi * 179 / 180)))
    rates = [get_lr(e, config) for e in range(21, 201)]
    assert all(a >= b for a, b in itertools.pairwise(rates))
    assert {get_lr(e, TrainConfig()) for e in range(1, 31)} == {1e-3}


def test_each_epoch_trains_at_the_schedules_learning_rate(small):
    config = TrainConfig(recipe="release", epochs=5, batch_size=16, device="cpu", save_weights=False)
    history = train(small, config).history
    assert [e["lr"] for e in history] == [get_lr(e, config) for e in range(1, 6)]
    assert history[0]["lr"] == 0.0


def test_adamw_decays_the_weights_directly(small):
    config = TrainConfig(recipe="release", device="cpu")
    backbone, method = build_models(small, config, torch.device("cpu"))
    optimizer = make_optimizer(backbone, method, config)
    assert isinstance(optimizer, torch.optim.AdamW)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    before = [p.detach().clone() for p in params]
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()  # zero gradients: only the decoupled decay moves the weights
    for old, new in zip(before, params, strict=True):
        torch.testing.assert_close(new.detach(), old * (1 - config.lr * config.weight_decay))
    assert isinstance(make_optimizer(backbone, method, TrainConfig(device="cpu")), torch.optim.Adam)


def test_the_mixed_term_is_mse_under_both_recipes_unless_asked(small, monkeypatch):
    seen = []
    real = trainer_module.step_losses

    def spy(backbone, method, batch, loss_fn, generator=None, mix_loss_fn=None):
        seen.append((loss_fn, mix_loss_fn))
        return real(backbone, method, batch, loss_fn, generator, mix_loss_fn)

    monkeypatch.setattr(trainer_module, "step_losses", spy)
    for config, task, mixed in (
        (TrainConfig(recipe="release"), "mse", "mse"),
        (TrainConfig(), "l1", "mse"),  # MMSA's L1 task loss, the release's MSE mixed term
        (TrainConfig(mix_loss="task"), "l1", "l1"),
    ):
        seen.clear()
        config = TrainConfig.from_dict(config.to_dict() | {"method": "mixup", "epochs": 1, "device": "cpu"})
        train(small, config)
        assert {(a, b) for a, b in seen} == {(LOSSES[task], LOSSES[mixed])}


def test_mse_mixed_term_is_minimised_at_the_mixed_label_and_l1_at_the_dominant_source():
    from msmix_core.mixing.methods import Mixup

    features = {m: torch.zeros(2, 1, 1) for m in ("text", "audio", "vision")}
    res = Mixup()(features, torch.tensor([2.0, -1.0]), torch.Generator().manual_seed(0))
    res.lam["label"] = torch.full((2,), 0.55)
    res.labels_a, res.labels_b = torch.tensor([2.0, 2.0]), torch.tensor([-1.0, -1.0])
    grid = torch.linspace(-1.5, 2.5, 401)

    def best(loss):
        return float(grid[torch.stack([res.mix_loss(p.expand(2), loss) for p in grid]).argmin()])

    assert best(LOSSES["mse"]) == pytest.approx(0.65, abs=0.01)
    assert best(LOSSES["l1"]) == pytest.approx(2.0, abs=0.01)


def test_every_epoch_records_the_constant_predictors_validation_loss(small):
    history = train(small, TrainConfig(epochs=2, device="cpu", save_weights=False)).history
    median = np.median(small.train.labels)
    expected = float(np.abs(small.valid.labels - median).mean())
    assert [e["losses"]["valid_constant"] for e in history] == pytest.approx([expected, expected])


@pytest.mark.slow
def test_msmix_with_the_defaults_learns_within_a_few_epochs(default_data):
    """The regression test of issue 11: MS-Mix's defaults leave the constant predictor within 4 epochs."""
    result = train(default_data, TrainConfig(method="msmix", epochs=4, device="cpu", save_weights=False))
    last = result.history[-1]["losses"]
    assert last["valid"] < 0.85 * last["valid_constant"]
    assert result.test_metrics["Corr"] > 0.5
