"""The model-file contract: an ONNX file that describes itself in ``metadata_props``.

Every key is prefixed ``echostream.`` and every value is JSON. The runtime builds its
preprocessing and labels from these fields and nothing else (no constants in the runtime).

===============================  ==========================================================
key (``echostream.`` + …)        value
===============================  ==========================================================
``format``                       contract version (int, currently 1)
``model_name``                   registry name, e.g. ``"baseline"``
``model_version``                free text; defaults to the first 12 hex of the weights hash
``labels``                       class names in output order
``input_size``                   ``[C, H, W]``
``mean`` / ``std``               per channel, on the 0–1 pixel scale
``interpolation``                ``"bilinear"``, ``"bicubic"``, ``"nearest"``, ``"area"``, …
``resize``                       ``"stretch"`` (to H×W), ``"letterbox"`` or ``"center_crop"``
``crop``                         ``"region"`` (ultrasound region first) or ``"full"``
``output``                       ``"logits"`` (backends apply softmax once) or ``"probabilities"``
``precision``                    ``"fp32"``, ``"fp16"`` or ``"int8"``
``weights_sha256``               sha256 of this file's initializers (:func:`weights_sha256`)
``provenance``                   dict: ``config_hash``, ``data``, ``simulated_data``,
                                 ``dataset_seed``, ``git_commit``, ``created``, …
``checkpoint``                   file name of the torch checkpoint beside the ONNX file, or null
``extra``                        dict of anything else (converter used, parent file hash, …)
``calibration``                  dict, optional: ``temperature`` (the logits are divided by it
                                 before the softmax; 1 = none), how and on what it was fitted
                                 (``echostream calibrate``)
``unknown``                      dict, optional: the unknown-view threshold (``score``:
                                 ``"max_softmax"`` or ``"mahalanobis"``, ``threshold``, what
                                 it was fitted on and measured there; ``echostream calibrate
                                 --unknown``); see :mod:`echostream.stream.unknown`. A label
                                 ``"OTHER"`` is the trained unknown class, or with
                                 ``mahalanobis`` the gate built into the graph.
===============================  ==========================================================

>>> info = ModelInfo.from_onnx("model.onnx")  # doctest: +SKIP
>>> info.labels[:2], info.input_size, info.precision  # doctest: +SKIP
(('PLAX', 'SAXMID'), (1, 60, 80), 'fp32')
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import onnx

PREFIX = "echostream."
FORMAT_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")
#: File name ending of each precision, as ``echostream export`` names the copies of one model.
PRECISION_SUFFIX = {"fp32": ".onnx", "fp16": ".fp16.onnx", "int8": ".int8.onnx"}
REQUIRED_KEYS = (
    "format",
    "model_name",
    "labels",
    "input_size",
    "mean",
    "std",
    "interpolation",
    "crop",
    "precision",
    "weights_sha256",
    "provenance",
)


class ModelFileError(ValueError):
    """A model file is missing, unreadable or lacks the echostream metadata (one line)."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.path}: {self.problem}")


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself (see the module docstring for the keys)."""

    model_name: str
    labels: tuple[str, ...]
    input_size: tuple[int, int, int]  # (C, H, W)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"
    resize: str = "stretch"
    crop: str = "region"
    output: str = "logits"
    precision: str = "fp32"
    weights_sha256: str = ""
    model_version: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION
    # Read from the graph, not from the metadata:
    input_name: str = "input"
    output_name: str = "logits"
    path: str | None = None

    # -- convenience -----------------------------------------------------------------------
    @property
    def channels(self) -> int:
        return self.input_size[0]

    @property
    def height(self) -> int:
        return self.input_size[1]

    @property
    def width(self) -> int:
        return self.input_size[2]

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def temperature(self) -> float:
        """What the logits are divided by before the softmax (1.0: not calibrated)."""
        return float(self.calibration.get("temperature", 1.0))

    @property
    def simulated_data(self) -> bool:
        """True when the weights were trained on simulated data (or nothing says otherwise)."""
        return bool(self.provenance.get("simulated_data", True))

    def with_(self, **changes: Any) -> ModelInfo:
        return replace(self, **changes)

    def summary(self) -> dict[str, Any]:
        """A short JSON-able description for reports (model, version, data, precision)."""
        return {
            "model": self.model_name,
            "version": self.model_version,
            "precision": self.precision,
            "input_size": list(self.input_size),
            "data": describe_data(self.provenance.get("data")),
            "simulated_data": self.simulated_data,
            "weights_sha256": self.weights_sha256,
        }

    # -- (de)serialisation -------------------------------------------------------------------
    def to_metadata_props(self) -> dict[str, str]:
        """``{"echostream.<key>": json}`` for ``onnx.ModelProto.metadata_props``."""
        self.validate()
        skip = {"input_name", "output_name", "path"}
        out = {}
        for f in fields(self):
            if f.name in skip:
                continue
            value = getattr(self, f.name)
            out[PREFIX + f.name] = json.dumps(value, sort_keys=True)
        return out

    @classmethod
    def from_metadata_props(
        cls, props: dict[str, str], *, path: str | Path = "<model>", **graph: Any
    ) -> ModelInfo:
        """Parse ``metadata_props`` (``graph`` may give ``input_name``/``output_name``)."""
        ours = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
        if not ours:
            raise ModelFileError(
                path,
                "no echostream metadata in this ONNX file (export it with `echostream export` "
                "so it carries labels, input size and normalisation)",
            )
        missing = [k for k in REQUIRED_KEYS if k not in ours]
        if missing:
            raise ModelFileError(path, f"echostream metadata lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in ours.items():
            if key not in known:
                continue  # a newer writer's key: ignore, stay readable
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError as err:
                raise ModelFileError(path, f"metadata {PREFIX}{key} is not JSON ({err})") from None
        if values["format"] > FORMAT_VERSION:
            raise ModelFileError(
                path, f"metadata format {values['format']} is newer than this echostream reads"
            )
        for key in ("labels", "mean", "std"):
            values[key] = tuple(values[key])
        values["labels"] = tuple(str(x) for x in values["labels"])
        values["input_size"] = tuple(int(x) for x in values["input_size"])
        values["mean"] = tuple(float(x) for x in values["mean"])
        values["std"] = tuple(float(x) for x in values["std"])
        info = cls(**values, path=str(path), **graph)
        try:
            info.validate()
        except ValueError as err:
            raise ModelFileError(path, str(err)) from None
        return info

    @classmethod
    def from_onnx(cls, path: str | Path, *, verify: bool = False) -> ModelInfo:
        """Read the metadata of an ONNX file; ``verify=True`` also checks the weights hash."""
        model = load_onnx(path)
        info = cls.from_model_proto(model, path=path)
        if verify:
            actual = weights_sha256(model)
            if actual != info.weights_sha256:
                raise ModelFileError(
                    path,
                    f"weights checksum mismatch (metadata {info.weights_sha256[:12]}…, "
                    f"file {actual[:12]}…): the file was altered after export",
                )
        return info

    @classmethod
    def from_model_proto(cls, model: onnx.ModelProto, *, path: str | Path = "<model>") -> ModelInfo:
        props = {p.key: p.value for p in model.metadata_props}
        init = {i.name for i in model.graph.initializer}
        inputs = [i.name for i in model.graph.input if i.name not in init]
        outputs = [o.name for o in model.graph.output]
        if len(inputs) != 1 or not outputs:
            raise ModelFileError(path, f"expected one input tensor, found {len(inputs)}")
        return cls.from_metadata_props(
            props, path=path, input_name=inputs[0], output_name=outputs[0]
        )

    def validate(self) -> None:
        """Raise ValueError when the fields contradict each other."""
        c = self.input_size[0]
        if len(self.input_size) != 3 or min(self.input_size) < 1:
            raise ValueError(f"input_size must be (C, H, W), got {self.input_size}")
        if len(self.mean) != c or len(self.std) != c:
            raise ValueError(f"mean/std need {c} values, got {len(self.mean)}/{len(self.std)}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std must be positive, got {self.std}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.crop not in ("region", "full"):
            raise ValueError(f"crop must be 'region' or 'full', got {self.crop!r}")
        if self.resize not in ("stretch", "letterbox", "center_crop"):
            raise ValueError(f"unknown resize policy {self.resize!r}")
        if self.output not in ("logits", "probabilities"):
            raise ValueError(f"output must be 'logits' or 'probabilities', got {self.output!r}")
        if not self.labels:
            raise ValueError("labels are empty")
        if not self.temperature > 0:
            raise ValueError(f"calibration temperature must be positive, got {self.temperature}")
        from .unknown import check_unknown_entry

        check_unknown_entry(self.unknown)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def precision_sibling(model_file: str | Path, precision: str) -> Path:
    """The file of ``precision`` beside ``model_file`` (``m.onnx``, ``m.fp16.onnx``,
    ``m.int8.onnx``); it may not exist.

    >>> precision_sibling("zoo/m.onnx", "int8").as_posix(), precision_sibling("m.int8.onnx", "fp32")
    ('zoo/m.int8.onnx', PosixPath('m.onnx'))
    """
    path = Path(model_file)
    name = path.name
    for suffix in sorted(PRECISION_SUFFIX.values(), key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem
    return path.with_name(name + PRECISION_SUFFIX[precision])


def describe_data(data: Any) -> Any:
    """The provenance's ``data`` for reports: the trainer's JSON record as an object, its
    dataset named by the folder, never an absolute path; free text unchanged.

    >>> describe_data('{"manifest": "/tmp/run/sim_s1/manifest.csv", "cines": 8}')
    {'dataset': 'sim_s1', 'cines': 8}
    """
    if isinstance(data, str):
        try:
            parsed = json.loads(data)
        except json.JSONDecodeError:
            return data
        if not isinstance(parsed, dict):
            return data
        data = parsed
    if not isinstance(data, dict):
        return data
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "manifest":
            out["dataset"] = Path(str(value)).parent.name or Path(str(value)).name
        elif isinstance(value, str) and Path(value).is_absolute():
            out[key] = Path(value).name
        else:
            out[key] = value
    return out


def data_text(data: Any) -> str:
    """One line for :func:`describe_data`'s result (or the raw provenance ``data``).

    >>> data_text({"dataset": "sim_s1", "patients": 3, "cines": 24, "vendors": ["ie33"]})
    'sim_s1: 3 patients, 24 cines, vendors ie33'
    """
    d = describe_data(data)
    if d is None:
        return "not recorded"
    if not isinstance(d, dict):
        return str(d)
    parts = [f"{d[k]} {k}" for k in ("patients", "cines") if k in d]
    if d.get("vendors"):
        parts.append("vendors " + ", ".join(map(str, d["vendors"])))
    return f"{d.get('dataset', 'dataset')}: " + ", ".join(parts) if parts else str(d.get("dataset"))


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load an ONNX file with its weights, or raise :class:`ModelFileError`."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise ModelFileError(path, "no such model file")
    try:
        return onnx.load(str(p))
    except Exception as err:  # onnx raises DecodeError / ValueError / OSError variants
        raise ModelFileError(path, f"not a readable ONNX file ({type(err).__name__})") from None


def weights_sha256(model: onnx.ModelProto) -> str:
    """sha256 over the initializers (name, dtype, shape, bytes), in name order.

    Independent of protobuf field order or raw vs typed storage, so re-saving a file keeps it.
    """
    from onnx import numpy_helper

    h = hashlib.sha256()
    for init in sorted(model.graph.initializer, key=lambda t: t.name):
        arr = numpy_helper.to_array(init)
        h.update(init.name.encode())
        h.update(str(arr.dtype).encode())
        h.update(json.dumps(list(arr.shape)).encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_metadata(model: onnx.ModelProto, info: ModelInfo) -> None:
    """Replace the ``echostream.*`` entries of ``model.metadata_props`` with ``info``'s."""
    keep = [(p.key, p.value) for p in model.metadata_props if not p.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in [*keep, *sorted(info.to_metadata_props().items())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
