#!/usr/bin/env python
"""Check int8 ONNX files on an x86 CPU without VNNI, emulated by QEMU: no such CPU needed.

ONNX Runtime's u8s8 int8 kernels saturate on x86 CPUs without VNNI (AVX2-only Intel and AMD
before Zen 4) when weights use all 8 bits; see ``echostream.models.quantize.SAFE_WEIGHT_MAX``.
This script runs the fp32 model natively (its reference) and every int8 file both natively and
under ``qemu-x86_64 -cpu Haswell`` (AVX2, FMA; no AVX-512, no VNNI), on frames of simulated cines
through the model's own preprocessing, and prints top-1 agreement with fp32 as JSON.

    apt-get install qemu-user     # Debian 12: QEMU 7.2, the first whose emulator runs AVX2
    echostream simulate --out /tmp/sim8 --patients 8 --seed 2
    python scripts/check_int8_avx2.py models/zoo/baseline_sim_v1.onnx --data /tmp/sim8

fp32 runs natively only: QEMU emulates floating-point vectors in software (~9 s a frame for the
baseline here) while int8 runs at ~0.2 s a frame, and fp32 kernels differ between CPUs only in
rounding. ``run MODEL X.npy OUT.npy`` is the child that runs under QEMU (numpy + onnxruntime).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: QEMU's model of an AVX2-only CPU (Intel Haswell: AVX2, FMA, no AVX-512, no VNNI).
DEFAULT_CPU = "Haswell"


def cpu_features() -> list[str]:
    """The SIMD extensions numpy detects on the CPU it runs on (emulated or not)."""
    import importlib

    try:
        umath = importlib.import_module("numpy._core._multiarray_umath")
    except ImportError:  # numpy < 2
        umath = importlib.import_module("numpy.core._multiarray_umath")
    feats = umath.__cpu_features__
    return sorted(k for k, v in feats.items() if v and k.startswith(("AVX", "FMA")))


def run_model(model: str | Path, x: np.ndarray, batch: int = 32) -> np.ndarray:
    """Logits of ``model`` on ``x`` with ONNX Runtime, one thread, full graph optimisation."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    runs = [sess.run(None, {name: x[i : i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(runs)


def run_emulated(
    model: str | Path, x: np.ndarray, *, cpu: str = DEFAULT_CPU, timeout: float = 1800
) -> tuple[np.ndarray, list[str]]:
    """(logits, CPU features seen) of ``model`` on ``x`` under ``qemu-x86_64 -cpu cpu``.

    Raises RuntimeError when QEMU is missing, fails, or does not hide AVX-512/VNNI."""
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise RuntimeError("qemu-x86_64 not found (Debian: apt-get install qemu-user)")
    with tempfile.TemporaryDirectory(prefix="echostream-qemu-") as tmp:
        np.save(Path(tmp) / "x.npy", x)
        cmd = [qemu, "-cpu", cpu, sys.executable, __file__, "run", str(model), f"{tmp}/x.npy",
               f"{tmp}/out.npy"]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            tail = " | ".join(res.stderr.strip().splitlines()[-3:])
            raise RuntimeError(f"the emulated run failed ({res.returncode}): {tail}")
        feats = json.loads(res.stdout.strip().splitlines()[-1])["cpu_features"]
        if "AVX2" not in feats or any(f.startswith("AVX512") for f in feats):
            raise RuntimeError(f"QEMU's {cpu} is not an AVX2-only CPU here: {feats}")
        return np.load(Path(tmp) / "out.npy"), feats


def _child(argv: list[str]) -> None:
    model, x_path, out_path = argv
    np.save(out_path, run_model(model, np.load(x_path)))
    print(json.dumps({"cpu_features": cpu_features()}))


def _agreement(ref: np.ndarray, logits: np.ndarray) -> float:
    return round(float((ref.argmax(1) == logits.argmax(1)).mean()), 4)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:
        _child(argv[1:])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="The fp32 ONNX file (the reference).")
    ap.add_argument("--int8", type=Path, action="append", help="int8 file(s) (default: sibling).")
    ap.add_argument("--data", type=Path, required=True, help="Folder of cines (simulated).")
    ap.add_argument("--frames", type=int, default=256, help="Most frames (8 per cine).")
    ap.add_argument("--cpu", default=DEFAULT_CPU, help="QEMU CPU model without VNNI.")
    args = ap.parse_args(argv)

    from echostream.models.quantize import load_calibration, weight_int_range
    from echostream.stream.model_file import ModelInfo, load_onnx, precision_sibling

    info = ModelInfo.from_onnx(args.model)
    x = load_calibration(args.data, info, max_frames=args.frames, per_source=8)
    ref = run_model(args.model, x)
    out = {"fp32": args.model.name, "frames": len(x), "native_cpu": cpu_features(), "int8": []}
    for q in args.int8 or [precision_sibling(args.model, "int8")]:
        t0 = time.perf_counter()
        emulated, feats = run_emulated(q, x, cpu=args.cpu)
        native = run_model(q, x)
        out["int8"].append({
            "file": str(q),
            "weight_int_range": list(weight_int_range(load_onnx(q))),
            "agreement_native": _agreement(ref, native),
            "agreement_emulated": _agreement(ref, emulated),
            # saturation shows first in the logits: the same integers give the same logits
            "mean_abs_logit_error_native": round(float(np.abs(native - ref).mean()), 4),
            "mean_abs_logit_error_emulated": round(float(np.abs(emulated - ref).mean()), 4),
            "frames_identical_emulated_vs_native": round(
                float(np.all(emulated == native, axis=1).mean()), 4
            ),
            "emulated_cpu": f"qemu-x86_64 -cpu {args.cpu}: {', '.join(feats)}",
            "emulated_s": round(time.perf_counter() - t0, 1),
        })  # fmt: skip
        print(json.dumps(out["int8"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
