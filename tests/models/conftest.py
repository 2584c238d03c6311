"""An x86 CPU without VNNI, emulated by QEMU, for the int8 tests (skipped where QEMU is absent)."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_int8_avx2.py"


@pytest.fixture(scope="session")
def avx2_cpu() -> Callable[[Path, np.ndarray], np.ndarray]:
    """``run(model, x) -> logits`` under ``qemu-x86_64 -cpu Haswell`` (AVX2, no AVX-512/VNNI),
    via ``scripts/check_int8_avx2.py``; skips where it cannot run."""
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"QEMU user-mode emulation of x86-64 needs an x86-64 Linux host, not "
                    f"{sys.platform}/{platform.machine()}")  # fmt: skip
    if shutil.which("qemu-x86_64") is None:
        pytest.skip("qemu-x86_64 not found (Debian: apt-get install qemu-user; .ci does)")
    spec = importlib.util.spec_from_file_location("check_int8_avx2", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run(model: Path, x: np.ndarray) -> np.ndarray:
        try:
            return module.run_emulated(model, x, timeout=600)[0]
        except RuntimeError as err:
            if "not an AVX2-only CPU" in str(err) or "Illegal instruction" in str(err):
                pytest.skip(f"this QEMU cannot emulate an AVX2-only CPU: {err}")
            raise

    return run
