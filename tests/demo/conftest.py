"""Fixtures for the demo tests: a model file (the shipped one, else an untrained baseline)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

pytest.importorskip("gradio", reason="the demo needs gradio (pip install 'echostream[demo]')")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped default model; where it is not there yet, an untrained baseline export.

    An untrained model's labels mean nothing: tests only check that the app runs and shows
    what the model said.
    """
    from echostream.stream.defaults import default_model_path

    shipped = default_model_path()
    if shipped.is_file():
        return shipped
    torch = pytest.importorskip("torch", reason="exporting a stand-in model needs torch")
    torch.set_num_threads(1)
    from echostream.models.checkpoint import make_provenance
    from echostream.models.export import export_model
    from echostream.models.registry import create_model

    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("demo_model") / "untrained_baseline.onnx"
    export_model(
        create_model("baseline").eval(),
        out,
        model_name="baseline",
        provenance=make_provenance(data="none: untrained (random weights)", simulated_data=True),
    )
    return out


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
