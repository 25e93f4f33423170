"""Choosing the torch device: CUDA when available, else the CPU, overridable."""

import torch

from msmix_core.errors import MsmixError


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``/``None``/``"cpu"``/``"cuda"``/``"cuda:1"`` into a usable device.

    ``"auto"`` picks CUDA when a GPU is visible and the CPU otherwise. Asking for CUDA on a
    machine without one is an error rather than a silent fallback, so that a run labelled
    "cuda" really ran there.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise MsmixError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MsmixError(f"device {device!r} asked for, but no CUDA GPU is visible: use 'auto' or 'cpu'")
    return resolved
