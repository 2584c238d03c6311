"""Temperature scaling (train/calibrate.py): the fit recovers a known temperature, lowers the
calibration error without moving any top-1 label, and every backend applies what the model
file says."""

from __future__ import annotations

import doctest
import shutil

import numpy as np
import pytest

from echostream.train import calibrate as cal


def _overconfident(n: int = 3000, k: int = 8, factor: float = 2.5, seed: int = 1):
    """Labels drawn from softmax(logits), probabilities from logits ``factor`` times too large
    (so the true temperature is ``factor``)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, k))
    labels = np.array([rng.choice(k, p=p) for p in cal.softmax_rows(logits)])  # calibrated
    return labels, cal.softmax_rows(logits * factor)


def test_docstring_example_runs() -> None:
    assert doctest.testmod(cal).failed == 0


@pytest.mark.parametrize("factor", [0.5, 2.5])
def test_fit_recovers_the_temperature_and_lowers_the_error(factor: float) -> None:
    labels, probs = _overconfident(factor=factor)
    fit = cal.calibrate(probs, labels, split="val", simulated_data=True)
    assert fit.temperature == pytest.approx(factor, rel=0.08)
    assert fit.ece_after < fit.ece_before and fit.nll_after < fit.nll_before
    assert fit.ece_after < 0.03
    after = cal.rescaled(probs, fit.temperature)
    assert np.array_equal(after.argmax(1), probs.argmax(1))  # no label moves


def test_a_calibrated_model_file_is_applied_by_the_backend(tmp_path) -> None:
    from echostream.stream.backends import load_backend
    from echostream.stream.defaults import default_model_path
    from echostream.stream.model_file import ModelInfo

    model = tmp_path / "m.onnx"
    shutil.copy(default_model_path(), model)
    info = ModelInfo.from_onnx(model)
    x = np.random.default_rng(0).random((6, *info.input_size), dtype=np.float32)
    before = load_backend(model, "onnxruntime", threads=1).predict(x)
    fit = cal.Calibration(2.0, "val", 100, True, 0.1, 0.02, 1.0, 0.8)
    cal.write_calibration(model, fit)
    saved = ModelInfo.from_onnx(model, verify=True)  # weights untouched: checksum still holds
    assert saved.temperature == 2.0 and saved.calibration["fitted_on"]["split"] == "val"
    after = load_backend(model, "onnxruntime", threads=1).predict(x)
    np.testing.assert_allclose(after, cal.rescaled(before, 2.0), atol=1e-5)
    assert np.array_equal(after.argmax(1), before.argmax(1))
    with pytest.raises(ValueError, match="outside"):
        cal.write_calibration(model, cal.Calibration(50.0, "val", 1, True, 0, 0, 0, 0))


def test_cli_fits_on_a_split_and_refuses_one_it_cannot_place(toy_data, tmp_path) -> None:
    """With its checkpoint beside it, ``calibrate --split val`` fits on the training run's own
    validation frames; a lone model file could have trained on any frame, so only ``--split
    all`` (a separate folder) is accepted for it."""
    import typer
    from typer.testing import CliRunner

    from echostream.stream.defaults import default_model_path
    from echostream.stream.model_file import ModelInfo
    from echostream.train import cli_calibrate

    app = typer.Typer()
    cli_calibrate.register(app, typer.Typer())
    app.command("noop")(lambda: None)  # a second command, so the first keeps its name
    lone = tmp_path / "m.onnx"
    shutil.copy(default_model_path(), lone)
    args = ["calibrate", str(lone), "--data", str(toy_data), "--no-progress"]
    res = CliRunner().invoke(app, [*args, "--split", "val"])
    assert res.exit_code == 2 and "may hold training frames" in res.output
    assert ModelInfo.from_onnx(lone).temperature == 1.0  # untouched
    res = CliRunner().invoke(app, [*args, "--split", "all"])
    assert res.exit_code == 0, res.output
    fitted = ModelInfo.from_onnx(lone)
    assert "temperature" in res.output and fitted.calibration["fitted_on"]["split"] == "all"
    printed = float(res.output.split("temperature ")[1].split()[0])
    assert fitted.temperature == pytest.approx(printed, rel=1e-3)
