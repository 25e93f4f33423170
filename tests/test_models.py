"""Backbones: the encode/head contract, mixing-friendly heads, lengths, training, the registry,
and the fast building blocks against simple references."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from msmix_core import MODALITIES
from msmix_core.errors import MsmixError
from msmix_core.models import BACKBONES, build_backbone, describe_backbones
from msmix_core.models.layers import LoneSampleBatchNorm1d, TextSubNet, masked_mean
from msmix_core.models.misa import StackedBiLSTM, central_moment_discrepancy, soft_orthogonality
from msmix_core.models.mult import CrossmodalTransformer

DIMS = {"text": 6, "audio": 5, "vision": 4}
LENS = {"text": 7, "audio": 9, "vision": 6}
TINY = {
    "late_fusion": {"text_hidden": 8, "audio_hidden": 4, "vision_hidden": 4, "post_fusion_dim": 8},
    "tfn": {"text_hidden": 8, "audio_hidden": 4, "vision_hidden": 4, "text_out": 4, "post_fusion_dim": 8},
    "lmf": {"text_hidden": 8, "audio_hidden": 4, "vision_hidden": 4, "text_out": 4, "rank": 2},
    "mult": {"d_model": 8, "num_heads": 2, "num_layers": 1, "mem_layers": 1, "kernel_text": 3, "kernel_audio": 3},
    "misa": {"hidden_size": 8, "fusion_ffn_dim": 16},
    "almt": {"dim": 8, "heads": 2, "mlp_dim": 16, "token_len": 4, "ahl_depth": 2, "fusion_depth": 1},
    "glomo": {"d_model": 8, "num_heads": 2, "layers": 1, "fusion_layers": 1, "fusion_ffn_dim": 16},
}
NAMES = sorted(BACKBONES)
MASKING = [n for n in NAMES if n != "mult"]  # MulT, like the original, reads the padded sequences


def make_batch(batch_size=6, seed=0, lengths=True, dims=DIMS, lens=LENS):
    g = torch.Generator().manual_seed(seed)
    batch = {m: torch.randn(batch_size, lens[m], dims[m], generator=g) for m in MODALITIES}
    if lengths:
        for m in MODALITIES:
            batch[f"{m}_lengths"] = torch.randint(1, lens[m] + 1, (batch_size,), generator=g)
    return batch


def build(name, seed=0, **overrides):
    torch.manual_seed(seed)
    return build_backbone(name, DIMS, LENS, **{**TINY[name], **overrides})


def forward_with_aux(model, batch):
    """The prediction and the backbone's own loss on ``batch``, as the trainer computes them."""
    latents, aux = model.encode_with_aux(batch)
    return model.head(latents), aux


@pytest.mark.parametrize("name", NAMES)
def test_encode_with_aux_gives_the_latents_of_encode_and_a_scalar_loss(name):
    model = build(name).eval()
    batch = make_batch()
    with torch.no_grad():
        latents, aux = model.encode_with_aux(batch)
        assert all(torch.equal(latents[m], model.encode(batch)[m]) for m in MODALITIES)
    assert aux.shape == () and torch.isfinite(aux)
    assert (aux.item() > 0) == (name in ("misa", "glomo")), "only MISA and GLoMo have a loss of their own"


def test_registry_lists_the_seven_backbones():
    assert set(BACKBONES) == {"late_fusion", "tfn", "lmf", "mult", "misa", "almt", "glomo"}
    assert all(cls.name == name for name, cls in BACKBONES.items())


@pytest.mark.parametrize("name", NAMES)
def test_output_and_latent_shapes_follow_the_contract(name):
    model = build(name).eval()
    batch = make_batch()
    latents = model.encode(batch)
    assert set(latents) == set(MODALITIES)
    for m, z in latents.items():
        assert z.dtype == torch.float32
        assert z.shape[0] == 6 and z.shape[-1] == model.latent_dims[m]
        assert z.dim() == (3 if model.latent_is_sequence else 2)
    out = model.head(latents)
    assert out.shape == (6,) and torch.isfinite(out).all()
    assert torch.equal(model(batch), out)


@pytest.mark.parametrize("name", NAMES)
def test_head_takes_convex_combinations_sample_by_sample(name):
    model = build(name).eval()
    latents = model.encode(make_batch())
    lam = torch.tensor([0.0, 0.2, 0.5, 0.7, 1.0, 0.9])
    perm = torch.tensor([3, 4, 5, 0, 1, 2])
    mixed = {}
    for m, z in latents.items():
        w = lam.view(-1, *([1] * (z.dim() - 1)))
        mixed[m] = w * z + (1 - w) * z[perm]
    out = model.head(mixed)
    assert out.shape == (6,) and torch.isfinite(out).all()
    alone = torch.cat([model.head({m: z[i : i + 1] for m, z in mixed.items()}) for i in range(6)])
    torch.testing.assert_close(out, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[0], model.head(latents)[perm[0]], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    """All parameters get a nonzero gradient, except one at initialisation, as in ALMT's code:
    the hyper-modality tokens start as ones, whose layer norm is 0 before the first update."""
    model = build(name).train()
    batch = make_batch(lengths=False)
    pred, aux = forward_with_aux(model, batch)
    (pred.pow(2).mean() + aux).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), pname
        if (name, pname) != ("almt", "ahl.0.norms.3.weight"):
            assert p.grad.abs().sum() > 0, f"{pname} got a zero gradient"


@pytest.mark.parametrize("name", MASKING)
def test_padding_beyond_the_lengths_is_ignored(name):
    model = build(name).eval()
    batch = make_batch()
    noisy = dict(batch)
    for m in MODALITIES:
        beyond = torch.arange(LENS[m]).view(1, -1, 1) >= batch[f"{m}_lengths"].view(-1, 1, 1)
        noisy[m] = torch.where(beyond, 100 * torch.randn_like(batch[m]), batch[m])
    torch.testing.assert_close(model(noisy), model(batch), atol=1e-5, rtol=1e-5)
    if name != "misa":  # MISA's auxiliary loss is checked below; the rest are pure functions
        full = {m: batch[m] for m in MODALITIES}
        assert not torch.allclose(model(full), model(batch), atol=1e-4), "lengths must change the output"


@pytest.mark.parametrize("name", NAMES)
def test_empty_sequences_train_without_nan(name):
    model = build(name).train()
    batch = make_batch()
    for m in MODALITIES:
        batch[f"{m}_lengths"][:2] = 0
    out, aux = forward_with_aux(model, batch)
    (out.sum() + aux).backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_and_no_grad(name):
    model = build(name)
    one = make_batch(batch_size=1)
    with torch.no_grad():
        for mode in (True, False):
            model.train(mode)
            out = model(one)
            assert out.shape == (1,) and torch.isfinite(out).all() and not out.requires_grad
    model.train()
    out, aux = forward_with_aux(model, one)
    (out.sum() + aux).backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_model_and_output(name):
    batch = make_batch()
    outputs = []
    for seed in (0, 0, 1):
        model = build(name, seed=seed).train()
        torch.manual_seed(7)  # dropout draws
        outputs.append(model(batch))
    assert torch.equal(outputs[0], outputs[1])
    assert not torch.equal(outputs[0], outputs[2])


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_a_few_adam_steps_lower_the_loss(name):
    batch = make_batch(batch_size=32, seed=1)
    y = 2 * torch.tanh(masked_mean(batch["text"], batch["text_lengths"])[:, 0] + batch["audio"][:, 0, 1])
    model = build(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def eval_loss():
        model.eval()
        with torch.no_grad():
            return F.l1_loss(model(batch), y).item()

    before = eval_loss()
    for _ in range(40):
        model.train()
        optimizer.zero_grad()
        pred, aux = forward_with_aux(model, batch)
        (F.l1_loss(pred, y) + aux).backward()
        optimizer.step()
    assert eval_loss() < 0.9 * before


@pytest.mark.parametrize("lens", [{"text": 50, "audio": 50, "vision": 50}, {"text": 50, "audio": 375, "vision": 500}])
@pytest.mark.parametrize("name", NAMES)
def test_mmsa_mosi_feature_sizes_with_default_knobs(name, lens):
    dims = {"text": 768, "audio": 5, "vision": 20}
    model = build_backbone(name, dims, lens)
    batch = make_batch(batch_size=2, dims=dims, lens=lens)
    out = model(batch)
    assert out.shape == (2,) and torch.isfinite(out).all()


# ---- registry -----------------------------------------------------------------------------


def test_unknown_backbone_lists_the_known_ones():
    with pytest.raises(MsmixError, match="unknown backbone 'resnet'") as err:
        build_backbone("resnet", DIMS, LENS)
    assert all(name in str(err.value) for name in BACKBONES)


@pytest.mark.parametrize(
    ("name", "knob", "value"),
    [
        ("tfn", "hidden", 8),
        ("tfn", "text_hidden", 0),
        ("tfn", "text_hidden", 2.5),
        ("tfn", "text_hidden", True),
        ("lmf", "rank", "3"),
        ("late_fusion", "dropout", 1.0),
        ("late_fusion", "dropout", -0.1),
        ("misa", "sim_weight", float("nan")),
        ("mult", "causal", 1),
        ("almt", "dim", None),
    ],
)
def test_bad_knobs_are_named(name, knob, value):
    with pytest.raises(MsmixError, match=knob):
        build_backbone(name, DIMS, LENS, **{knob: value})


def test_numpy_scalars_are_accepted_as_plain_numbers():
    model = build_backbone("tfn", DIMS, LENS, text_out=np.int64(4), text_dropout=np.float32(0.1))
    assert model.latent_dims["text"] == 4 and type(model.latent_dims["text"]) is int


@pytest.mark.parametrize(
    ("name", "knobs", "match"),
    [
        ("mult", {"d_model": 10, "num_heads": 4}, "num_heads=4 must divide d_model=10"),
        ("mult", {"kernel_vision": 7, "adapt_kernels": False}, "kernel_vision=7"),
        ("glomo", {"d_model": 10, "num_heads": 4}, "num_heads=4 must divide d_model=10"),
        ("glomo", {"kernel": 4}, "kernel=4 must be odd"),
        ("glomo", {"top_k": 4}, "top_k=4 must not exceed experts=3"),
        ("almt", {"dim": 10, "heads": 4}, "heads=4 must divide dim=10"),
        ("misa", {"hidden_size": 9}, "hidden_size=9 must be even"),
    ],
)
def test_inconsistent_knobs_are_explained(name, knobs, match):
    with pytest.raises(MsmixError, match=match):
        build_backbone(name, DIMS, LENS, **knobs)


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_sizes_are_named(name):
    with pytest.raises(MsmixError, match=r"input_dims\['audio'\]"):
        build_backbone(name, {"text": 6, "vision": 4}, LENS)
    with pytest.raises(MsmixError, match=r"seq_lens\['vision'\]"):
        build_backbone(name, DIMS, {**LENS, "vision": 0})


def test_describe_backbones_gives_the_real_defaults():
    described = describe_backbones()
    assert list(described) == list(BACKBONES)
    for name, info in described.items():
        assert info["paper"] and info["summary"]
        assert info["latent_is_sequence"] == BACKBONES[name].latent_is_sequence
        model = build_backbone(name, DIMS, {m: 16 for m in MODALITIES}, **info["knobs"])
        assert isinstance(model, BACKBONES[name])
    assert described["tfn"]["knobs"]["post_fusion_dim"] == 32
    assert described["misa"]["knobs"]["sim_weight"] == 0.3


def test_almt_rejects_sequences_longer_than_built_for():
    model = build("almt")
    with pytest.raises(MsmixError, match="at most 7 steps"):
        model.encode(make_batch(lens={**LENS, "text": 8}))


# ---- fused heads against explicit formulas --------------------------------------------------


def test_tfn_head_is_an_mlp_on_the_kronecker_product():
    model = build("tfn", output_scale=3.0).eval()
    latents = model.encode(make_batch())
    ones = torch.ones(6, 1)
    fused = torch.stack(
        [
            torch.kron(
                torch.kron(torch.cat([ones, latents["audio"]], 1)[i], torch.cat([ones, latents["vision"]], 1)[i]),
                torch.cat([ones, latents["text"]], 1)[i],
            )
            for i in range(6)
        ]
    )
    expected = 6 * torch.sigmoid(model.post_fusion(fused)) - 3
    torch.testing.assert_close(model.head(latents), expected, atol=1e-5, rtol=1e-5)


def test_lmf_equals_the_full_rank_tensor_fusion_it_factorises():
    model = build("lmf").eval()
    latents = model.encode(make_batch())
    z = {m: torch.cat([torch.ones(6, 1), latents[m]], 1) for m in MODALITIES}
    f = {m: model.factors[m].squeeze(-1) for m in MODALITIES}  # [rank, d + 1]
    weight = torch.einsum("r,ri,rj,rk->ijk", model.fusion_weights[0], f["text"], f["audio"], f["vision"])
    expected = torch.einsum("ijk,bi,bj,bk->b", weight, z["text"], z["audio"], z["vision"]) + model.fusion_bias
    torch.testing.assert_close(model.head(latents), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(("tq", "tk"), [(5, 5), (4, 7), (7, 4)])
def test_mult_causal_mask_matches_the_original_rule(tq, tk):
    """Query ``i`` may only see keys ``j <= i + |tk - tq|`` (MulT's ``buffered_future_mask``)."""
    torch.manual_seed(0)
    layer = CrossmodalTransformer(
        8, 2, 2, attn_dropout=0.0, relu_dropout=0.0, res_dropout=0.0, embed_dropout=0.0, causal=True
    ).eval()
    x, source = torch.randn(1, tq, 8), torch.randn(1, tk, 8)
    base = layer(x, source)
    offset = abs(tk - tq)
    for j in range(tk):
        changed = source.clone()
        changed[:, j] = torch.randn(8)
        moved = (layer(x, changed) - base).abs().amax(dim=-1)[0] > 1e-6
        assert moved.tolist() == [j <= i + offset for i in range(tq)], (j, moved)


# ---- MISA's losses ------------------------------------------------------------------------------


def reference_cmd(x, y, moments):
    """CMD written out term by term, as in Zellinger et al. (2017) / MISA's code, with plain loops."""
    total = 0.0
    for k in range(1, moments + 1):
        if k == 1:
            ex, ey = x.mean(0), y.mean(0)
        else:
            ex, ey = ((x - x.mean(0)) ** k).mean(0), ((y - y.mean(0)) ** k).mean(0)
        total += sum((a - b) ** 2 for a, b in zip(ex.tolist(), ey.tolist(), strict=True)) ** 0.5
    return total


def reference_diff(x, y):
    def unit_rows(z):
        z = z - z.mean(0)
        return torch.stack([row / (row.norm() + 1e-6) for row in z])

    x, y = unit_rows(x), unit_rows(y)
    d1, d2 = x.shape[1], y.shape[1]
    return sum(float(x[:, i] @ y[:, j]) ** 2 for i in range(d1) for j in range(d2)) / (d1 * d2)


def test_cmd_and_soft_orthogonality_match_loop_references():
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(10, 4, generator=g), torch.rand(10, 4, generator=g) ** 2
    assert central_moment_discrepancy(x, y, 5).item() == pytest.approx(reference_cmd(x, y, 5), rel=1e-5)
    assert central_moment_discrepancy(x, x, 5).item() == pytest.approx(0.0, abs=1e-7)
    assert soft_orthogonality(x, y).item() == pytest.approx(reference_diff(x, y), rel=1e-5)


def test_misa_auxiliary_loss_is_the_weighted_sum_of_its_three_losses():
    model = build("misa").eval()
    batch = make_batch()
    with torch.no_grad():
        latents, aux = model.encode_with_aux(batch)
        assert all(torch.equal(latents[m], model.encode(batch)[m]) for m in MODALITIES)
        private = {m: latents[m][:, :8] for m in MODALITIES}
        shared = {m: latents[m][:, 8:] for m in MODALITIES}
        projected = model._utterances(batch)
    t, a, v = MODALITIES
    sim = sum(reference_cmd(shared[p], shared[q], 5) for p, q in ((t, v), (t, a), (a, v))) / 3
    diff = sum(reference_diff(private[m], shared[m]) for m in MODALITIES)
    diff += sum(reference_diff(private[p], private[q]) for p, q in ((a, t), (a, v), (t, v)))
    recon = sum(F.mse_loss(model.recon[m](private[m] + shared[m]), projected[m]).item() for m in MODALITIES) / 3
    assert aux.item() == pytest.approx(0.3 * sim + 0.1 * diff + 1.0 * recon, rel=1e-4)
    silent = build("misa", sim_weight=0.0, diff_weight=0.0, recon_weight=0.0)
    assert silent.encode_with_aux(batch)[1].item() == 0.0


# ---- recurrent encoders and pooling against per-sample references -------------------------------


def test_masked_mean_matches_a_loop_and_gives_zeros_for_empty_sequences():
    x = torch.randn(4, 6, 3)
    lengths = torch.tensor([6, 3, 1, 0])
    expected = torch.stack([x[i, :n].mean(0) if n else torch.zeros(3) for i, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(masked_mean(x, lengths), expected)
    torch.testing.assert_close(masked_mean(x, None), x.mean(1))


def test_text_subnet_reads_the_last_valid_state_of_each_sample():
    torch.manual_seed(0)
    net = TextSubNet(3, 5, 2, dropout=0.0).eval()
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 1, 0])
    out = net(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        state = net.rnn(x[i : i + 1, :n])[0][:, -1] if n else torch.zeros(1, 5)
        torch.testing.assert_close(out[i : i + 1], net.linear(state), atol=1e-6, rtol=1e-5)


def test_stacked_bilstm_equals_running_each_sample_alone():
    torch.manual_seed(0)
    net = StackedBiLSTM(3, 4).eval()
    x, lengths = torch.randn(4, 6, 3), torch.tensor([6, 2, 5, 0])
    out = net(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        if n == 0:
            assert torch.equal(out[i], torch.zeros(16))
            continue
        out1, (h1, _) = net.rnn1(x[i : i + 1, :n])
        _, (h2, _) = net.rnn2(net.norm(out1))
        expected = torch.cat([h1, h2], dim=2).transpose(0, 1).reshape(1, -1)
        torch.testing.assert_close(out[i : i + 1], expected, atol=1e-6, rtol=1e-5)


def test_lone_sample_batch_norm_uses_running_statistics_in_training():
    norm = LoneSampleBatchNorm1d(3)
    norm(torch.randn(8, 3) * 3 + 1)  # moves the running statistics
    stats = (norm.running_mean.clone(), norm.running_var.clone())
    x = torch.randn(1, 3)
    out = norm(x)
    assert torch.equal(norm.running_mean, stats[0]) and torch.equal(norm.running_var, stats[1])
    torch.testing.assert_close(out, norm.eval()(x))


# ---- utterance-level data (one step per modality) -------------------------------------------

UTTERANCE_LENS = dict.fromkeys(MODALITIES, 1)


def test_mult_shrinks_kernels_longer_than_the_sequences_and_records_it():
    model = build_backbone("mult", DIMS, UTTERANCE_LENS)
    assert model.adaptations == {"kernel_text": 1, "kernel_audio": 1, "kernel_vision": 1}
    assert all(model.project[m].kernel_size == (1,) for m in MODALITIES)
    assert build("mult").adaptations == {}, "kernels that fit are kept"
    latents = model.encode(make_batch(lens=UTTERANCE_LENS, lengths=False))
    assert all(z.shape[1] == 1 for z in latents.values())


@pytest.mark.slow
@pytest.mark.timeout(900)  # seven runs: about a minute alone, several on a loaded 2-core machine
def test_every_backbone_trains_an_epoch_on_utterance_level_data_from_the_cli(tmp_path, capsys):
    """Every registered backbone, with its default knobs, trains an epoch with MS-Mix (clean and mixed paths) on
    T = 1 data through ``msmix compare``; the run's config shows what MulT adapted."""
    from msmix_core.cli import main
    from msmix_core.data import make_synthetic
    from msmix_core.data.npz import save_npz
    from msmix_core.runs import RunStore

    data = make_synthetic(n_train=32, n_valid=8, n_test=8, text_len=1, audio_len=1, vision_len=1)
    path = save_npz(data, tmp_path / "utterances.npz")
    argv = ["compare", "--dataset", path, "--backbones", *NAMES, "--methods", "msmix", "--baseline", "msmix"]
    argv += ["--seeds", "1", "--workers", "1"]
    argv += ["--epochs", "1", "--batch-size", "16", "--no-weights", "--quiet", "--runs-dir", tmp_path / "runs"]
    assert main([str(a) for a in argv]) == 0
    runs = RunStore(tmp_path / "runs").list()
    assert sorted(r.config["backbone"] for r in runs) == NAMES
    assert all(r.status == "finished" and np.isfinite(r.metrics["test"]["MAE"]) for r in runs)
    adapted = {r.config["backbone"]: r.config["backbone_adaptations"] for r in runs}
    assert adapted["mult"] == {"kernel_text": 1, "kernel_audio": 1, "kernel_vision": 1}
    assert all(not value for name, value in adapted.items() if name != "mult")


def test_data_note_flags_backbones_built_for_sequences_on_one_step_data():
    from msmix_core.models import data_note

    flagged = {name for name in NAMES if data_note(name, UTTERANCE_LENS)}
    assert flagged == {"mult", "almt", "glomo"}
    assert all(data_note(name, LENS) is None for name in NAMES), "sequences are what they are built for"
