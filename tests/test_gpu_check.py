"""bench/gpu_check.py: its no-CUDA exit, and its pieces on the CPU (the CPU as both devices)."""

import subprocess
import sys

import pytest
import torch
from helpers import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import gpu_check

from msmix_core.data.synthetic import make_synthetic

CPU = torch.device("cpu")


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the exit of a machine without CUDA")
def test_without_cuda_it_exits_at_once_saying_so():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_check.py")], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "no CUDA device visible" in done.stderr


def test_ms_mix_and_a_training_step_agree_with_themselves_and_flag_a_difference():
    assert gpu_check.ms_mix_difference(CPU, CPU, b=32) == 0
    data = make_synthetic(n_train=64, n_valid=16, n_test=16)
    assert gpu_check.step_difference("glomo", data, CPU, CPU) == 0
    assert gpu_check._ok(0.0).startswith("within") and gpu_check._ok(1.0).startswith("OVER")


@pytest.mark.slow
def test_epoch_timing_trains_every_batch():
    data = make_synthetic(n_train=64, n_valid=16, n_test=16)
    assert gpu_check.epoch_seconds("late_fusion", "msmix", data, CPU, batch_size=16) > 0
