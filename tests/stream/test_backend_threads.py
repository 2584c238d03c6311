"""One loaded backend shared by threads: runs that are not re-entrant take turns.

TensorRT execution contexts and torch CUDA-graph buffers cannot run twice at once; neither is
available on CPU machines, so :class:`StaticBuffer` reproduces their hazard exactly: one input
buffer per backend, written at the start of a run and read back after another run had every
chance to overwrite it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from echostream.stream.backends.base import Backend
from echostream.stream.model_file import ModelInfo

pytestmark = pytest.mark.timeout(120)


class StaticBuffer(Backend):
    """Copies the batch into its one buffer, waits (once, up to ``wait_s``) for another run to
    come in, then answers from the buffer: one-hot at the batch's fill value."""

    name = "static-buffer"
    thread_safe = False

    def __init__(self, wait_s: float = 2.0) -> None:
        super().__init__()
        self.buffer = np.zeros((4, 1, 2, 2), np.float32)
        self.arrived = threading.Event()
        self.entered = 0
        self.wait_s = wait_s

    def load(self, model_file, **opts):  # noqa: ANN001, ANN003, ANN201
        labels = tuple("ABCDEFGH")
        self.info = ModelInfo("static", labels, (1, 2, 2), (0.0,), (1.0,))
        return self

    def _run(self, batch: np.ndarray) -> np.ndarray:
        b = batch.shape[0]
        self.buffer[:b] = batch
        self.entered += 1
        if self.entered > 1:
            self.arrived.set()
        else:
            self.arrived.wait(self.wait_s)  # the first run gives a second one time to race in
        k = self.buffer[:b].reshape(b, -1)[:, 0].astype(int)
        return np.eye(8, dtype=np.float32)[k] * 20.0


@pytest.fixture
def backend() -> StaticBuffer:
    return StaticBuffer().load("static.onnx")


def _requests(backend: Backend, values: list[int]) -> list[int]:
    start = threading.Barrier(len(values))

    def one(v: int) -> int:
        start.wait()
        return int(backend.predict(np.full((2, 1, 2, 2), v, np.float32)).argmax(1)[0])

    with ThreadPoolExecutor(len(values)) as pool:
        return list(pool.map(one, values))


def test_non_reentrant_backend_takes_turns(backend: StaticBuffer) -> None:
    values = [1, 5, 2, 7, 3, 6]
    assert _requests(backend, values) == values  # each request got its own answer


def test_the_fake_hazard_is_real_without_the_lock(backend: StaticBuffer) -> None:
    """Control: with the lock off, the first run answers from the second run's input."""
    backend.thread_safe = True
    got = _requests(backend, [1, 5])
    assert got != [1, 5], got


def test_backends_declare_whether_they_are_reentrant() -> None:
    from echostream.stream.backends.ort_backend import OrtBackend
    from echostream.stream.backends.tensorrt import TensorRTBackend
    from echostream.stream.backends.torch_backend import TorchBackend

    assert OrtBackend.thread_safe is True  # InferenceSession.run is thread-safe
    assert TensorRTBackend.thread_safe is False  # one execution context per engine
    assert TorchBackend.thread_safe is True  # eager; a load with CUDA graphs sets it False


def test_torch_cuda_graphs_take_turns(request: pytest.FixtureRequest) -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from echostream.stream.backends.torch_backend import TorchBackend

    model: Path = request.getfixturevalue("stream_model")
    b = TorchBackend().load(model, device="cuda", cuda_graphs=True)
    assert b.thread_safe is False
    rng = np.random.default_rng(0)
    batches = [rng.normal(size=(4, *b.info.input_size)).astype(np.float32) for _ in range(8)]
    alone = [b.predict(x).argmax(1) for x in batches]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda x: b.predict(x).argmax(1), batches * 4))
    for i, labels in enumerate(together):
        np.testing.assert_array_equal(labels, alone[i % 8])
