"""models/ensemble.py: one ONNX file averaging several models' probabilities, run by the same
engines as any exported model, and refused when the members read different inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from typer.testing import CliRunner

from echostream.models.ensemble import ensemble_onnx, torch_ensemble
from echostream.models.export import export_checkpoint
from echostream.stream.backends.base import softmax
from echostream.stream.model_file import ModelInfo

from .test_export import decisive, write_checkpoint


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[torch.nn.Module, Path]]:
    folder = tmp_path_factory.mktemp("members")
    out = []
    for seed in (1, 2, 3):
        model = decisive("baseline", seed)
        model.cfg = model.cfg.with_(mean=(0.25,), std=(0.5,))
        ckpt = write_checkpoint(model, folder / f"m{seed}.pt")
        model, _ = export_checkpoint(ckpt, folder / f"m{seed}.onnx")
        out.append((model.eval(), folder / f"m{seed}.onnx"))
    return out


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"input": x}
    )[0]


def test_ensemble_is_the_mean_of_the_members_probabilities(members, tmp_path):
    paths = [p for _, p in members]
    info = ensemble_onnx(paths, tmp_path / "ens.onnx", model_version="t1")
    assert info.output == "probabilities" and info.model_name == "ensemble(3x baseline)"
    assert [m["weights_sha256"] for m in info.extra["members"]] == [
        ModelInfo.from_onnx(p).weights_sha256 for p in paths
    ]
    x = np.random.default_rng(0).standard_normal((5, *info.input_size)).astype(np.float32)
    want = np.mean([softmax(_run(p, x)) for p in paths], axis=0)
    got = _run(tmp_path / "ens.onnx", x)
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not np.allclose(got, softmax(_run(paths[0], x)), atol=1e-3)  # not one member alone
    # the torch twin the bench's naive loop times gives the same numbers
    with torch.no_grad():
        twin = torch_ensemble([m for m, _ in members]).eval()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(twin, want, atol=1e-5)


def test_engine_runs_an_ensemble_file_as_probabilities(members, tmp_path):
    from echostream.stream.backends import load_backend

    ensemble_onnx([p for _, p in members], tmp_path / "ens.onnx")
    backend = load_backend(tmp_path / "ens.onnx", "onnxruntime")
    x = np.random.default_rng(1).standard_normal((3, *backend.info.input_size)).astype(np.float32)
    probs = backend.predict(x)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)  # not softmaxed a second time
    np.testing.assert_allclose(probs, _run(tmp_path / "ens.onnx", x), atol=1e-6)


def test_members_with_other_inputs_are_refused_by_name(members, tmp_path):
    model = decisive("baseline", 9)
    model.cfg = model.cfg.with_(mean=(0.3,), std=(0.5,))  # another whitening
    ckpt = write_checkpoint(model, tmp_path / "other.pt")
    export_checkpoint(ckpt, tmp_path / "other.onnx")
    with pytest.raises(ValueError, match=r"other\.onnx: mean"):
        ensemble_onnx([members[0][1], tmp_path / "other.onnx"], tmp_path / "bad.onnx")
    with pytest.raises(ValueError, match="at least two"):
        ensemble_onnx([members[0][1]], tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_cli_writes_the_ensemble_and_names_a_missing_member(members, tmp_path):
    from echostream.stream.cli import app

    runner = CliRunner()
    paths = [str(p) for _, p in members[:2]]
    ok = runner.invoke(app, ["ensemble", *paths, "--out", str(tmp_path / "e.onnx")])
    assert ok.exit_code == 0, ok.output
    assert ModelInfo.from_onnx(tmp_path / "e.onnx").output == "probabilities"
    bad = runner.invoke(app, ["ensemble", paths[0], str(tmp_path / "gone.onnx"), "-o", "x.onnx"])
    assert bad.exit_code == 1 and "gone.onnx: no such model file" in bad.output
