"""Mixing benchmark: every method per call, ms_mix against the release's steps, the pool search, training steps.

    .venv/bin/python bench/bench_mixing.py            # all four parts, Markdown on stdout
    .venv/bin/python bench/bench_mixing.py --quick    # fewer repeats, batches up to 1024, a 5k pool
    .venv/bin/python bench/bench_mixing.py --steps-only  # the training-step parts alone

Timing: the median (and the minimum) of ``--repeats`` calls after ``--warmup`` calls, with
``torch.cuda.synchronize`` around each call on CUDA. Competing variants are timed interleaved
(one call of each in turn), so a load spike from other processes hits them all alike.

Peak memory: the extra memory one call needs beyond its inputs. On CUDA,
``torch.cuda.max_memory_allocated`` minus what was allocated before the call. On CPU, where
``tracemalloc`` does not see torch's allocator, the live tensor bytes are rebuilt from the
profiler's memory events (``torch.profiler`` with ``profile_memory=True``: every allocation and
free of torch's CPU allocator, replayed in time order) and their maximum is reported.

Paste the output into the "Mixing" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from datetime import date

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from msmix_core import MODALITIES
from msmix_core.analysis.partners import candidate_partners
from msmix_core.data.batching import SplitLoader
from msmix_core.data.synthetic import make_synthetic
from msmix_core.device import resolve_device
from msmix_core.mixing import METHODS, build_method, candidate_mask, draw_pairs, ms_mix
from msmix_core.models import BACKBONES
from msmix_core.training import LOSSES, TrainConfig, build_models, make_optimizer, step_losses

DIM = 128  #: latent size per modality in the per-call parts (the issue's D)
MiB = 2**20


# --- measuring --------------------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_interleaved(
    calls: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int
) -> dict[str, tuple[float, float]]:
    """Median and minimum seconds per call of each function, the functions taking turns."""
    for _ in range(warmup):
        for call in calls.values():
            call()
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            _sync(device)
            start = time.perf_counter()
            call()
            _sync(device)
            seconds[name].append(time.perf_counter() - start)
    return {name: (statistics.median(s), min(s)) for name, s in seconds.items()}


def peak_memory(call: Callable[[], object], device: torch.device) -> int:
    """Bytes one call allocates at its peak beyond what was allocated before (see the module docstring)."""
    if device.type == "cuda":
        _sync(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        call()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) - before
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    changes = sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    return max(0, *itertools.accumulate(change for _, change in changes))


def _cell(timing: tuple[float, float], memory: int | None = None) -> str:
    median, low = timing
    text = f"{1000 * median:.2f} ({1000 * low:.2f})"
    return text if memory is None else f"{text}, {memory / MiB:.1f} MiB"


def _batch(b: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = {m: torch.randn(b, DIM, generator=g).to(device) for m in MODALITIES}
    labels = (torch.rand(b, generator=g) * 6 - 3).to(device)
    intensities = {m: (torch.rand(b, generator=g) * 6 - 3).to(device) for m in MODALITIES}
    return features, labels, intensities


def _generator(device: torch.device, seed: int = 1) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _repeats_for(
    calls: dict[str, Callable[[], object]], device: torch.device, repeats: int, budget_s: float = 5.0
) -> int:
    """Fewer repeats when the slowest call is slow (B = 4096), at least 3."""
    slowest = 0.0
    for call in calls.values():
        _sync(device)
        start = time.perf_counter()
        call()
        _sync(device)
        slowest = max(slowest, time.perf_counter() - start)
    return max(3, min(repeats, int(budget_s / max(slowest, 1e-6))))


# --- the released code's steps, transcribed -----------------------------------------------------


def release_ms_mix(f_a, f_t, f_v, labels, i_a, i_t, i_v, alpha=2.0, threshold=0.4, num_mix=None):
    """``MS_Mix`` of github HongyuZhu-s/MS-Mix ``models/MS_MIX.py``, step by step, as released.

    The intensity predictors are left out (their outputs ``i_*`` are inputs here, as for
    ``ms_mix``) and so is the final concatenation with the clean batch (the trainer does it).
    It enumerates the candidates with ``nonzero``, permutes them on the host with the global
    RNG and samples Beta through ``torch.distributions``, as the release does.
    """
    b, device = f_a.size(0), f_a.device
    num_mix = num_mix if num_mix is not None else b

    def to_prob(x):
        return F.softmax(torch.abs(x) / 3.0, dim=0) + 1e-8

    p_y = to_prob(labels)
    kl = sum(F.kl_div(torch.log(to_prob(i)), p_y, reduction="batchmean") for i in (i_a, i_t, i_v)) * 1000

    weights = []
    for i in (i_a, i_t, i_v):
        w = torch.abs(i)
        weights.append((w - w.min()) / (w.max() - w.min() + 1e-8))

    sims = [torch.mm(F.normalize(f, p=2, dim=1), F.normalize(f, p=2, dim=1).t()) for f in (f_a, f_t, f_v)]
    total_sim = ((sims[0] + sims[1] + sims[2]) / 3.0).fill_diagonal_(0)
    mask = torch.ones_like(total_sim, dtype=torch.bool)
    mask.fill_diagonal_(False)
    non_diag = total_sim[mask]
    low, high = non_diag.min(), non_diag.max()
    total_sim = (total_sim - low) / (high - low) if high - low > 1e-8 else torch.ones_like(total_sim) * 0.5
    total_sim = total_sim.fill_diagonal_(0)

    valid_pairs = torch.nonzero(total_sim > threshold, as_tuple=False)
    if len(valid_pairs) < num_mix:
        triu = torch.triu(torch.ones_like(total_sim), diagonal=1).bool()
        scores = torch.where(triu, total_sim, torch.tensor(-1.0).to(device)).flatten()
        _, top = torch.topk(scores, int(2 * num_mix))
        valid_pairs = torch.stack([top // b, top % b], dim=1)
    selected = valid_pairs[torch.randperm(len(valid_pairs))[:num_mix]]
    idx1, idx2 = selected[:, 0], selected[:, 1]

    lam_base = torch.distributions.Beta(alpha, alpha).sample([num_mix]).to(device)
    lams = [(lam_base + (w[idx1] + 1e-8) / (w[idx1] + w[idx2] + 2e-8)) / 2 for w in weights]
    lam_label = sum(lams) / 3
    mixed = [
        lam[:, None] * f[idx1] + (1 - lam[:, None]) * f[idx2] for lam, f in zip(lams, (f_a, f_t, f_v), strict=True)
    ]
    mixed_labels = lam_label * labels[idx1] + (1 - lam_label) * labels[idx2]
    return mixed, mixed_labels, kl


def release_draw(mask: torch.Tensor, num_mix: int) -> torch.Tensor:
    """The release's pair draw alone: list every candidate, permute the list on the host, keep ``num_mix``."""
    valid_pairs = torch.nonzero(mask, as_tuple=False)
    return valid_pairs[torch.randperm(len(valid_pairs))[:num_mix]]


# --- the four parts -----------------------------------------------------------------------------


def _method_calls(b: int, device: torch.device) -> dict[str, Callable[[], object]]:
    features, labels, _ = _batch(b, device)
    generator = _generator(device)
    torch.manual_seed(0)
    calls = {}
    for name in METHODS:
        method = build_method(name, latent_dims=dict.fromkeys(MODALITIES, DIM)).to(device)
        calls[name] = lambda method=method: method(features, labels, generator)
    return calls


def bench_methods(sizes: list[int], device: torch.device, repeats: int, warmup: int) -> None:
    print(f"### Every method, one call (latents [B, {DIM}] per modality)\n")
    print("Median ms (min ms), peak extra memory. MS-Mix includes its three intensity predictors.\n")
    print("| method | " + " | ".join(f"B = {b}" for b in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    rows: dict[str, list[str]] = {name: [] for name in METHODS}
    for b in sizes:
        calls = _method_calls(b, device)
        n = _repeats_for(calls, device, repeats)
        timings = time_interleaved(calls, device, n, min(warmup, n))
        for name, call in calls.items():
            rows[name].append(_cell(timings[name], peak_memory(call, device)))
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    print()


def _ms_mix_calls(b: int, device: torch.device) -> tuple[dict[str, Callable[[], object]], int]:
    """ms_mix, the release's steps, and the two pair draws alone; the number of candidates."""
    features, labels, intensities = _batch(b, device)
    generator = _generator(device)
    torch.manual_seed(0)
    ordered = [features[m] for m in ("audio", "text", "vision")] + [labels]
    ordered += [intensities[m] for m in ("audio", "text", "vision")]
    mask = candidate_mask(ms_mix(features, labels, intensities, generator=generator).similarity, 0.4)
    calls = {
        "ms_mix": lambda: ms_mix(features, labels, intensities, generator=generator),
        "release": lambda: release_ms_mix(*ordered),
        "draw": lambda: draw_pairs(mask, b, generator),
        "release_draw": lambda: release_draw(mask, b),
    }
    return calls, int(mask.sum())


def bench_ms_mix(sizes: list[int], device: torch.device, repeats: int, warmup: int) -> dict[int, float]:
    print("### `ms_mix` against the released code's steps\n")
    print("Median ms (min ms), peak extra memory; intensities given (predictors excluded) in both.")
    print("The draw columns time the pair draw alone on the same candidate mask: ours (`draw_pairs`)")
    print("against the release's `nonzero` + host `randperm`.\n")
    print("| B | ms_mix | release | draw: ours | draw: release | candidates |")
    print("|---|---|---|---|---|---|")
    medians = {}
    for b in sizes:
        calls, candidates = _ms_mix_calls(b, device)
        n = _repeats_for(calls, device, repeats)
        timings = time_interleaved(calls, device, n, min(warmup, n))
        medians[b] = timings["ms_mix"][0]
        cells = [
            _cell(timings["ms_mix"], peak_memory(calls["ms_mix"], device)),
            _cell(timings["release"], peak_memory(calls["release"], device)),
            _cell(timings["draw"]),
            _cell(timings["release_draw"]),
            f"{candidates:,}",
        ]
        print(f"| {b} | " + " | ".join(cells) + " |", flush=True)
    print()
    return medians


def bench_pool(n: int, block_sizes: list[int], top_k: int, device: torch.device, repeats: int) -> None:
    print(f"### Pool search: `candidate_partners` over {n:,} samples ([N, {DIM}] per modality)\n")
    print(f"δ = 0.4, top_k = {top_k}, labels given (opposite-sign counts). A dense similarity matrix")
    print(f"would take {n * n * 4 / MiB:,.0f} MiB on its own.\n")
    print("| block_size | seconds, median (min) | peak extra memory |")
    print("|---|---|---|")
    g = torch.Generator().manual_seed(0)
    features = {m: torch.randn(n, DIM, generator=g).to(device) for m in MODALITIES}
    labels = (torch.rand(n, generator=g) * 6 - 3).to(device)
    for block_size in block_sizes:

        def call(block_size=block_size):
            return candidate_partners(features, 0.4, labels=labels, block_size=block_size, top_k=top_k)

        median, low = time_interleaved({"pool": call}, device, repeats, 0)["pool"]
        memory = peak_memory(call, device)
        print(f"| {block_size} | {median:.2f} ({low:.2f}) | {memory / MiB:.0f} MiB |", flush=True)
    print()


@functools.cache
def dataset():
    """The default synthetic dataset, built once."""
    return make_synthetic()


def trainer_step(model, mixer, config: TrainConfig, device: torch.device) -> Callable[[dict], None]:
    """The trainer's optimiser step (``step_losses`` + backward + its Adam), called with a batch."""
    optimizer = make_optimizer(model, mixer, config)
    generator = _generator(device)

    def step(batch: dict) -> None:
        losses, _ = step_losses(model, mixer, batch, LOSSES[config.loss], generator)
        optimizer.zero_grad(set_to_none=True)
        losses["train"].backward()
        optimizer.step()

    return step


def _step_call(backbone: str, method: str, batch: dict, batch_size: int, device: torch.device) -> Callable[[], None]:
    """One training step of ``backbone`` × ``method`` on a fixed batch, ready for :func:`time_interleaved`."""
    config = TrainConfig(backbone=backbone, method=method, batch_size=batch_size, device=str(device))
    step = trainer_step(*build_models(dataset(), config, device), config, device)
    return lambda: step(batch)


def batch_of(batch_size: int, device: torch.device) -> dict:
    """The first shuffled training batch of the default synthetic data."""
    return next(iter(SplitLoader(dataset().train, batch_size, shuffle=True, seed=0, device=device)))


def bench_training_step(batch_size: int, device: torch.device, repeats: int, warmup: int) -> None:
    """Every method's training step on late_fusion, the app's default backbone."""
    batch = batch_of(batch_size, device)
    calls = {name: _step_call("late_fusion", name, batch, batch_size, device) for name in METHODS}
    timings = time_interleaved(calls, device, repeats, warmup)
    print(f"### Training step, late_fusion, B = {batch_size} (default synthetic data)\n")
    print("`step_losses` + backward + Adam step; median ms (min ms), peak extra memory; ratio to `manifold`.\n")
    print("| method | step | ratio to manifold |")
    print("|---|---|---|")
    base = timings["manifold"][0]
    for name in METHODS:
        cell = _cell(timings[name], peak_memory(calls[name], device))
        print(f"| {name} | {cell} | {timings[name][0] / base:.2f} |", flush=True)
    print()


def bench_step_ratio(batch_sizes: list[int], device: torch.device, repeats: int, warmup: int) -> dict[str, float]:
    """MS-Mix's training step against Manifold Mixup's on every backbone; returns the worst ratio per backbone."""
    print("### MS-Mix step / Manifold Mixup step, every backbone\n")
    print("Median ms of each step, timed interleaved; the ratio of the medians (goal: at most 1.25).\n")
    print("| backbone | " + " | ".join(f"B = {b}: manifold, msmix, ratio" for b in batch_sizes) + " |")
    print("|---|" + "---|" * len(batch_sizes))
    worst = {}
    for backbone in BACKBONES:
        cells = []
        for b in batch_sizes:
            batch = batch_of(b, device)
            calls = {name: _step_call(backbone, name, batch, b, device) for name in ("manifold", "msmix")}
            timings = time_interleaved(calls, device, repeats, warmup)
            manifold, msmix = timings["manifold"][0], timings["msmix"][0]
            worst[backbone] = max(worst.get(backbone, 0.0), msmix / manifold)
            cells.append(f"{1000 * manifold:.2f}, {1000 * msmix:.2f}, **{msmix / manifold:.2f}**")
        print(f"| {backbone} | " + " | ".join(cells) + " |", flush=True)
    print()
    return worst


def _cpu_model() -> str:
    try:
        lines = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Model name")), "unknown CPU")
    return f"{model}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per variant (fewer for slow calls)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="batches up to 1024, a 5k pool, 10 repeats")
    parser.add_argument("--steps-only", action="store_true", help="only the training-step parts")
    args = parser.parse_args()
    device = resolve_device(args.device)
    sizes = [32, 64, 256, 1024] if args.quick else [32, 64, 256, 1024, 4096]
    repeats = 10 if args.quick else args.repeats
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_model()
    print(f"## Mixing ({date.today()}, {hardware}, torch {torch.__version__}, ", end="")
    print(f"{torch.get_num_threads()} threads, device {device})\n")

    goals = []
    if not args.steps_only:
        bench_methods(sizes, device, repeats, args.warmup)
        ms = 1000 * bench_ms_mix(sizes, device, repeats, args.warmup)[1024]
        bench_pool(5_000 if args.quick else 20_000, [1024, 2048], 16, device, 1)
        goals.append(f"`ms_mix` at B = 1024: {ms:.1f} ms median (goal < 10 ms: {_verdict(ms < 10)})")
    bench_training_step(64, device, 5 * repeats, args.warmup)
    for backbone, ratio in bench_step_ratio([32, 64], device, 3 * repeats, args.warmup).items():
        goals.append(f"MS-Mix / Manifold Mixup step, {backbone}: {ratio:.2f} (goal <= 1.25: {_verdict(ratio <= 1.25)})")
    print("### Goals\n")
    print("\n".join(f"- {goal}" for goal in goals))


def _verdict(met: bool) -> str:
    return "met" if met else "missed"


if __name__ == "__main__":
    main()
