"""Allocator tuning at import (boucle.backend.tune_allocator): applied on Linux/glibc,
skipped with BOUCLE_NO_MALLOPT=1, and a training step then reuses freed memory."""

import os
import platform
import resource
import subprocess
import sys

import numpy as np
import pytest

from boucle import backend
from boucle.layers import LSTM

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def test_opt_out_by_environment(monkeypatch):
    monkeypatch.setenv("BOUCLE_NO_MALLOPT", "1")
    assert backend.tune_allocator() is False
    out = subprocess.run(
        [sys.executable, "-c", "import boucle; print(boucle.backend.ALLOCATOR_TUNED)"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BOUCLE_NO_MALLOPT": "1"},
    )
    assert out.stdout.strip() == "False"


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_applied_at_import_on_glibc():
    assert backend.ALLOCATOR_TUNED is True
    assert backend.tune_allocator() is True  # idempotent


@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_repeated_training_steps_do_not_fault_memory_in_again():
    """With the tuning, the per-step caches (~10 MB here) come back from the heap, not the OS."""
    layer = LSTM(128, return_sequences=True)
    layer.build((50, 16), 0)
    x = np.ones((64, 50, 16), np.float32)
    dy = np.ones((64, 50, 128), np.float32)
    for _ in range(2):
        layer.backward(dy, layer.forward(x, training=True)[1])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(3):
        layer.backward(dy, layer.forward(x, training=True)[1])
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 1000, faults  # ~3800 per step without the tuning
