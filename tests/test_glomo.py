"""GLoMo: its pooling, mixture of experts and auxiliary loss against simple references, the encode/head
split, MS-Mix on both of its latent groups with one pair draw, and seeded gating noise."""

import pytest
import torch
from torch import nn

from msmix_core import MODALITIES
from msmix_core.mixing import build_method
from msmix_core.models import build_backbone
from msmix_core.models.glomo import GLoMo, NoisyTopKMoE, cv_squared, segment_max

DIMS = {"text": 6, "audio": 5, "vision": 4}
LENS = {"text": 7, "audio": 9, "vision": 6}
TINY = {"d_model": 8, "num_heads": 2, "layers": 1, "fusion_layers": 1, "fusion_ffn_dim": 16}


def make_batch(batch_size=6, seed=0, lens=LENS):
    g = torch.Generator().manual_seed(seed)
    batch = {m: torch.randn(batch_size, lens[m], DIMS[m], generator=g) for m in MODALITIES}
    for m in MODALITIES:
        batch[f"{m}_lengths"] = torch.randint(1, lens[m] + 1, (batch_size,), generator=g)
    return batch


def build(seed=0, **overrides) -> GLoMo:
    torch.manual_seed(seed)
    return build_backbone("glomo", DIMS, LENS, **{**TINY, **overrides})


def test_segment_max_is_adaptive_max_pooling_over_each_samples_valid_steps():
    x = torch.randn(4, 11, 3)
    for n in (1, 3, 5, 13):
        expected = nn.AdaptiveMaxPool1d(n)(x.transpose(1, 2)).transpose(1, 2)
        torch.testing.assert_close(segment_max(x, None, n), expected, rtol=0, atol=0)
    lengths = torch.tensor([11, 4, 1, 0])
    pooled = segment_max(x, lengths, 3)
    for i, length in enumerate(lengths.tolist()):
        if length == 0:
            assert torch.equal(pooled[i], torch.zeros(3, 3)), "an empty sequence pools to zeros"
        else:
            alone = nn.AdaptiveMaxPool1d(3)(x[i : i + 1, :length].transpose(1, 2)).transpose(1, 2)[0]
            torch.testing.assert_close(pooled[i], alone, rtol=0, atol=0)


def test_cv_squared_is_variance_over_squared_mean_and_zero_when_balanced():
    assert cv_squared(torch.tensor([2.0, 2.0, 2.0])).item() == 0
    assert cv_squared(torch.tensor([5.0])).item() == 0
    x = torch.tensor([1.0, 2.0, 6.0])
    torch.testing.assert_close(cv_squared(x), x.var() / x.mean() ** 2)


def test_moe_without_noise_sums_its_top_k_experts_with_softmax_gates():
    torch.manual_seed(0)
    moe = NoisyTopKMoE(in_dim=6, out_dim=4, hidden=5, experts=3, k=2, noisy=True).eval()
    nn.init.normal_(moe.w_gate)
    x = torch.randn(10, 6)
    out, loss = moe(x, generator=None)  # evaluation: no noise, no generator needed
    logits = x @ moe.w_gate
    for i in range(10):
        top = logits[i].topk(2)
        gates = top.values.softmax(0)
        expected = sum(g * moe.experts[e](x[i]) for g, e in zip(gates, top.indices.tolist(), strict=True))
        torch.testing.assert_close(out[i], expected)
    gates = torch.zeros(10, 3).scatter(1, logits.topk(2).indices, logits.topk(2).values.softmax(1))
    load = (gates > 0).sum(0).float()
    torch.testing.assert_close(loss, cv_squared(gates.sum(0)) + cv_squared(load))
    again, _ = moe(x, generator=None)
    assert torch.equal(out, again), "evaluation is deterministic"


def test_moe_training_noise_comes_from_the_generator_and_its_load_is_differentiable():
    torch.manual_seed(0)
    moe = NoisyTopKMoE(in_dim=6, out_dim=4, hidden=5, experts=3, k=2, noisy=True).train()
    x = torch.randn(16, 6)
    first, loss = moe(x, torch.Generator().manual_seed(3))
    second, _ = moe(x, torch.Generator().manual_seed(3))
    other, _ = moe(x, torch.Generator().manual_seed(4))
    assert torch.equal(first, second) and not torch.equal(first, other)
    loss.backward()
    assert moe.w_noise.grad.abs().sum() > 0 and moe.w_gate.grad.abs().sum() > 0, "the smooth load trains the gate"


def test_encode_gives_global_and_moe_tokens_and_the_weighted_balancing_loss():
    model = build(moe_weight=0.5).eval()
    batch = make_batch()
    latents, aux = model.encode_with_aux(batch)
    assert all(z.shape == (6, 2, 8) for z in latents.values())
    expected = 0
    for m in MODALITIES:
        global_m, local_m = model.encoders[m](batch[m], batch[f"{m}_lengths"])
        moe_m, loss_m = model.moe[m](local_m.flatten(1), None)
        torch.testing.assert_close(latents[m][:, 0], global_m)
        torch.testing.assert_close(latents[m][:, 1], moe_m)
        expected = expected + loss_m
    torch.testing.assert_close(aux, 0.5 * expected)
    assert build(moe_weight=0.0).encode_with_aux(batch)[1].item() == 0


def test_head_fuses_six_tokens_with_global_and_local_attention():
    model = build().eval()
    latents = model.encode(make_batch())
    tokens = model.fusion(torch.stack([latents[m][:, k] for m in MODALITIES for k in (0, 1)], dim=1))
    weights, z_global = model.attend_global(tokens[:, [0, 2, 4]])
    _, z_local = model.attend_local(tokens[:, [1, 3, 5]])
    torch.testing.assert_close(weights.sum(1), torch.ones(6))
    z1 = model.combine(torch.cat([z_global, z_local], 1))
    z_m = [
        model.per_modality[m](torch.cat([tokens[:, 2 * i], tokens[:, 2 * i + 1]], 1)) for i, m in enumerate(MODALITIES)
    ]
    z2 = sum(weights[:, i : i + 1] * z for i, z in enumerate(z_m))
    torch.testing.assert_close(model.head(latents), model.regression(torch.cat([z1, z2], 1)).squeeze(-1))


def test_ms_mix_mixes_global_and_moe_tokens_with_one_pair_draw_and_one_ratio():
    """Each mixed sample's global and MoE tokens come from the same two sources, with the same λ."""
    model = build().eval()
    latents = model.encode(make_batch(batch_size=8))
    method = build_method("msmix", latent_dims=model.latent_dims, threshold=0.0)
    result = method(latents, torch.linspace(-2, 2, 8), torch.Generator().manual_seed(0))
    a, b = result.pairs[:, 0], result.pairs[:, 1]
    for m in MODALITIES:
        lam = result.lam[m].view(-1, 1, 1)
        torch.testing.assert_close(result.mixed[m], lam * latents[m][a] + (1 - lam) * latents[m][b])
    assert torch.isfinite(model.head(result.mixed)).all()


def test_same_seed_same_gating_noise_and_reseed_restarts_it():
    batch = make_batch()
    outputs = []
    for seed in (0, 0, 1):
        model = build(seed=seed).train()
        torch.manual_seed(7)  # dropout draws
        outputs.append(model.encode_with_aux(batch)[0]["text"][:, 1])
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])
    model = build(attn_dropout=0.0, relu_dropout=0.0, res_dropout=0.0, embed_dropout=0.0).train()
    model.reseed_noise(5)
    first = model.encode_with_aux(batch)
    second = model.encode_with_aux(batch)
    assert not torch.equal(first[1], second[1]), "the noise moves on between batches"
    model.reseed_noise(5)
    torch.testing.assert_close(model.encode_with_aux(batch)[1], first[1], rtol=0, atol=0)


@pytest.mark.parametrize("lens", [dict.fromkeys(MODALITIES, 1), {"text": 50, "audio": 375, "vision": 500}])
def test_utterance_level_and_long_sequences(lens):
    torch.manual_seed(0)
    model = build_backbone("glomo", DIMS, lens).eval()
    out = model(make_batch(batch_size=3, lens=lens))
    assert out.shape == (3,) and torch.isfinite(out).all()
