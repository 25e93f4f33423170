"""Check the GPU path in one short run (a few minutes on one GPU) and write a Markdown table.

    .venv/bin/python bench/gpu_check.py                       # table on stdout
    .venv/bin/python bench/gpu_check.py --out gpu_check.md    # and in a file (paste it into bench/RESULTS.md)

Without a CUDA device it exits at once (status 1) saying so: nothing is checked on a CPU-only machine.
With one it:

1. runs the CUDA tests (``pytest tests -k cuda``: the tests that skip without a GPU);
2. checks that ``ms_mix`` on CUDA gives the CPU's mixed features, labels and SAL loss (same inputs,
   same pairs and base ratios: the two devices' generators draw different streams), and that one
   training step (every backbone, no mixing, dropout off) gives the CPU's loss and updated weights;
3. times ``ms_mix`` at B = 1024 against the release's ``MS_Mix`` steps (``bench_mixing.release_ms_mix``)
   on the GPU, interleaved;
4. times one training epoch of every backbone without mixing and with MS-Mix on the CPU and on the GPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch
from bench_mixing import _batch, _cpu_model, _ms_mix_calls, time_interleaved, trainer_step

from msmix_core import MODALITIES
from msmix_core.data import SplitLoader
from msmix_core.data.schema import MSADataset
from msmix_core.data.synthetic import make_synthetic
from msmix_core.mixing import ms_mix
from msmix_core.models import BACKBONES
from msmix_core.training import LOSSES, TrainConfig, build_models, make_optimizer, step_losses

ROOT = Path(__file__).resolve().parent.parent
#: Largest absolute difference allowed between CPU and CUDA results (float32, different kernels).
TOLERANCE = 1e-4
EPOCH_METHODS = ("none", "msmix")


def cuda_tests(timeout_s: int = 150) -> str:
    """Run the CUDA tests in a child pytest; its summary line."""
    command = [sys.executable, "-m", "pytest", "tests", "-k", "cuda", "-q", "-p", "no:cacheprovider", "-n", "0"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else f"pytest exited {done.returncode} without output"


def ms_mix_difference(device: torch.device, reference: torch.device, b: int = 256) -> float:
    """Largest absolute difference between ``ms_mix`` on ``device`` and on ``reference`` for the same inputs."""
    features, labels, intensities = _batch(b, torch.device("cpu"))
    g = torch.Generator().manual_seed(0)
    pairs = torch.stack([torch.arange(b), torch.randperm(b, generator=g)], dim=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    lam_base = torch.rand(len(pairs), generator=g)
    results = []
    for d in (device, reference):
        moved = {m: f.to(d) for m, f in features.items()}
        result = ms_mix(
            moved,
            labels.to(d),
            {m: i.to(d) for m, i in intensities.items()},
            pairs=pairs.to(d),
            lam_base=lam_base.to(d),
        )
        results.append([*(result.mixed[m].cpu() for m in MODALITIES), result.mixed_labels.cpu()])
        results[-1].append(result.alignment_loss.reshape(1).cpu())
    return max(float((x - y).abs().max()) for x, y in zip(*results, strict=True))


def step_difference(backbone: str, data: MSADataset, device: torch.device, reference: torch.device) -> float:
    """Largest absolute difference in loss and updated weights after one Adam step on the two devices.

    Dropout is off (evaluation mode) and nothing is mixed, so the step draws no random numbers.
    """
    config = TrainConfig(backbone=backbone, method="none", batch_size=32)
    batch = next(iter(SplitLoader(data.train, 32, shuffle=False, seed=0, device="cpu")))
    outcomes = []
    for d in (device, reference):
        model, method = build_models(data, config, d)
        model.eval()
        optimizer = make_optimizer(model, method, config)
        losses, _ = step_losses(model, method, {k: v.to(d) for k, v in batch.items()}, LOSSES[config.loss])
        optimizer.zero_grad()
        losses["train"].backward()
        optimizer.step()
        weights = [p.detach().cpu().reshape(-1) for p in model.parameters()]
        outcomes.append([losses["train"].detach().cpu().reshape(1), *weights])
    return max(float((x - y).abs().max()) for x, y in zip(*outcomes, strict=True))


def epoch_seconds(backbone: str, method: str, data: MSADataset, device: torch.device, batch_size: int = 32) -> float:
    """Seconds of one training epoch (every batch: loss, backward, Adam step), the loader's copies included."""
    config = TrainConfig(backbone=backbone, method=method, batch_size=batch_size)
    model, mixer = build_models(data, config, device)
    model.train()
    step = trainer_step(model, mixer, config, device)
    loader = SplitLoader(data.train, batch_size, shuffle=True, seed=0, device=device)
    step(next(iter(loader)))  # warm-up: kernels, allocator
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for batch in loader:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def report(device: torch.device, data: MSADataset) -> str:
    """Every check on ``device`` against the CPU, as Markdown."""
    cpu = torch.device("cpu")
    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else _cpu_model()
    lines = [f"## GPU check ({date.today()}, {hardware}; CPU {_cpu_model()}, torch {torch.__version__})", ""]
    lines += [f"- CUDA tests: {cuda_tests()}" if device.type == "cuda" else "- CUDA tests: not run (no CUDA)"]
    diff = ms_mix_difference(device, cpu)
    lines += [f"- `ms_mix`, B = 256, {device.type} vs CPU: max |Δ| = {diff:.1e} ({_ok(diff)})"]
    steps = {name: step_difference(name, data, device, cpu) for name in BACKBONES}
    worst = max(steps, key=steps.get)
    lines += [f"- one training step, every backbone: max |Δ| = {steps[worst]:.1e} ({worst}; {_ok(steps[worst])})"]
    calls, _ = _ms_mix_calls(1024, device)
    timings = time_interleaved({k: calls[k] for k in ("ms_mix", "release")}, device, repeats=20, warmup=3)
    ours, release = (1000 * timings[k][0] for k in ("ms_mix", "release"))
    lines += [
        f"- `ms_mix` at B = 1024 on {device.type}: {ours:.2f} ms median; the release's steps {release:.2f} ms",
        "",
    ]
    lines += [f"One training epoch, seconds ({len(data.train)} synthetic samples, T = 16, batch 32):", ""]
    lines += ["| backbone | " + " | ".join(f"{m}, CPU | {m}, {device.type}" for m in EPOCH_METHODS) + " |"]
    lines += ["|---|" + "---|---|" * len(EPOCH_METHODS)]
    for name in BACKBONES:
        cells = [f"{epoch_seconds(name, m, data, d):.2f}" for m in EPOCH_METHODS for d in (cpu, device)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _ok(diff: float) -> str:
    return f"within {TOLERANCE:g}" if diff <= TOLERANCE else f"OVER the tolerance {TOLERANCE:g}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--n-train", type=int, default=512, help="synthetic training samples per epoch")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(
            "gpu_check: no CUDA device visible (torch.cuda.is_available() is False): nothing checked", file=sys.stderr
        )
        return 1
    table = report(torch.device("cuda"), make_synthetic(n_train=args.n_train, n_valid=64, n_test=64))
    print(table)
    if args.out is not None:
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
