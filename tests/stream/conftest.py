"""Fixtures for the streaming classifier tests: an untrained baseline exported to ONNX (with its
checkpoint beside it) and a small synthetic JPEG cine. An untrained model is enough for plumbing;
its labels mean nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def stream_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``baseline.onnx`` (untrained, seed 0) with ``baseline.pt`` beside it."""
    torch = pytest.importorskip("torch")
    from echostream.models.checkpoint import make_provenance, save_checkpoint
    from echostream.models.export import export_checkpoint
    from echostream.models.registry import create_model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model")
    model = create_model("baseline").eval()
    prov = make_provenance(
        config=None, data="untrained test fixture", simulated_data=True, dataset_seed=None
    )
    save_checkpoint(
        folder / "baseline.pt", model, model_name="baseline", model_kwargs={}, cfg=model.cfg,
        provenance=prov, config=None, epoch=0,
    )  # fmt: skip
    export_checkpoint(folder / "baseline.pt", folder / "baseline.onnx")
    return folder / "baseline.onnx"


def synthetic_frames(n: int, h: int = 120, w: int = 160, seed: int = 0) -> list[np.ndarray]:
    """Moving stripes with speckle-like noise, RGB uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 110 + 60 * np.sin(xx / 9.0 + i / 3.0) * np.cos(yy / 7.0)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        out.append(np.stack([img, img, img], axis=-1))
    return out


@pytest.fixture(scope="session")
def small_cine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24-frame 120×160 JPEG baseline (YBR_FULL_422) cine at 25 fps with a tissue region."""
    from echostream.stream.dicom_writer import UltrasoundRegion, write_cine

    path = tmp_path_factory.mktemp("cine") / "small.dcm"
    write_cine(path, synthetic_frames(24), fps=25, regions=[UltrasoundRegion(10, 8, 150, 112)])
    return path
