"""How cheap can an MS-Mix training step get in eager PyTorch? A lower bound for issue 3's step goal.

    .venv/bin/python bench/bench_msmix_floor.py [--backbone late_fusion] [--batch-size 32]

Times, interleaved, the trainer's step with Manifold Mixup, with our ``MSMix`` and with a stripped
MS-Mix: the same predictors (called inline, no module hooks), SIG ratios and SAL loss, but random
pairs (no SASS similarity, no candidate draw), no argument checks and no diagnostics. What the
stripped step still costs above Manifold Mixup is the price of MS-Mix's own computation (three
predictors forward and backward, their 18 parameter tensors in Adam, the SIG ratios' and SAL's
graphs), which no implementation of the method avoids. It is a measurement, not a method: its
numbers are not trained on.
"""

from __future__ import annotations

import argparse
import types

import torch
import torch.nn.functional as F
from bench_mixing import batch_of, dataset, time_interleaved, trainer_step

from msmix_core import MODALITIES
from msmix_core.device import resolve_device
from msmix_core.mixing import MSMix
from msmix_core.mixing.result import MixResult
from msmix_core.training import TrainConfig, build_models


def stripped_forward(self: MSMix, features: dict, labels: torch.Tensor, generator=None) -> MixResult:
    """MS-Mix's predictors, SIG and SAL on random pairs, with nothing else (``[B, D]`` latents only)."""
    logits = []
    for m in MODALITIES:
        predictor, x = self.predictors[m], features[m]
        d = x.shape[1]
        value = F.linear(x, predictor.qkv.weight[2 * d :], predictor.qkv.bias[2 * d :])
        pooled = F.layer_norm(value + x, (d,), predictor.norm.weight, predictor.norm.bias)
        logits.append(F.linear(pooled, predictor.out.weight, predictor.out.bias))
    intensities = 3 * torch.tanh(torch.cat(logits, dim=1).T)  # [3, B]
    b, device = labels.shape[0], labels.device
    pairs = torch.stack([torch.arange(b, device=device), torch.randperm(b, generator=generator, device=device)], 1)
    w = intensities.abs()
    low, high = w.amin(dim=1, keepdim=True), w.amax(dim=1, keepdim=True)
    w = (w - low) / (high - low + 1e-8)
    wa, wb = w[:, pairs[:, 0]], w[:, pairs[:, 1]]
    lam = (torch.rand(b, generator=generator, device=device) + (wa + 1e-8) / (wa + wb + 2e-8)) / 2
    mixed = {
        m: torch.lerp(features[m][pairs[:, 1]], features[m][pairs[:, 0]], lam[i, :, None])
        for i, m in enumerate(MODALITIES)
    }
    lam_y = lam.mean(dim=0)
    labels_a, labels_b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    p_y = F.softmax(labels.abs() / 3, dim=0) + 1e-8
    p_m = F.softmax(intensities.abs() / 3, dim=1) + 1e-8
    sal = 1000 * F.kl_div(p_m.log(), p_y.expand_as(p_m), reduction="sum") / b
    return MixResult(
        mixed=mixed,
        mixed_labels=torch.lerp(labels_b, labels_a, lam_y),
        labels_a=labels_a,
        labels_b=labels_b,
        pairs=pairs,
        lam={**dict(zip(MODALITIES, lam, strict=True)), "label": lam_y},
        alignment_loss=sal,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="late_fusion", help="one with [B, D] latents (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=400)
    args = parser.parse_args()
    device = resolve_device(args.device)
    batch = batch_of(args.batch_size, device)
    calls = {}
    for name in ("manifold", "msmix", "msmix stripped"):
        config = TrainConfig(backbone=args.backbone, method=name.split()[0], batch_size=args.batch_size)
        model, mixer = build_models(dataset(), config, device)
        if name == "msmix stripped":
            mixer.forward = types.MethodType(stripped_forward, mixer)
        step = trainer_step(model, mixer, config, device)
        calls[name] = lambda step=step: step(batch)
    timings = time_interleaved(calls, device, args.repeats, 30)
    base = timings["manifold"][0]
    print(f"{args.backbone}, B = {args.batch_size}, {device}: median ms per step (ratio to manifold)\n")
    for name, (median, _) in timings.items():
        print(f"- {name}: {1000 * median:.2f} ({median / base:.2f})")


if __name__ == "__main__":
    main()
